package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
)

// RunnerConfig is what a Runner needs; Conn and JS are required.
type RunnerConfig struct {
	Conn  *nats.Conn
	JS    jetstream.JetStream
	Queue Queue
	// Mirror, when set, replaces the economy's copy of a workspace (the
	// spec's Workspace) with the stored one after each execution, so that
	// what reads workspaces on the economy's machine (the dashboard) sees
	// what the program left.
	Mirror bool
	Logger *slog.Logger
}

// Runner is the executor's Runner when executions run on workers: it
// publishes each program as an order and returns the result a worker
// sends back, as if the program had run here.
type Runner struct {
	cfg RunnerConfig
	b   bound

	mu sync.Mutex
	// stored are the agents whose workspace this Runner has seen in the
	// store: the store is then its truth.
	stored map[string]bool
}

var _ executor.Runner = (*Runner)(nil)

// NewRunner binds to the queue, which Setup made.
func NewRunner(ctx context.Context, cfg RunnerConfig) (*Runner, error) {
	if cfg.Conn == nil || cfg.JS == nil {
		return nil, errors.New("work: a runner needs a NATS connection and its JetStream")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b, err := bind(ctx, cfg.JS, cfg.Queue)
	if err != nil {
		return nil, err
	}
	return &Runner{cfg: cfg, b: b, stored: map[string]bool{}}, nil
}

// Run publishes spec as an order, waits for its result and returns it.
// When ctx ends first (the executor stops, the agent died, the deadline
// passed) it asks the worker to stop the program and returns what the
// worker reports, or, with no report, a killed program (ctx cancelled) or
// executor.ErrRunnerLost (deadline: the program's state is unknown; the
// queue keeps the next attempt from starting until this order is gone).
func (r *Runner) Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error) {
	none := sandbox.Result{ExitCode: -1}
	o, err := orderOf(spec)
	if err != nil {
		return none, err
	}
	if err := r.ensureStored(ctx, o.AgentID, spec.Workspace); err != nil {
		return none, err
	}
	// Every result is confirmed as it comes, so that no worker waits on
	// this Runner; those of this attempt are kept.
	results := make(chan Result, 1)
	sub, err := r.cfg.Conn.Subscribe(DoneSubject(o.ExecutionID), func(m *nats.Msg) {
		if res, ok := r.take(m, o); ok {
			select {
			case results <- res:
			default:
			}
		}
	})
	if err != nil {
		return none, fmt.Errorf("work: results of %s: %w", o.ExecutionID, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	seq, err := r.publish(ctx, o)
	if err != nil {
		if ctx.Err() != nil {
			return sandbox.Result{Cause: sandbox.CauseKilled, ExitCode: -1}, nil
		}
		return none, err
	}
	select {
	case res := <-results:
		return r.conclude(spec, o, res)
	case <-ctx.Done():
		return r.stop(spec, o, seq, results, ctx.Err())
	}
}

// take reads a result and confirms it to its worker; ok is false for a
// result of another attempt (a late one), or one that cannot be read.
// A late result's version of the workspace is deleted before it is
// confirmed: this Runner never makes it the agent's, and no other does
// (an execution's attempts are waited for one after the other).
func (r *Runner) take(m *nats.Msg, o Order) (Result, bool) {
	var res Result
	if err := json.Unmarshal(m.Data, &res); err != nil {
		r.cfg.Logger.Warn("work: unreadable result", "execution", o.ExecutionID, "err", err)
		return Result{}, false
	}
	if res.Attempt != o.Attempt {
		r.cfg.Logger.Warn("work: result of an attempt no longer waited for; ignored", "agent", o.AgentID,
			"execution", o.ExecutionID, "attempt", res.Attempt, "waiting_for", o.Attempt, "worker", res.Worker)
		if res.uploaded() && res.Attempt > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), ResultTimeout)
			_ = r.b.store.Delete(ctx, VersionName(o.AgentID, o.ExecutionID, res.Attempt))
			cancel()
		}
		_ = m.Respond(nil)
		return res, false
	}
	_ = m.Respond(nil)
	return res, true
}

func (r *Runner) conclude(spec sandbox.Spec, o Order, res Result) (sandbox.Result, error) {
	switch {
	case res.Lost:
		return sandbox.Result{Cause: sandbox.CauseInterrupted, ExitCode: -1},
			fmt.Errorf("%w: execution %s attempt %d (worker %s)", executor.ErrRunnerLost, o.ExecutionID, o.Attempt, res.Worker)
	case res.Error != "":
		return sandbox.Result{ExitCode: -1}, fmt.Errorf("work: worker %s: %s", res.Worker, res.Error)
	}
	r.cfg.Logger.Debug("work: result", "agent", o.AgentID, "execution", o.ExecutionID, "attempt", o.Attempt,
		"worker", res.Worker, "cause", res.Cause)
	// The attempt's version becomes the agent's workspace. If it cannot,
	// what the program left is not kept: as far as the agent's memory
	// goes it did not run, so it runs again (as when a worker cannot
	// write it back).
	ctx, cancel := context.WithTimeout(context.Background(), CancelWait)
	err := point(ctx, r.b.store, o.AgentID, VersionName(o.AgentID, o.ExecutionID, o.Attempt))
	cancel()
	if err != nil {
		return sandbox.Result{Cause: sandbox.CauseInterrupted, ExitCode: -1},
			fmt.Errorf("%w: execution %s attempt %d: %w", executor.ErrRunnerLost, o.ExecutionID, o.Attempt, err)
	}
	if r.cfg.Mirror && spec.Workspace != "" {
		if err := r.mirror(o.AgentID, spec.Workspace); err != nil {
			r.cfg.Logger.Warn("work: the economy's copy of the workspace is not refreshed", "agent", o.AgentID, "err", err)
		}
	}
	return res.sandboxResult(), nil
}

// stop asks the worker to stop the order's program and waits, a bounded
// time, for its report.
func (r *Runner) stop(spec sandbox.Spec, o Order, seq uint64, results <-chan Result, why error) (sandbox.Result, error) {
	timeout := time.NewTimer(CancelWait)
	defer timeout.Stop()
	tick := time.NewTicker(4 * RetryInterval)
	defer tick.Stop()
	r.cancel(o.AgentID, seq)
	for {
		select {
		case res := <-results:
			return r.conclude(spec, o, res)
		case <-tick.C:
			r.cancel(o.AgentID, seq)
		case <-timeout.C:
			if errors.Is(why, context.DeadlineExceeded) {
				return sandbox.Result{Cause: sandbox.CauseInterrupted, ExitCode: -1},
					fmt.Errorf("%w: no result for execution %s attempt %d by its deadline", executor.ErrRunnerLost, o.ExecutionID, o.Attempt)
			}
			return sandbox.Result{Cause: sandbox.CauseKilled, ExitCode: -1}, nil
		}
	}
}

// cancel asks the worker running the order at seq of agentID to stop it.
func (r *Runner) cancel(agentID string, seq uint64) {
	_ = r.cfg.Conn.Publish(CancelSubject(agentID), []byte(strconv.FormatUint(seq, 10)))
}

// publish puts the order in the queue and returns its stream sequence.
// While an older order of the agent is there, the queue refuses it: the
// worker running that one is asked to stop, and the order goes in once it
// has left. An order of the same run already there (a publish whose
// answer was lost) is taken as published.
func (r *Runner) publish(ctx context.Context, o Order) (uint64, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return 0, err
	}
	subject := OrderSubject(o.AgentID)
	var lastCancel time.Time
	warned := false
	for {
		ack, err := r.cfg.JS.Publish(ctx, subject, data)
		if err == nil {
			return ack.Sequence, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		m, gerr := r.b.stream.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(gerr, jetstream.ErrMsgNotFound):
			// Gone since: publish again.
		case gerr != nil:
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			r.cfg.Logger.Warn("work: order not published; trying again", "agent", o.AgentID, "err", err, "read_err", gerr)
		default:
			var there Order
			if json.Unmarshal(m.Data, &there) == nil && there.ExecutionID == o.ExecutionID && there.Attempt == o.Attempt {
				return m.Sequence, nil
			}
			if !warned {
				r.cfg.Logger.Info("work: an older order of the agent is still queued; asking its worker to stop it",
					"agent", o.AgentID, "execution", o.ExecutionID, "older", there.ExecutionID, "older_attempt", there.Attempt)
				warned = true
			}
			if time.Since(lastCancel) >= 4*RetryInterval {
				r.cancel(o.AgentID, m.Sequence)
				lastCancel = time.Now()
			}
		}
		t := time.NewTimer(RetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// ensureStored puts the economy's copy of an agent's workspace in the
// store if the store has none (an agent created before its executions
// went to workers); from then on the store is its truth.
func (r *Runner) ensureStored(ctx context.Context, agentID, dir string) error {
	r.mu.Lock()
	known := r.stored[agentID]
	r.mu.Unlock()
	if known {
		return nil
	}
	_, err := r.b.store.GetInfo(ctx, agentID)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		if dir == "" {
			return fmt.Errorf("work: agent %s has no workspace in the store", agentID)
		}
		err = putWorkspace(ctx, r.b.store, agentID, dir)
	}
	if err != nil {
		return fmt.Errorf("work: workspace of %s: %w", agentID, err)
	}
	r.mu.Lock()
	r.stored[agentID] = true
	r.mu.Unlock()
	return nil
}

// mirror replaces dir with agentID's stored workspace: unpacked beside it,
// then swapped in by renames.
func (r *Runner) mirror(agentID, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), CancelWait)
	defer cancel()
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".mirror-"+agentID+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fresh := filepath.Join(tmp, "new")
	if err := getWorkspace(ctx, r.b.store, agentID, fresh); err != nil {
		return err
	}
	old := filepath.Join(tmp, "old")
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(fresh, dir); err != nil {
		_ = os.Rename(old, dir)
		return err
	}
	return nil
}
