package executor_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
)

// losingRunner loses the first lose runs it is given (ErrRunnerLost: the
// worker running them died), then runs programs as procRunner does.
type losingRunner struct {
	lose int
	ran  runs
	proc procRunner
}

func (l *losingRunner) Run(ctx context.Context, s sandbox.Spec) (sandbox.Result, error) {
	l.ran.add(s)
	if len(l.ran.all()) <= l.lose {
		return sandbox.Result{Cause: sandbox.CauseInterrupted, ExitCode: -1}, fmt.Errorf("worker gone: %w", executor.ErrRunnerLost)
	}
	return l.proc.Run(ctx, s)
}

// TestLostProgramRunsAgain: the runner loses the program once (its worker
// died). The execution runs again at once, as attempt 2, with its lease
// renewed, under the same execution id, not paid again, and ends as the
// program does.
func TestLostProgramRunsAgain(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("b", 100, sh("exit 0"), nil)
	bid := e.place("b", 2, 20, "", "")
	runner := &losingRunner{lose: 1}
	e.startExecutor(runner)
	e.clear(time.Now())
	r := e.report(xid(bid))
	if !r.Started || r.End.Cause != events.CauseExited || r.Attempt != 2 {
		t.Fatalf("report %+v", r)
	}
	e.settle()
	h := historyOf(t, log, xid(bid))
	h.ranOnce(t, xid(bid))
	if !slices.Equal(h.attempts, []int{2}) || h.renewed != 1 {
		t.Errorf("attempts %v, renewed %d; want [2], 1", h.attempts, h.renewed)
	}
	for i, s := range runner.ran.all() {
		if s.Env[executor.EnvAttempt] != fmt.Sprint(i+1) || s.Env[executor.EnvExecutionID] != xid(bid) {
			t.Errorf("run %d: attempt %s of %s", i+1, s.Env[executor.EnvAttempt], s.Env[executor.EnvExecutionID])
		}
	}
	audit(t, log)
}

// TestLostProgramIsBounded: a runner that loses every program (a program
// that kills every worker it runs on) runs it AttemptsMax times, then the
// execution ends as interrupted and "no bid, no future" judges its agent.
func TestLostProgramIsBounded(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("b", 100, sh("exit 0"), nil)
	bid := e.place("b", 2, 20, "", "")
	runner := &losingRunner{lose: executor.AttemptsMax + 1}
	e.startExecutor(runner)
	e.clear(time.Now())
	r := e.report(xid(bid))
	if !r.Started || r.End.Cause != events.CauseInterrupted || !r.Died || r.Attempt != executor.AttemptsMax {
		t.Fatalf("report %+v", r)
	}
	if n := len(runner.ran.all()); n != executor.AttemptsMax {
		t.Errorf("%d runs, want %d", n, executor.AttemptsMax)
	}
	e.settle()
	if a := e.account("b"); a.Status != agent.StatusDead || a.Running() {
		t.Errorf("b: %s, running %v", a.Status, a.Running())
	}
	for _, m := range cleared {
		if got := e.leased(m); got != 0 {
			t.Errorf("market %s still leases %s", m, got)
		}
	}
	audit(t, log)
}
