package economy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// HelperPath is where a spawned child's workspace gets the Python client
// helper (agents/genesis agora.py), unless the spawn's files name that
// path themselves.
const HelperPath = "agora.py"

// SpawnSettleTimeout bounds how long a spawn's answer waits for the spawn
// manager to create the child and place its first bid (read your
// writes). The spawn is durable before it: past it the answer says
// "spawning", and the child is created all the same.
const SpawnSettleTimeout = 5 * time.Second

// errNotASpawn: the parent's account answered a spawn's key with another
// event. Keys are scoped by route, so it means a bug, not a client error.
var errNotASpawn = errors.New("economy: the command key of a spawn names another command")

// spawner spawns children for agents (system.Spawner, POST /social/spawn).
// Every step is idempotent under the call's key and the log drives what
// follows the parent's payment (the spawn manager), so a retry or a crash
// at any point completes the spawn exactly once.
type spawner struct {
	eco        *Economy
	workspaces *executor.Workspaces
	// mu guards reserved: the spawns that passed the population check and
	// whose child the directory may not show yet. A spawn counts the
	// living agents of the directory plus these, so that spawns racing
	// each other in this process never pass economy.max_agents together.
	mu       sync.Mutex
	reserved int
}

var _ system.Spawner = (*spawner)(nil)

func newSpawner(e *Economy, ws *executor.Workspaces) *spawner {
	return &spawner{eco: e, workspaces: ws}
}

// Spawn implements system.Spawner.
func (s *spawner) Spawn(ctx context.Context, parentID, key string, req system.SpawnRequest) (system.SpawnReceipt, error) {
	e := s.eco
	if res, done, err := e.accounts.Recall(ctx, parentID, key); err != nil {
		return system.SpawnReceipt{}, err
	} else if done {
		spawned, ok := res.Event.(events.ChildSpawned)
		if !ok {
			return system.SpawnReceipt{}, errNotASpawn
		}
		return s.settle(ctx, res.Seq, spawned)
	}
	if err := e.Sync(ctx); err != nil {
		return system.SpawnReceipt{}, err
	}
	if c, ok := e.directory.Get(req.ChildID); ok {
		if c.ParentID == parentID {
			// A retry the parent's account no longer remembers (past
			// runtime.idempotency_memory keys): the child it spawned is
			// the answer still, whatever the parent or the book hold now.
			return system.SpawnReceipt{AgentID: c.ID, Status: string(c.Status)}, nil
		}
		return system.SpawnReceipt{}, fmt.Errorf("%w: %s", agent.ErrAgentExists, req.ChildID)
	}
	// Everything that can refuse the spawn is checked before anything is
	// written: nothing is charged and no workspace is left behind.
	files := childFiles(req.Files)
	if err := executor.ValidateFiles(files); err != nil {
		return system.SpawnReceipt{}, err
	}
	bid, err := s.firstBid(ctx, req.InitialBid)
	if err != nil {
		return system.SpawnReceipt{}, err
	}
	cost := e.node.cfg.Economy.SpawnCost.Micros()
	if err := s.canPay(ctx, parentID, cost+req.InitialCreditsMicros); err != nil {
		return system.SpawnReceipt{}, err
	}
	release, err := s.reserve()
	if err != nil {
		return system.SpawnReceipt{}, err
	}
	defer release()
	if err := s.writeWorkspace(req.ChildID, files); err != nil {
		return system.SpawnReceipt{}, err
	}
	res, err := e.accounts.Do(ctx, parentID, key, agent.Spawn{ChildID: req.ChildID, CostMicros: cost,
		InitialMicros: req.InitialCreditsMicros, Command: req.Command, InitialBid: bid,
		ProgramSHA256: events.ProgramHash(files)})
	if err != nil {
		return system.SpawnReceipt{}, err
	}
	spawned, ok := res.Event.(events.ChildSpawned)
	if !ok {
		return system.SpawnReceipt{}, errNotASpawn
	}
	return s.settle(ctx, res.Seq, spawned)
}

// childFiles are the child's workspace: the spawn's files and the Python
// client helper, unless the files have a file of that path.
func childFiles(given map[string]string) map[string][]byte {
	files := make(map[string][]byte, len(given)+1)
	for p, content := range given {
		files[p] = []byte(content)
	}
	if _, named := files[HelperPath]; !named {
		files[HelperPath] = genesis.Files()[HelperPath]
	}
	return files
}

// firstBid checks the child's first bid against the book, as a bid placed
// now would be, and names it.
func (s *spawner) firstBid(ctx context.Context, b *system.SpawnBid) (*events.InitialBid, error) {
	if b == nil {
		return nil, nil
	}
	terms := events.BidTerms{Pool: Pool, Resources: maps.Clone(b.Resources), Payload: b.Payload}
	invalid, err := clearing.Inspect(ctx, s.eco.clearing, func(book clearing.Book) error {
		return clearing.Validate(book, terms, b.AmountMicros)
	})
	if err != nil {
		return nil, err
	}
	if invalid != nil {
		return nil, fmt.Errorf("initial_bid: %w", invalid)
	}
	return &events.InitialBid{BidID: clearing.BidIDPrefix + events.NewID(), AmountMicros: b.AmountMicros, Terms: terms}, nil
}

// canPay checks that the parent, alive, has total available: the parent's
// decider checks it again, this check only keeps a poor parent from
// having a workspace written for nothing.
func (s *spawner) canPay(ctx context.Context, parentID string, total events.Micros) error {
	a, err := s.eco.accounts.Get(ctx, parentID)
	switch {
	case err != nil:
		return err
	case !a.Exists():
		return fmt.Errorf("%w: %s", agent.ErrUnknownAgent, parentID)
	case a.Status == agent.StatusDead:
		return fmt.Errorf("%w: %s", agent.ErrAgentDead, parentID)
	case total > a.Available():
		return fmt.Errorf("%w: the spawn cost and the initial credits are %s, %s available", agent.ErrInsufficientCredits,
			total, a.Available())
	}
	return nil
}

// reserve counts this spawn among the living agents until it has
// settled, or refuses it with system.ErrPopulationLimit when as many as
// economy.max_agents live (the directory's living agents, plus the spawns
// reserved whose child it may not show yet).
func (s *spawner) reserve() (func(), error) {
	limit := s.eco.node.cfg.Economy.MaxAgents
	s.mu.Lock()
	defer s.mu.Unlock()
	if alive := s.eco.directory.Totals().Alive; alive+s.reserved >= limit {
		return nil, fmt.Errorf("%w: %d alive, %d being spawned, economy.max_agents is %d", system.ErrPopulationLimit,
			alive, s.reserved, limit)
	}
	s.reserved++
	return func() {
		s.mu.Lock()
		s.reserved--
		s.mu.Unlock()
	}, nil
}

// writeWorkspace writes the child's workspace. One left by an earlier try
// of the same spawn (its parent's append then failed, or a crash came
// between) is accepted if it holds exactly files.
func (s *spawner) writeWorkspace(childID string, files map[string][]byte) error {
	_, err := s.workspaces.Create(childID, files)
	if !errors.Is(err, executor.ErrWorkspaceExists) {
		return err
	}
	dir, err := s.workspaces.Dir(childID)
	if err != nil {
		return err
	}
	n := 0
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		content, ok := files[filepath.ToSlash(rel)]
		got, rerr := os.ReadFile(path)
		if !ok || rerr != nil || !bytes.Equal(got, content) {
			return fmt.Errorf("%w: a workspace for %s exists with other files", agent.ErrAgentExists, childID)
		}
		n++
		return nil
	})
	if err == nil && n != len(files) {
		err = fmt.Errorf("%w: a workspace for %s exists with other files", agent.ErrAgentExists, childID)
	}
	return err
}

// settle waits, at most SpawnSettleTimeout, for the spawn manager to have
// created the child (the reaction to the spawn at seq) and placed its
// first bid, and for the clearing manager to have listed it, so that the
// caller's next read sees them. A child whose creation was refused (its
// id taken meanwhile: its credits are on their way back) is
// agent.ErrAgentExists.
func (s *spawner) settle(ctx context.Context, seq uint64, spawned events.ChildSpawned) (system.SpawnReceipt, error) {
	e := s.eco
	r := system.SpawnReceipt{AgentID: spawned.ChildID, Status: system.SpawnStatusSpawning}
	if spawned.InitialBid != nil {
		r.BidID = spawned.InitialBid.BidID
	}
	wctx, cancel := context.WithTimeout(ctx, SpawnSettleTimeout)
	defer cancel()
	if err := e.spawns.WaitFloor(wctx, seq); err != nil {
		e.node.logger.Warn("spawn: the child is not created yet; it will be", "child", spawned.ChildID, "err", err)
		return r, nil
	}
	child, err := e.accounts.Get(ctx, spawned.ChildID)
	if err != nil {
		return r, nil
	}
	if child.ParentID != parentOf(spawned) {
		return system.SpawnReceipt{}, fmt.Errorf("%w: %s was taken before the child could be created; its initial credits return to the parent",
			agent.ErrAgentExists, spawned.ChildID)
	}
	r.Status = string(child.Status) // alive, or dead should it have died since
	// The first bid is the spawn manager's reaction to the child's
	// creation, then the clearing manager lists it: both come after
	// every record the log holds now.
	if spawned.InitialBid != nil {
		last, err := e.node.log.LastSeq(wctx)
		if err == nil {
			err = e.spawns.WaitFloor(wctx, last)
		}
		if err == nil {
			last, err = e.node.log.LastSeq(wctx)
		}
		if err == nil {
			err = e.markets.WaitFloor(wctx, last)
		}
		if err != nil {
			e.node.logger.Warn("spawn: the child's first bid is not listed yet; it will be", "child", spawned.ChildID, "err", err)
		}
	}
	// The directory shows the child before the spawn's reservation ends
	// (reserve): the count of the living agents never misses it.
	if err := e.Sync(wctx); err != nil {
		e.node.logger.Warn("spawn: the read models are behind the child's creation", "child", spawned.ChildID, "err", err)
	}
	return r, nil
}

// parentOf is the parent a spawn names: the first of the child's lineage.
func parentOf(spawned events.ChildSpawned) string {
	if len(spawned.Lineage) == 0 {
		return ""
	}
	return spawned.Lineage[0]
}

// Spawner is the economy's system.Spawner over the workspaces ws, for
// those who drive spawns without the HTTP API (the benchmarks, a Go
// program embedding Agora). Spawners of one economy keep their own count
// of spawns in progress (see reserve): `agora run` has one, the System
// Service's.
func (e *Economy) Spawner(ws *executor.Workspaces) system.Spawner { return newSpawner(e, ws) }
