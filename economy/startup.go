package economy

import (
	"context"
	"errors"
	"fmt"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/runtime"
)

// ErrNotStarted: Resume was called before Start, or with the read models
// left out of Start and not started since (StartReadModels): nothing
// would bring the directory up to date, and Resume would wait for ever.
var ErrNotStarted = errors.New("economy: Resume needs the managers and the read models started")

// Resume is the start-up of an economy that follows the living: it waits
// until the read models (restored from their snapshot) have caught up
// with the log as it is now, then loads the few agents with work pending
// that no message would bring: an execution a stop or a crash cut short,
// an agent left idle after one (executor.Pending), found in the directory
// rather than by loading every agent ever created. Every other actor is
// woken by the message that needs it: the process managers resume from
// their cursors and send what the log still obliges (a settlement, a
// payment, a lease, a spawn's child), the clearing's book wakes at its
// first cycle, an agent at its first call. A dead agent is never loaded
// here. It returns how many agents it loaded.
func (e *Economy) Resume(ctx context.Context) (int, error) {
	ids, err := e.pendingAgents(ctx)
	if err != nil {
		return 0, err
	}
	return len(ids), runtime.Each(ids, RecoverParallel, func(id string) error {
		if _, err := e.accounts.Get(ctx, id); err != nil {
			return fmt.Errorf("recover agent %s: %w", id, err)
		}
		return nil
	})
}

// pendingAgents lists the agents whose account executor.Pending accepts,
// from the directory once it has caught up with the log: the agents the
// executor's recovery reads (executor.Config.Agents). An economy without
// a directory (WithLedgerOnly), or whose directory has stopped on an
// error, lists every agent in the log instead, as every start did before.
func (e *Economy) pendingAgents(ctx context.Context) ([]string, error) {
	if e.directory == nil {
		return executor.AgentsInLog(e.node.log)(ctx)
	}
	if !e.started || !e.readModelsStarted {
		return nil, ErrNotStarted
	}
	last, err := e.node.log.LastSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pending agents: %w", err)
	}
	if err := e.dirRun.WaitFor(ctx, last); err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		e.node.logger.Warn("the directory cannot say which agents have work pending; every agent is read", "err", err)
		return executor.AgentsInLog(e.node.log)(ctx)
	}
	return e.directory.Accounts(executor.Pending), nil
}

// Awake is the number of actors in memory: those with work, or woken less
// than runtime.idle_seconds ago.
func (e *Economy) Awake() int { return e.host.Awake() }
