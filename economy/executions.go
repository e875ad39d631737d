package economy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/events"
)

// Where the executions live in the data directory: one workspace per agent,
// and the System Service's socket that every sandbox sees.
const (
	WorkspacesDir = "workspaces"
	socketFile    = "agora.sock"
)

// genesisFirstBidKey makes the genesis agent's first bid idempotent: a
// start that crashed between the creation and the bid places it on the
// next start, and never twice.
const genesisFirstBidKey = "genesis-first-bid"

// genesisFirstBidMarkup is how far above the reserve price genesis's first
// bid goes, in percent: enough to win while nobody else bids.
const genesisFirstBidMarkup = 150

// executions is the survival loop's machinery: workspaces, the sandbox,
// the execution tokens, and the System Service on the socket the sandboxes
// reach.
type executions struct {
	workspaces *executor.Workspaces
	tickets    *ticket.Registry
	sandbox    *sandbox.Sandbox
	socket     string
	// runner runs the programs: the sandbox, or the work queue when they
	// are left to workers (leaveToWorkers).
	runner executor.Runner
}

// openExecutions prepares the workspaces and the sandbox. Without bwrap the
// programs run with rlimits only: said loudly, once.
func openExecutions(dataDir string, logger *slog.Logger) (*executions, error) {
	// The sandbox binds host paths into each sandbox, which must be
	// absolute; the data directory is ./data by default.
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	ws, err := executor.NewWorkspaces(filepath.Join(dataDir, WorkspacesDir))
	if err != nil {
		return nil, err
	}
	sb, warning, err := sandbox.New()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if warning != "" {
		logger.Warn("SANDBOX WEAKENED: " + warning)
	}
	return &executions{workspaces: ws, tickets: ticket.New(), sandbox: sb, runner: sb,
		socket: filepath.Join(dataDir, socketFile)}, nil
}

// serveSocket serves the System Service on the Unix socket the sandboxes
// reach (the only way out of a sandbox).
func (x *executions) serveSocket(e *Economy, h http.Handler) error {
	if err := os.Remove(x.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", x.socket)
	if err != nil {
		return fmt.Errorf("system service socket: %w", err)
	}
	// The socket's file stays when the economy stops; the next start
	// removes it (above). Were it unlinked at the stop, a node that lost
	// the lease of the actors and stops late would remove the socket the
	// node that took over made at the same path (a shared data directory).
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	if err := x.sandbox.GrantSocket(x.socket); err != nil {
		ln.Close()
		return err
	}
	e.serveHTTP("system service socket", ln, h)
	return nil
}

// executor is the pool's executor over the economy.
func (x *executions) executor(e *Economy, logger *slog.Logger) (*executor.Executor, error) {
	cfg := e.node.cfg
	return executor.New(executor.Config{
		Pool:        Pool,
		Log:         e.node.log,
		Store:       e.node.store,
		Accounts:    e.accounts,
		Clearing:    e.clearing,
		Workspaces:  x.workspaces,
		Runner:      x.runner,
		Tickets:     x.tickets,
		Agents:      e.pendingAgents,
		Admitted:    e.host.Admitted,
		Timeout:     cfg.Execution.Timeout(),
		WorkspaceMB: int(cfg.Execution.WorkspaceMB),
		ServiceURL:  "unix://" + x.sandbox.SocketPath(x.socket),
		Socket:      x.socket,
		Logger:      logger,
		OnDone: func(r executor.Report) {
			// A run cut short by the stop has no end: it runs again at the
			// next start (the executor logs it).
			if r.Started && r.End.Cause != "" {
				logger.Info("execution ended", "agent", r.AgentID, "execution", r.ExecutionID, "attempt", r.Attempt,
					"cause", r.End.Cause, "exit", r.End.ExitCode, "died", r.Died)
			}
		},
	})
}

// createGenesis creates, on a fresh log, the genesis agent: its workspace
// (the program of agents/genesis), then its account with the configured
// grant and its command. Both steps are idempotent, so a start that
// crashed half-way completes them, and a restart never creates a second
// genesis.
func (x *executions) createGenesis(ctx context.Context, e *Economy, logger *slog.Logger) error {
	if _, err := x.workspaces.Create(GenesisID, genesis.Files()); err != nil && !errors.Is(err, executor.ErrWorkspaceExists) {
		return fmt.Errorf("genesis workspace: %w", err)
	}
	_, err := e.EnsureGenesis(ctx, genesis.Command(), logger)
	return err
}

// placeGenesisFirstBid places genesis's first bid, a modest continuation,
// once the markets exist, unless genesis has already executed or died. The
// fixed idempotency key answers a second attempt (a start that crashed
// before its first cycle) with the first bid.
func (x *executions) placeGenesisFirstBid(ctx context.Context, e *Economy, logger *slog.Logger) error {
	acct, err := e.accounts.Get(ctx, GenesisID)
	if err != nil {
		return err
	}
	if acct.ExecutionCount > 0 || acct.Status != agent.StatusAlive {
		return nil // genesis has lived already
	}
	terms, amount, err := e.genesisFirstBid(ctx)
	if err != nil {
		return err
	}
	bidID, status, err := e.clearing.Place(ctx, GenesisID, genesisFirstBidKey, terms, amount)
	if err != nil {
		return fmt.Errorf("genesis first bid: %w", err)
	}
	logger.Info("genesis first bid", "bid", bidID, "status", status, "amount", events.CreditsJSON(amount))
	return nil
}

// genesisFirstBid is one CPU second and execution.default_memory_mb at
// genesisFirstBidMarkup percent of their posted prices.
func (e *Economy) genesisFirstBid(ctx context.Context) (events.BidTerms, events.Micros, error) {
	resources := map[string]events.Units{
		"cpu_seconds": events.WholeUnits(1),
		"memory_mb":   events.WholeUnits(e.node.cfg.Execution.DefaultMemoryMB),
	}
	var reserve events.Micros
	for name, units := range resources {
		m, err := e.clearing.Market(ctx, name)
		if err != nil {
			return events.BidTerms{}, 0, err
		}
		cost, ok := events.Cost(units, m.PriceMicros)
		if !ok {
			return events.BidTerms{}, 0, fmt.Errorf("genesis first bid: %s costs too much", name)
		}
		reserve += cost
	}
	return events.BidTerms{Pool: Pool, Resources: resources}, reserve * genesisFirstBidMarkup / 100, nil
}
