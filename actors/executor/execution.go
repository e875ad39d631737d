package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// execute decides one paid allocation and, if it runs, carries its
// execution through: lease check, durable start, token, program, end, the
// "no bid, no future" rule. When ctx ends before the start is decided,
// it returns leaving the allocation queued, for the next start-up.
func (x *Executor) execute(ctx context.Context, s start) {
	if s.attempt > 0 {
		x.resume(ctx, s)
		return
	}
	a := s.alloc
	runner, xid := a.BeneficiaryID, a.ExecutionID
	log := x.cfg.Logger.With("agent", runner, "execution", xid)
	// A slot first: whether the lease leaves enough time is judged when the
	// program can start.
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	slot := true
	freeSlot := func() {
		if slot {
			<-x.slots
			slot = false
		}
	}
	defer freeSlot()

	deadline, reason, err := x.admit(ctx, xid)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("executor: cannot read the lease", "err", err)
		}
		return
	}
	if reason != "" {
		log.Info("executor: allocation not started", "reason", reason)
		// It may have been its agent's future when an execution ended: the
		// agent is judged again, before the decision lets the cursor pass,
		// so that a crash judges it again.
		died := x.noBidNoFuture(ctx, runner, xid)
		if ctx.Err() != nil {
			return
		}
		x.decided(xid)
		x.report(Report{AgentID: runner, ExecutionID: xid, Reason: reason, Died: died})
		return
	}
	res, err := x.do(ctx, runner, "start-"+xid, agent.StartExecution{ExecutionID: xid, BidID: a.BidID, PayerID: a.AgentID,
		Pool: x.cfg.Pool, Resources: a.Resources, Trigger: s.trigger})
	if ctx.Err() != nil || errors.Is(err, runtime.ErrStopped) {
		return // undecided: the next start-up ends it if it started, or starts it
	}
	if err != nil {
		// Refused for good (a dead runner never executes): the allocation
		// will not run, so its leases go back now rather than at their
		// timeout. A crash before the release repeats this at the next
		// start-up.
		reason := "not started: " + err.Error()
		log.Info("executor: allocation refused by its runner", "err", err)
		x.release(ctx, xid, reason)
		died := x.noBidNoFuture(ctx, runner, xid)
		if ctx.Err() != nil {
			return
		}
		x.decided(xid)
		x.report(Report{AgentID: runner, ExecutionID: xid, Reason: reason, Died: died})
		return
	}
	acct, err := x.account(ctx, runner)
	if _, fresh := res.Event.(events.ExecutionStarted); !fresh || res.Replayed {
		// Started before: by this process, whose answer was lost (it still
		// runs in the account, and no program of this process runs it), or
		// by an earlier process (it ended, or Recover found it running and
		// queued its run again ahead of this).
		if err != nil {
			if ctx.Err() == nil {
				log.Error("executor: cannot read the account", "err", err)
			}
			return
		}
		_, running := acct.Executions[xid]
		if !running || x.isRunning(xid) || x.isInherited(xid) {
			var died bool
			if !running {
				// Ended by an earlier process, which may have crashed before
				// it judged the agent: judged again (twice is harmless).
				if died = x.noBidNoFuture(ctx, runner, xid); ctx.Err() != nil {
					return
				}
			}
			x.decided(xid)
			x.report(Report{AgentID: runner, ExecutionID: xid, Reason: "started before", Died: died})
			return
		}
	}
	x.decided(xid)
	// From here the execution is started: it ends, or, cut short by the
	// executor's stop, runs again at the next start.
	if err != nil {
		if ctx.Err() != nil {
			x.leave(runner, xid, 1)
			return
		}
		log.Error("executor: cannot read the account; the execution ends as interrupted", "err", err)
		x.finish(ctx, s, 1, agent.EndExecution{ExecutionID: xid, ExitCode: -1, Cause: events.CauseInterrupted})
		return
	}
	end, outcome := x.runProgram(ctx, s, acct, 1, deadline, freeSlot)
	x.conclude(ctx, s, 1, end, outcome)
}

// conclude does what a run's outcome calls for: a run cut short by the
// stop is left for the next start, one its runner lost (ErrRunnerLost: the
// worker running it died or was cut off) runs again at once as the next
// attempt, with its lease renewed, under the same rules as a run again
// after a crash (AttemptsMax, then interrupted), and any other ends.
func (x *Executor) conclude(ctx context.Context, s start, attempt int, end agent.EndExecution, outcome runOutcome) {
	runner, xid := s.alloc.BeneficiaryID, s.alloc.ExecutionID
	switch outcome {
	case runStopped:
		x.leave(runner, xid, attempt)
	case runLost:
		next := s
		next.attempt = attempt + 1
		if next.attempt > AttemptsMax {
			next.abandon = fmt.Sprintf("its runner lost it %d times", AttemptsMax)
		}
		x.cfg.Logger.Warn("executor: the runner lost the program; the execution runs again", "agent", runner,
			"execution", xid, "attempt", next.attempt)
		x.resume(ctx, next)
	default:
		x.finish(ctx, s, attempt, end)
	}
}

// leave reports an execution cut short by the executor's stop. Its end is
// not recorded: its account still runs it, and the next start runs it
// again with the same envelope (Recover).
func (x *Executor) leave(runner, xid string, attempt int) {
	x.cfg.Logger.Info("executor: execution cut short by the stop; it runs again at the next start",
		"agent", runner, "execution", xid, "attempt", attempt)
	x.report(Report{AgentID: runner, ExecutionID: xid, Started: true, Attempt: attempt,
		Reason: "cut short by the stop: runs again at the next start"})
}

// failedBySystem tells an execution that failed for the system's reasons
// (exit code -1: no workspace, no command, a broken sandbox) from one whose
// own command could not be executed (the sandbox's failed, with the
// shell's exit code 127 or 126).
func failedBySystem(end agent.EndExecution) bool {
	return end.Cause == events.CauseFailed && end.ExitCode < 0
}

// finish records an execution's end and applies "no bid, no future". An
// execution that failed to start for the system's reasons (no workspace, a
// broken sandbox: see failedBySystem) is not the agent's doing: its program
// had no chance to bid, so the rule waits for an execution that ran. A
// command of the agent's own that cannot be executed had its chance: it
// never will. An execution ended as interrupted is one that
// will not run again (its attempts are used up, its lease is gone): its
// agent is judged, or a crash could leave it neither running nor dead.
func (x *Executor) finish(ctx context.Context, s start, attempt int, end agent.EndExecution) {
	runner, xid := s.alloc.BeneficiaryID, s.alloc.ExecutionID
	ended, err := x.recordEnd(ctx, runner, end)
	if err != nil {
		x.cfg.Logger.Error("executor: end not recorded; the next start-up runs the execution again", "agent", runner,
			"execution", xid, "err", err)
	}
	rep := Report{AgentID: runner, ExecutionID: xid, Started: true, End: ended, Attempt: attempt}
	if !failedBySystem(end) && err == nil && ctx.Err() == nil {
		rep.Died = x.noBidNoFuture(ctx, runner, xid)
	}
	x.report(rep)
}

// resume runs again an execution that a stop or a crash cut short, with
// the envelope it paid for: the units, payload and payer its book's lease
// holds, under the same execution id, not paid again. Its lease counts
// again from now (it may have waited for its slot since Recover renewed
// it), then the account records the attempt (durable before the program
// starts, so a crash during this run counts too), then the program runs
// and the execution ends as any other. One that is not to run again ends
// as interrupted, and its agent is judged.
func (x *Executor) resume(ctx context.Context, s start) {
	runner, xid := s.alloc.BeneficiaryID, s.alloc.ExecutionID
	log := x.cfg.Logger.With("agent", runner, "execution", xid, "attempt", s.attempt)
	select {
	case x.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	slot := true
	freeSlot := func() {
		if slot {
			<-x.slots
			slot = false
		}
	}
	defer freeSlot()
	var deadline time.Time
	if s.abandon == "" {
		err := x.renew(ctx, xid)
		var reason string
		if err == nil {
			var lease clearing.Execution
			deadline, lease, reason, err = x.lease(ctx, xid)
			s.alloc = events.Allocation{BidID: lease.BidID, ExecutionID: xid, AgentID: lease.AgentID, BeneficiaryID: runner,
				Resources: lease.Resources, AmountMicros: lease.AmountMicros, Payload: lease.Payload}
		}
		switch {
		case ctx.Err() != nil:
			return // the next start runs it again
		case errors.Is(err, clearing.ErrExecutionNotRunning):
			s.abandon = "its lease is released"
		case err != nil:
			log.Error("executor: cannot renew the lease; the next start runs the execution again", "err", err)
			return
		case reason != "":
			s.abandon = reason
		}
	}
	if s.abandon != "" {
		log.Warn("executor: interrupted execution not run again; it ends as interrupted", "reason", s.abandon)
		x.finish(ctx, s, s.attempt-1, agent.EndExecution{ExecutionID: xid, ExitCode: -1, Cause: events.CauseInterrupted})
		return
	}
	_, err := x.do(ctx, runner, fmt.Sprintf("resume-%s-%d", xid, s.attempt), agent.ResumeExecution{ExecutionID: xid, Attempt: s.attempt})
	switch {
	case ctx.Err() != nil || errors.Is(err, runtime.ErrStopped):
		return
	case errors.Is(err, agent.ErrExecutionNotRunning):
		x.report(Report{AgentID: runner, ExecutionID: xid, Attempt: s.attempt, Reason: "ended before it could run again"})
		return
	case errors.Is(err, agent.ErrAgentDead):
		// Died since Recover: it never runs again; the end releases the
		// leases.
		ended, err := x.recordEnd(ctx, runner, agent.EndExecution{ExecutionID: xid, ExitCode: -1, Cause: events.CauseInterrupted})
		if err != nil {
			log.Error("executor: end not recorded", "err", err)
		}
		x.report(Report{AgentID: runner, ExecutionID: xid, Started: true, Attempt: s.attempt - 1,
			Reason: "interrupted: its agent is dead", End: ended})
		return
	case err != nil:
		log.Error("executor: run again not recorded; the next start tries again", "err", err)
		return
	}
	acct, err := x.account(ctx, runner)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("executor: cannot read the account; the next start runs the execution again", "err", err)
		}
		return
	}
	log.Info("executor: execution runs again after a stop or a crash")
	end, outcome := x.runProgram(ctx, s, acct, s.attempt, deadline, freeSlot)
	x.conclude(ctx, s, s.attempt, end, outcome)
}

// admit reads the lease: the program's deadline, or why the allocation
// does not start (its lease was released, or ends too soon).
func (x *Executor) admit(ctx context.Context, xid string) (time.Time, string, error) {
	deadline, _, reason, err := x.lease(ctx, xid)
	return deadline, reason, err
}

// lease reads an execution's lease: the program's deadline and what the
// book holds of it (the envelope it paid for), or why it does not start.
func (x *Executor) lease(ctx context.Context, xid string) (time.Time, clearing.Execution, string, error) {
	type lease struct {
		x    clearing.Execution
		end  time.Time
		held bool
	}
	var l lease
	err := retry(ctx, func() error {
		var err error
		l, err = clearing.Inspect(ctx, x.cfg.Clearing, func(b clearing.Book) lease {
			ex, end, held := b.Lease(xid)
			ex.Resources = maps.Clone(ex.Resources)
			return lease{ex, end, held}
		})
		return err
	})
	if err != nil {
		return time.Time{}, clearing.Execution{}, "", err
	}
	if !l.held {
		return time.Time{}, clearing.Execution{}, "its lease is released", nil
	}
	now := x.cfg.Clock()
	deadline := now.Add(x.cfg.Timeout)
	if !l.end.IsZero() {
		if l.end.Sub(now) < 2*LeaseMarginMin {
			return time.Time{}, l.x, "its lease ends too soon", nil
		}
		deadline = minTime(deadline, l.end.Add(-LeaseMarginMin))
	}
	return deadline, l.x, "", nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (x *Executor) isInherited(xid string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.inherited[xid]
}

func (x *Executor) isRunning(xid string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.running[xid]
	return ok
}

// runOutcome is what became of one run of a program, beside its end.
type runOutcome int

const (
	// runEnded: the end is to be recorded.
	runEnded runOutcome = iota
	// runStopped: the executor's stop cut it short; its end is not to be
	// recorded (it runs again at the next start).
	runStopped
	// runLost: the runner lost the program (ErrRunnerLost); it runs again
	// now, as the next attempt.
	runLost
)

// runProgram runs the started execution's program (its run number
// attempt) and returns its end and the run's outcome. freeSlot gives the
// concurrency slot back as soon as the program is over.
func (x *Executor) runProgram(ctx context.Context, s start, acct agent.Account, attempt int, deadline time.Time,
	freeSlot func()) (end agent.EndExecution, outcome runOutcome) {
	a := s.alloc
	runner, xid := a.BeneficiaryID, a.ExecutionID
	log := x.cfg.Logger.With("agent", runner, "execution", xid)
	end = agent.EndExecution{ExecutionID: xid, ExitCode: -1, Cause: events.CauseFailed}
	dir, err := x.cfg.Workspaces.Dir(runner)
	if err != nil {
		log.Warn("executor: execution cannot start", "err", err)
		return end, runEnded
	}
	command := acct.Command
	if len(command) == 0 {
		command = x.cfg.DefaultCommand
	}
	if len(command) == 0 {
		log.Warn("executor: execution cannot start", "err", ErrNoCommand)
		return end, runEnded
	}
	token, err := x.cfg.Tickets.Issue(runner, xid, maps.Clone(a.Resources), deadline)
	if err != nil {
		log.Error("executor: execution cannot start: no token", "err", err)
		return end, runEnded
	}
	env := map[string]string{EnvToken: token, EnvAgentID: runner, EnvExecutionID: xid, EnvPayload: a.Payload,
		EnvDeadline: deadline.UTC().Format(time.RFC3339Nano), EnvAttempt: strconv.Itoa(attempt)}
	if x.cfg.ServiceURL != "" {
		env[EnvURL] = x.cfg.ServiceURL
	}
	spec := sandbox.Spec{Workspace: dir, Command: slices.Clone(command), Env: env, Socket: x.cfg.Socket,
		CPUSeconds:  wholeUnits(a.Resources[ResourceCPU], sandbox.CPUSecondsMax),
		MemoryMB:    wholeUnits(a.Resources[ResourceMemory], sandbox.MemoryMBMax),
		WorkspaceMB: x.cfg.WorkspaceMB,
		Processes:   x.cfg.Processes}

	// The program's context survives ctx only to be cancelled with a
	// cause: the executor's stop (interrupted) or the agent's death
	// (killed). Past its deadline it ends too, whatever the runner does.
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	runCtx, cancelDeadline := context.WithDeadline(runCtx, deadline.Add(DeadlineGrace))
	defer cancelDeadline()
	x.mu.Lock()
	x.running[xid] = runningProgram{agentID: runner, cancel: cancel}
	switch {
	case x.stopped:
		cancel(errShutdown)
	case x.dead[runner]:
		cancel(errAgentDied)
	}
	x.mu.Unlock()

	began := x.cfg.Clock()
	spec.Timeout = deadline.Sub(began)
	result := sandbox.Result{ExitCode: -1}
	var runErr error
	if runCtx.Err() == nil { // stopping already: the program never begins
		result, runErr = x.cfg.Runner.Run(runCtx, spec)
	}
	wall := x.cfg.Clock().Sub(began)
	if errors.Is(runErr, sandbox.ErrOutputLog) {
		log.Warn("executor: output log", "err", runErr)
		runErr = nil
	}
	x.mu.Lock()
	delete(x.running, xid)
	x.mu.Unlock()
	// The token ends with the program, so that no call metered after
	// this count is missing from it.
	tokensUsed, err := x.cfg.Tickets.End(token)
	if err != nil {
		log.Warn("executor: revoke token", "err", err)
	}
	freeSlot()

	cause := context.Cause(runCtx)
	end.ExitCode = result.ExitCode
	end.Cause = string(result.Cause)
	switch {
	case errors.Is(cause, errShutdown) && (runErr != nil || result.Cause == "" || result.Cause == sandbox.CauseKilled ||
		result.Cause == sandbox.CauseInterrupted):
		// Cut short by the stop (a program that ended by itself first
		// ends as it did).
		outcome = runStopped
		end.Cause = events.CauseInterrupted
	case errors.Is(runErr, ErrRunnerLost):
		log.Warn("executor: program lost by its runner", "err", runErr)
		outcome = runLost
		end.ExitCode, end.Cause = -1, events.CauseInterrupted
	case runErr != nil:
		log.Warn("executor: program did not start", "err", runErr)
		end.ExitCode, end.Cause = -1, events.CauseFailed
	case errors.Is(cause, errAgentDied):
		end.Cause = events.CauseKilled
	case end.Cause == events.CauseFailed:
		log.Warn("executor: the agent's command could not be executed", "command", command, "exit", end.ExitCode)
	case end.Cause == "":
		end.Cause = events.CauseExited
	case !slices.Contains(events.ExecutionCauses, end.Cause):
		log.Warn("executor: runner reported an unknown cause", "cause", end.Cause)
		end.Cause = events.CauseKilled
	}
	end.CPUMillis = max(result.CPU.Milliseconds(), 0)
	end.MemoryPeakKB = max((result.MemoryPeakBytes+1023)/1024, 0)
	if result.Wall > 0 {
		wall = result.Wall
	}
	end.WallMillis = max(wall.Milliseconds(), 0)
	// The ticket meters within the allocation it was issued with, which is
	// the account's; bounded by the account's all the same, since an end
	// the account refuses would leave the execution running for ever.
	end.TokensUsed = min(max(tokensUsed, 0), acct.Executions[xid].TokensAllowed())
	return end, outcome
}

// recordEnd records an execution's end in its runner's account. At the
// executor's stop (ctx over) it still tries, for a bounded time, so that
// a clean stop leaves nothing to recover. An execution that no longer runs
// was ended already: nothing to record.
func (x *Executor) recordEnd(ctx context.Context, runner string, end agent.EndExecution) (events.ExecutionEnded, error) {
	key := "end-" + end.ExecutionID
	res, err := x.do(ctx, runner, key, end)
	if err != nil && ctx.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecordTimeout)
		defer cancel()
		res, err = x.do(rctx, runner, key, end)
	}
	if errors.Is(err, agent.ErrExecutionNotRunning) {
		return events.ExecutionEnded{}, nil
	}
	if err != nil {
		return events.ExecutionEnded{}, fmt.Errorf("executor: end %s of %s: %w", end.ExecutionID, runner, err)
	}
	ended, _ := res.Event.(events.ExecutionEnded)
	return ended, nil
}

// release gives an allocation that will not run its leases back. One
// released already (timed out, say) needs nothing.
func (x *Executor) release(ctx context.Context, xid, reason string) {
	err := retry(ctx, func() error { return x.cfg.Clearing.Release(ctx, xid, reason) })
	if err != nil && !errors.Is(err, clearing.ErrExecutionNotRunning) && ctx.Err() == nil {
		x.cfg.Logger.Warn("executor: release of an allocation that will not run", "execution", xid, "err", err)
	}
}

// noBidNoFuture applies SPEC.md 1.4 at the end of an execution: an agent
// with no open bid, placed by itself or on its behalf, dies. Its future is
// any of: a bid hold in its account (an open bid, one not listed yet, or
// one won and not yet paid), an open bid in the book as bidder or
// beneficiary, or an allocation it won that the executor has not started
// (awaiting payment, or queued). The book is read before the executor
// catches up with the log, so a bid that wins meanwhile is seen as an
// allocation. The death itself is Die{IfIdle}: the account refuses it
// while another execution of the agent runs (the last one to end decides).
// The allocation of the execution being judged (except) is no future: one
// delivered again after a crash, or one that will not run, would otherwise
// keep its agent alive with nothing left to judge it. An agent that never
// ran is not judged: the rule is of the end of an execution. It reports
// whether the agent died.
func (x *Executor) noBidNoFuture(ctx context.Context, runner, except string) bool {
	log := x.cfg.Logger.With("agent", runner)
	acct, err := x.account(ctx, runner)
	if err != nil || acct.Status != agent.StatusAlive || acct.Running() || acct.ExecutionCount == 0 {
		return false
	}
	for h := range acct.Holds {
		if strings.HasPrefix(h, clearing.BidIDPrefix) {
			return false
		}
	}
	var open bool
	err = retry(ctx, func() error {
		var err error
		open, err = clearing.Inspect(ctx, x.cfg.Clearing, func(b clearing.Book) bool { return b.HasOpenBid(runner) })
		return err
	})
	if err != nil || open {
		return false
	}
	last, err := x.cfg.Log.LastSeq(ctx)
	if err != nil || x.waitSeen(ctx, last) != nil {
		return false
	}
	if x.awaits(runner, except) {
		return false
	}
	res, err := x.do(ctx, runner, "", agent.Die{Reason: NoFutureReason, IfIdle: true})
	if err != nil {
		if !errors.Is(err, agent.ErrAgentDead) && ctx.Err() == nil {
			log.Warn("executor: no bid, no future: death refused", "err", err)
		}
		return false
	}
	if res.Event != nil {
		log.Info("executor: agent died: no bid, no future")
	}
	return res.Event != nil
}

// awaits reports whether an allocation of runner other than except awaits
// its payment or its start.
func (x *Executor) awaits(runner, except string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, s := range x.queues[runner] {
		if s.alloc.ExecutionID != except {
			return true
		}
	}
	for xid, p := range x.pending {
		if p.alloc.BeneficiaryID == runner && xid != except {
			return true
		}
	}
	for xid, p := range x.queued {
		if p.alloc.BeneficiaryID == runner && xid != except {
			return true
		}
	}
	return false
}
