// Package executor turns paid allocations into executions (SPEC.md 1.4).
// It follows the log: a cycle's allocation waits for its payment
// (hold_posted; a refused payment or a released lease drops it), then, once
// per allocation and in log order per agent, the executor checks that the
// lease is still held, records the start in the runner's account
// (StartExecution, durable before the program starts), issues the
// execution's token, runs the agent's program from its workspace through a
// Runner (the sandbox), revokes the token, records the end (EndExecution,
// which the clearing manager turns into the release of the leases), and
// applies "no bid, no future". Executions of different agents run side by
// side, up to a bound; those of one agent one after the other.
//
// Exactly once, across crashes: the start carries the executor's trigger
// (its manager name and the sequence of the payment), so a start delivered
// again applies nothing; only a running execution can end. The follower's
// cursor (cursor.<manager> in the store) stays below every allocation whose
// start is not decided yet.
//
// No stop or crash leaves an agent neither running nor dead (SPEC.md 1.4):
// a stop kills the running programs and records nothing, so their
// executions still run in their accounts, as after a crash. At start-up,
// before anything new runs, every execution an account still runs runs
// again with the envelope it paid for: its lease renewed, its attempt
// recorded (execution_resumed), not paid again. After AttemptsMax runs, or
// without its lease, it ends as interrupted and its agent is judged by "no
// bid, no future". An allocation that does not run (dropped before its
// payment, not started, refused) may have been the future that kept its
// agent alive at an end: the agent is judged again before the cursor
// passes it. An agent left alive, idle and without a bid hold after an
// execution (a crash between an end and its judgement) is judged at
// start-up.
package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
)

// ManagerName is the name of the executor of pool as it appears in the
// triggers of the starts it sends (one mark per agent and pool).
func ManagerName(pool string) string { return "executor-" + pool }

// NoFutureReason is the reason of the death of an agent that ends an
// execution with no open bid (SPEC.md 1.4).
const NoFutureReason = "no bid, no future"

// Config is what an executor needs. Every field is required unless its
// comment says otherwise.
type Config struct {
	// Pool is the clearing pool whose allocations it runs.
	Pool     string
	Log      events.Log
	Store    events.Store
	Accounts *agent.Accounts
	// Clearing is the pool's service: the book's leases and open bids,
	// and releases.
	Clearing   *clearing.Service
	Workspaces *Workspaces
	Runner     Runner
	Tickets    Tickets
	// Agents lists the agents whose accounts Recover reads: every agent
	// (AgentsInLog), or only those whose account Pending accepts (package
	// economy asks its directory); their running executions are the
	// interrupted ones.
	Agents func(context.Context) ([]string, error)
	// Timeout is an execution's wall-clock deadline
	// (execution.timeout_seconds).
	Timeout time.Duration
	// ServiceURL is AGORA_URL, the System Service as the program sees it
	// (with the sandbox: unix:// and Sandbox.SocketPath(Socket)); optional.
	ServiceURL string
	// Socket is the host path of the System Service's Unix socket, shown
	// to the program by the sandbox (optional).
	Socket string
	// Processes bounds the processes and threads of one program (0:
	// ProcessesDefault).
	Processes int
	// WorkspaceMB is how much an agent's workspace may hold on disk while
	// its program runs, in MiB: over it the execution is killed with
	// cause disk (0: WorkspaceMBDefault).
	WorkspaceMB int
	// DefaultCommand runs for an agent whose record names no command
	// (optional; without it such an agent's executions fail).
	DefaultCommand []string
	// ConcurrentMax bounds the programs running at once (0:
	// ConcurrentMaxDefault).
	ConcurrentMax int
	// Clock is the time (optional: time.Now).
	Clock  func() time.Time
	Logger *slog.Logger
	// Admitted, when set, says whether a record is a fact its actor
	// admitted (runtime.Host.Admitted): nil, or the *events.BadRecord of a
	// record every follower skips. The executor acts on no record before
	// its actor has admitted it: a forged payment must start nothing.
	Admitted func(context.Context, events.Record) error
	// OnDone, when set, is told what became of each allocation the
	// executor decided (started and ended, cut short by its stop, or
	// skipped) and of each run again of an execution a stop or a crash
	// cut short (metrics, logs, tests). It is called from the executor's
	// goroutines and must not block.
	OnDone func(Report)
}

// Report is what became of one allocation.
type Report struct {
	AgentID     string
	ExecutionID string
	// Started is false for an allocation that did not run; Reason says
	// why (its lease was released, its runner is dead, it ran already).
	Started bool
	Reason  string
	// End is the recorded end of a started execution (zero if it could
	// not be recorded: the next start-up records it as interrupted).
	End events.ExecutionEnded
	// Died is true when the agent died at the end for want of a bid.
	Died bool
	// Attempt is the run of the execution's program this report is of:
	// 1 for its first, more when a stop or a crash made it run again.
	Attempt int
}

// Executor runs the executions of one pool. Create it with New; Run it
// once.
type Executor struct {
	cfg  Config
	name string

	slots chan struct{}
	wg    sync.WaitGroup

	mu      sync.Mutex
	changed *sync.Cond
	ran     bool
	// stopped is set when the follower stops: waiters give up. run is
	// the scope of the executions, from Open to Close.
	stopped bool
	run     context.Context
	stopRun context.CancelFunc
	cursor  *follow.Cursor
	seen    uint64
	// pending are allocations awaiting their payment.
	pending map[string]pendingAllocation
	// queued are paid allocations whose start is not decided yet; queues
	// hold them per runner, in log order, and workers names the runners
	// whose queue a goroutine is working through.
	queued  map[string]pendingAllocation
	queues  map[string][]start
	workers map[string]bool
	// dropped are allocations dropped before they were paid (payment
	// refused, lease released or expired) whose agent is not judged yet:
	// while its execution ended, an allocation awaiting its payment was
	// its future, and now it has none. They hold the cursor until judged,
	// so that a crash before the judgement drops and judges them again.
	dropped map[string]pendingAllocation
	// running are the programs running now, and dead the agents whose
	// death the follower saw (a program registered after it is killed).
	running map[string]runningProgram
	dead    map[string]bool
	// recovered is set once Recover has found what the previous process
	// left running; reruns are those executions, for Run to queue.
	recovered bool
	reruns    []start
	// inherited are the executions an account ran when this process
	// began: a start of one delivered again is no reason to run it (its
	// run again is queued ahead of it).
	inherited map[string]bool
	// idle are the agents Recover found alive, running nothing, after an
	// execution of theirs ended, and with no bid hold: a crash between the
	// end of an execution and its judgement leaves them so. Open judges
	// them once the follower has caught up.
	idle []string
}

type pendingAllocation struct {
	alloc    events.Allocation
	cycleSeq uint64
}

type start struct {
	pendingAllocation
	trigger events.Trigger
	// attempt is, for an execution a stop or a crash cut short, the run
	// it begins (2 or more); 0 for a paid allocation of the log.
	attempt int
	// abandon, for such an execution, says why it does not run again.
	abandon string
}

type runningProgram struct {
	agentID string
	cancel  context.CancelCauseFunc
}

// Why a program's context was cancelled.
var (
	errShutdown  = errors.New("executor stopping")
	errAgentDied = errors.New("agent died")
)

// New checks the configuration and returns an executor.
func New(cfg Config) (*Executor, error) {
	switch {
	case cfg.Log == nil || cfg.Store == nil || cfg.Accounts == nil || cfg.Clearing == nil || cfg.Workspaces == nil ||
		cfg.Runner == nil || cfg.Tickets == nil || cfg.Agents == nil:
		return nil, errors.New("executor: a log, a store, accounts, a clearing service, workspaces, a runner, tickets and an agent list are required")
	case cfg.Timeout <= 0:
		return nil, fmt.Errorf("executor: timeout %s is not positive", cfg.Timeout)
	case cfg.Pool != cfg.Clearing.Pool():
		return nil, fmt.Errorf("executor: pool %q, clearing service of pool %q", cfg.Pool, cfg.Clearing.Pool())
	}
	if err := agent.ValidateCommand(cfg.DefaultCommand); err != nil {
		return nil, fmt.Errorf("executor: default command: %w", err)
	}
	if cfg.ConcurrentMax <= 0 {
		cfg.ConcurrentMax = ConcurrentMaxDefault
	}
	if cfg.Processes <= 0 {
		cfg.Processes = ProcessesDefault
	}
	if cfg.WorkspaceMB <= 0 {
		cfg.WorkspaceMB = WorkspaceMBDefault
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cursor, err := follow.NewCursor(cfg.Store, ManagerName(cfg.Pool))
	if err != nil {
		return nil, err
	}
	x := &Executor{cfg: cfg, name: ManagerName(cfg.Pool), cursor: cursor, slots: make(chan struct{}, cfg.ConcurrentMax),
		pending: map[string]pendingAllocation{}, queued: map[string]pendingAllocation{}, queues: map[string][]start{},
		workers: map[string]bool{}, dropped: map[string]pendingAllocation{}, running: map[string]runningProgram{},
		dead: map[string]bool{}}
	x.changed = sync.NewCond(&x.mu)
	return x, nil
}

// Name is the executor's manager name (the triggers of its starts, its
// cursor in the store, follow.Consumer).
func (x *Executor) Name() string { return x.name }

// Run recovers (see Recover), runs again what the previous process left
// running, then follows the log and runs executions until ctx is done. At
// the end it kills the programs still running and records nothing of
// them: their executions run again at the next start (stop the executor
// before the actor host, so that no program outlives it). It returns nil
// when ctx ends, or the error that stopped it. A composition root with
// other followers adds the executor to its follow.Follower instead.
func (x *Executor) Run(ctx context.Context) error {
	f, err := follow.New(x.cfg.Log, follow.Options{Logger: x.cfg.Logger, SaveInterval: CursorSaveInterval})
	if err != nil {
		return err
	}
	f.Add(x)
	if err := f.Run(ctx); err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	return nil
}

var _ follow.Consumer = (*Executor)(nil)

// Types are the event types the executor acts on (follow.Consumer).
func (x *Executor) Types() []string {
	return []string{events.CycleCleared{}.EventType(), events.ExecutionReleased{}.EventType(),
		events.HoldPosted{}.EventType(), events.PaymentRefused{}.EventType(), events.AgentDied{}.EventType()}
}

// Open recovers (see Recover), queues what the previous process left
// running, and returns the executor's cursor (follow.Consumer). Its
// executions run until ctx ends or Close.
func (x *Executor) Open(ctx context.Context, last uint64) (uint64, error) {
	x.mu.Lock()
	if x.ran {
		x.mu.Unlock()
		return 0, errors.New("executor: run twice")
	}
	x.ran = true
	x.mu.Unlock()
	if err := x.Recover(ctx); err != nil {
		return 0, err
	}
	floor, err := x.cursor.Load(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("executor: %w", err)
	}
	run, stop := context.WithCancel(ctx)
	x.mu.Lock()
	x.run, x.stopRun = run, stop
	x.seen = floor
	// What the previous process left running goes first, each ahead of
	// anything new of its agent.
	for _, r := range x.reruns {
		x.enqueue(run, r)
	}
	x.reruns = nil
	if idle := x.idle; len(idle) > 0 {
		x.idle = nil
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			for _, id := range idle {
				x.noBidNoFuture(run, id, "")
			}
		}()
	}
	x.mu.Unlock()
	return floor, nil
}

// Deliver folds the next record of the log (follow.Consumer).
func (x *Executor) Deliver(_ context.Context, r events.Record) error { return x.apply(x.run, r) }

// Close kills the programs still running and waits for the executor's
// goroutines (follow.Consumer).
func (x *Executor) Close() { x.Halt() }

// Halt kills the programs still running, starts no more, and returns once
// what ended before it is recorded: a clean stop's first step, so that the
// process managers can then finish what those ends oblige them to (their
// leases released) before the actors stop. A program it kills is
// interrupted, and runs again at the next start. It may be called before
// Close, or before the executor ever opened.
func (x *Executor) Halt() {
	x.mu.Lock()
	stopRun := x.stopRun
	x.mu.Unlock()
	if stopRun != nil {
		stopRun()
	}
	x.stop()
	x.wg.Wait()
}

// Save stores the floor as the executor's cursor (follow.Consumer).
func (x *Executor) Save(ctx context.Context) error {
	return x.cursor.Save(ctx, func() uint64 {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.floor()
	})
}

// stop wakes every waiter and kills the programs still running.
func (x *Executor) stop() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stopped = true
	for _, p := range x.running {
		p.cancel(errShutdown)
	}
	x.changed.Broadcast()
}

// apply folds one record of the log into what the executor waits for.
func (x *Executor) apply(ctx context.Context, r events.Record) error {
	kind, id, typ, err := events.ParseSubject(r.Envelope.Subject)
	relevant := err == nil && (kind == events.KindClearing && id == x.cfg.Pool &&
		(typ == events.CycleCleared{}.EventType() || typ == events.ExecutionReleased{}.EventType()) ||
		kind == events.KindAgent && (typ == events.HoldPosted{}.EventType() || typ == events.PaymentRefused{}.EventType() ||
			typ == events.AgentDied{}.EventType()))
	var e events.Event
	if relevant {
		// Only these few are decoded: JSON decoding is the cost of
		// following the whole stream. A record that is not a fact is
		// skipped, as by every follower.
		e, err = events.Read(r)
		if err == nil {
			err = x.admitted(ctx, r)
		}
		if err != nil {
			if !errors.Is(err, events.ErrBadRecord) {
				return err // ctx ended
			}
			x.cfg.Logger.Debug("executor: record skipped", "err", err)
			e = nil
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch e := e.(type) {
	case events.CycleCleared:
		for _, xid := range e.Expired {
			x.drop(ctx, xid)
		}
		for _, a := range e.Allocations {
			if x.inherited[a.ExecutionID] {
				// Delivered again after a crash, of an execution the account
				// still ran: its start was decided long ago and Recover
				// queued its run again. Queued once more it would count as
				// its agent's future when that run ends, then not start.
				continue
			}
			x.pending[a.ExecutionID] = pendingAllocation{alloc: a, cycleSeq: r.Seq}
		}
	case events.ExecutionReleased:
		x.drop(ctx, e.ExecutionID)
	case events.PaymentRefused:
		x.drop(ctx, e.ExecutionID)
	case events.HoldPosted:
		p, ok := x.pending[e.ExecutionID]
		if ok && p.alloc.AgentID == id && p.alloc.BidID == e.HoldID {
			delete(x.pending, e.ExecutionID)
			x.enqueue(ctx, start{pendingAllocation: p, trigger: events.Trigger{Manager: x.name, Seq: r.Seq}})
		}
	case events.AgentDied:
		x.dead[id] = true
		for _, p := range x.running {
			if p.agentID == id {
				p.cancel(errAgentDied)
			}
		}
	}
	x.seen = r.Seq
	x.changed.Broadcast()
	return nil
}

// enqueue hands a paid allocation to its runner's worker. Callers hold
// x.mu.
func (x *Executor) enqueue(ctx context.Context, s start) {
	runner := s.alloc.BeneficiaryID
	if s.attempt == 0 {
		// A paid allocation holds the cursor until its start is decided;
		// a run again is no allocation of the log the cursor follows.
		x.queued[s.alloc.ExecutionID] = s.pendingAllocation
	}
	x.queues[runner] = append(x.queues[runner], s)
	if x.workers[runner] {
		return
	}
	x.workers[runner] = true
	x.wg.Add(1)
	go x.work(ctx, runner)
}

// work runs one agent's allocations one after the other, in log order:
// the order of their triggers, which each account's mark requires.
func (x *Executor) work(ctx context.Context, runner string) {
	defer x.wg.Done()
	for {
		x.mu.Lock()
		q := x.queues[runner]
		if len(q) == 0 || ctx.Err() != nil {
			// What is left stays queued: the cursor stays below it and the
			// next start-up picks it up.
			delete(x.queues, runner)
			delete(x.workers, runner)
			x.mu.Unlock()
			return
		}
		s := q[0]
		x.queues[runner] = q[1:]
		x.mu.Unlock()
		x.execute(ctx, s)
	}
}

// drop forgets an allocation awaiting its payment that will not run, and
// judges its agent, whose future it may have been, by "no bid, no future"
// (SPEC.md 1.4) in a goroutine of its own: the judgement waits for the
// follower, which calls drop. Callers hold x.mu.
func (x *Executor) drop(ctx context.Context, xid string) {
	p, ok := x.pending[xid]
	if !ok {
		return
	}
	delete(x.pending, xid)
	x.dropped[xid] = p
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.noBidNoFuture(ctx, p.alloc.BeneficiaryID, xid)
		if ctx.Err() != nil {
			return // judged again at the next start-up: the cursor stays below it
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		delete(x.dropped, xid)
		x.changed.Broadcast()
	}()
}

// decided forgets an allocation whose start is decided (started or
// skipped): the cursor may pass it.
func (x *Executor) decided(executionID string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.queued, executionID)
	x.changed.Broadcast()
}

// floor is the sequence below which (inclusive) every allocation is
// decided. Callers hold x.mu.
func (x *Executor) floor() uint64 {
	low := x.seen
	for _, p := range x.pending {
		low = min(low, p.cycleSeq-1)
	}
	for _, p := range x.queued {
		low = min(low, p.cycleSeq-1)
	}
	for _, p := range x.dropped {
		low = min(low, p.cycleSeq-1)
	}
	return low
}

// waitSeen waits until the follower has read the log up to seq.
func (x *Executor) waitSeen(ctx context.Context, seq uint64) error {
	stop := context.AfterFunc(ctx, func() {
		x.mu.Lock()
		x.changed.Broadcast()
		x.mu.Unlock()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for x.seen < seq {
		if err := ctx.Err(); err != nil {
			return err
		}
		if x.stopped {
			return errShutdown
		}
		x.changed.Wait()
	}
	return nil
}

// Recover finds the executions that a stop or a crash of the previous
// process cut short: those an account still runs (no program of this
// process runs yet). Each runs again with the envelope it paid for
// (SPEC.md 1.4), so Recover renews its lease now, before the clearing
// schedule runs a cycle that could find it timed out over the time the
// economy was down; Run starts them before anything new. An execution
// whose agent has died meanwhile ends here as interrupted (a dead agent
// never runs). One whose program has already been started AttemptsMax
// times, or whose lease is gone, is not run again: Run ends it as
// interrupted and applies "no bid, no future". Run calls Recover if the
// composition root has not; calling it again does nothing.
func (x *Executor) Recover(ctx context.Context) error {
	x.mu.Lock()
	done := x.recovered
	x.mu.Unlock()
	if done {
		return nil
	}
	ids, err := x.cfg.Agents(ctx)
	if err != nil {
		return fmt.Errorf("executor: list agents: %w", err)
	}
	var mu sync.Mutex
	var found []agent.Account
	err = runtime.Each(ids, RecoverParallelMax, func(id string) error {
		acct, err := x.account(ctx, id)
		if err != nil {
			return fmt.Errorf("executor: account %s: %w", id, err)
		}
		if Pending(acct) {
			mu.Lock()
			found = append(found, acct)
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(found, func(a, b agent.Account) int { return strings.Compare(a.ID, b.ID) })
	var reruns []start
	var idles []string
	inherited := map[string]bool{}
	for _, acct := range found {
		if idle(acct) {
			idles = append(idles, acct.ID)
		}
		for _, xid := range slices.Sorted(maps.Keys(acct.Executions)) {
			ex := acct.Executions[xid]
			if ex.Pool != x.cfg.Pool {
				continue // another pool's executor runs it
			}
			inherited[xid] = true
			if acct.Status != agent.StatusAlive {
				end, err := x.recordEnd(ctx, acct.ID, agent.EndExecution{ExecutionID: xid, ExitCode: -1, Cause: events.CauseInterrupted})
				if err != nil {
					return err
				}
				x.cfg.Logger.Info("executor: interrupted execution of a dead agent ends", "agent", acct.ID, "execution", xid)
				x.report(Report{AgentID: acct.ID, ExecutionID: xid, Started: true, Reason: "interrupted: its agent is dead",
					Attempt: ex.Attempts(), End: end})
				continue
			}
			r := start{attempt: ex.Attempts() + 1, pendingAllocation: pendingAllocation{alloc: events.Allocation{ExecutionID: xid,
				BidID: ex.BidID, AgentID: ex.PayerID, BeneficiaryID: acct.ID, Resources: ex.Resources}}}
			if r.attempt > AttemptsMax {
				r.abandon = fmt.Sprintf("its program was started %d times, each cut short by a stop or a crash", ex.Attempts())
			} else if err := x.renew(ctx, xid); errors.Is(err, clearing.ErrExecutionNotRunning) {
				r.abandon = "its lease is released"
			} else if err != nil {
				return fmt.Errorf("executor: renew the lease of %s: %w", xid, err)
			}
			reruns = append(reruns, r)
		}
	}
	x.mu.Lock()
	x.reruns, x.inherited, x.idle, x.recovered = reruns, inherited, idles, true
	x.mu.Unlock()
	return nil
}

// Pending reports whether Recover has work for an account: an execution it
// still runs (whatever the agent's status: a dead agent's ends as
// interrupted), or an agent left idle (see idle). Config.Agents need list
// only the agents whose account it accepts.
func Pending(acct agent.Account) bool { return len(acct.Executions) > 0 || idle(acct) }

// idle reports whether an account is of an agent alive, running nothing
// after an execution of its own ended, and with no bid hold: one a crash
// may have left unjudged by "no bid, no future".
func idle(acct agent.Account) bool {
	if acct.Status != agent.StatusAlive || acct.Running() || acct.ExecutionCount == 0 {
		return false
	}
	for h := range acct.Holds {
		if strings.HasPrefix(h, clearing.BidIDPrefix) {
			return false
		}
	}
	return true
}

// renew makes an execution's lease count again from now.
func (x *Executor) renew(ctx context.Context, xid string) error {
	return retry(ctx, func() error { return x.cfg.Clearing.Renew(ctx, xid, x.cfg.Clock()) })
}

func (x *Executor) report(r Report) {
	if x.cfg.OnDone != nil {
		x.cfg.OnDone(r)
	}
}

// retry calls fn until it succeeds, fails for good, or ctx ends. A
// retryable failure is the log or an actor being unavailable (the actor
// has recovered, so a retry with the same idempotency key gets the true
// outcome) or a concurrent write.
func retry(ctx context.Context, fn func() error) error {
	backoff := 10 * time.Millisecond
	for {
		err := fn()
		if err == nil || !(errors.Is(err, runtime.ErrUnavailable) || errors.Is(err, runtime.ErrConflict)) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// do sends a command to an account, retrying what may be retried.
func (x *Executor) do(ctx context.Context, id, key string, cmd agent.Command) (runtime.Result, error) {
	var res runtime.Result
	err := retry(ctx, func() error {
		var err error
		res, err = x.cfg.Accounts.Do(ctx, id, key, cmd)
		return err
	})
	return res, err
}

// account reads an account from its actor.
func (x *Executor) account(ctx context.Context, id string) (agent.Account, error) {
	var a agent.Account
	err := retry(ctx, func() error {
		var err error
		a, err = x.cfg.Accounts.Get(ctx, id)
		return err
	})
	return a, err
}

// AgentsInLog lists the agents of log, from the subjects of their
// agent_created events (one small record per agent): Config.Agents for a
// composition root that has no list of its own.
func AgentsInLog(log events.Log) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		var ids []string
		err := log.Read(ctx, events.SubjectRoot+"."+string(events.KindAgent)+".*."+events.AgentCreated{}.EventType(), 1,
			func(r events.Record) error {
				if events.Check(r) != nil {
					return nil // not an agent's record: skipped, as by every follower
				}
				_, id, _ := events.ActorOf(r)
				ids = append(ids, id)
				return nil
			})
		return ids, err
	}
}

// admitted waits for the record's actor to admit or skip it, asking again
// while it cannot answer; only ctx ending stops it.
func (x *Executor) admitted(ctx context.Context, r events.Record) error {
	if x.cfg.Admitted == nil {
		return nil
	}
	for {
		err := x.cfg.Admitted(ctx, r)
		if err == nil || errors.Is(err, events.ErrBadRecord) || ctx.Err() != nil {
			if ctx.Err() != nil && err != nil && !errors.Is(err, events.ErrBadRecord) {
				return ctx.Err()
			}
			return err
		}
		x.cfg.Logger.Warn("executor: admission of a record not answered; asking again", "seq", r.Seq, "err", err)
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
