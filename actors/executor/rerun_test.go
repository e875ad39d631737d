package executor_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
)

// runs records the spec of every program a runner starts.
type runs struct {
	mu    sync.Mutex
	specs []sandbox.Spec
}

func (r *runs) add(s sandbox.Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.specs = append(r.specs, s)
}

func (r *runs) all() []sandbox.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.specs)
}

// crash ends a process of the economy as a SIGKILL would: its actors are
// gone while its executor stops (and, with hold, while its program dies
// slowly), so nothing of the running execution can be recorded.
func (e *econ) crash(hold chan struct{}) {
	e.t.Helper()
	e.stopEx()
	e.host.Stop()
	if hold != nil {
		close(hold)
	}
	if err := <-e.exDone; err != nil {
		e.t.Fatal(err)
	}
	e.stopEx = nil
	e.close()
}

// TestInterruptedExecutionRunsAgain: a program is cut short by a clean
// stop of the executor, or by a crash of the whole process. Nothing ends
// the execution; the next process runs it again once, with the envelope
// it paid for (same execution id, units and payload, AGORA_ATTEMPT 2),
// paid once, its lease renewed and released once. Then the usual rules
// apply: the agent that bids during the run again lives, the one that
// does not dies. A third process finds nothing to run.
func TestInterruptedExecutionRunsAgain(t *testing.T) {
	for _, crash := range []bool{false, true} {
		name := "stop"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) {
			log, store := backend(t)
			root := t.TempDir()
			e := boot(t, log, store, root)
			e.createAgent("r", 100, sh(`[ "$AGORA_ATTEMPT" = 1 ] && exec sleep 60; exit 0`), nil)
			bid := e.place("r", 2, 20, "", "the payload")
			var ran runs
			hold := make(chan struct{})
			e.startExecutor(&procRunner{before: ran.add, hold: hold})
			e.clear(time.Now())
			waitFor(t, "the first run", func() bool { return len(ran.all()) == 1 })
			if crash {
				e.crash(hold)
			} else {
				close(hold)
				e.stopExecutor()
				if r := e.report(xid(bid)); !r.Started || r.Attempt != 1 || r.End.Cause != "" {
					t.Fatalf("report at the stop: %+v", r)
				}
				e.close()
			}
			if h := historyOf(t, log, xid(bid)); len(h.started) != 1 || len(h.ended) != 0 || len(h.released) != 0 {
				t.Fatalf("after the %s: started %v, ended %v, released %v; want it running", name, h.started, h.ended, h.released)
			}

			e = boot(t, log, store, root)
			defer e.close()
			if a := e.account("r"); !a.Running() || a.Status != agent.StatusAlive {
				t.Fatalf("r after the %s: %+v", name, a)
			}
			e.reports = map[string]executor.Report{}
			bidsAgain := !crash
			var placed string
			var placeErr error
			e.startExecutor(&procRunner{before: func(s sandbox.Spec) {
				ran.add(s)
				if bidsAgain {
					placed, _, placeErr = e.svc.Place(context.Background(), "r", "", events.BidTerms{
						Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(10)}},
						events.Credits(5))
				}
			}})
			r := e.report(xid(bid))
			if !r.Started || r.Attempt != 2 || r.End.Cause != events.CauseExited || r.Died == bidsAgain {
				t.Fatalf("report of the run again: %+v (bids again: %v)", r, bidsAgain)
			}
			if placeErr != nil {
				t.Fatal(placeErr)
			}
			e.settle()
			specs := ran.all()
			if len(specs) != 2 {
				t.Fatalf("%d runs, want 2", len(specs))
			}
			for i, s := range specs {
				if s.Env[executor.EnvExecutionID] != xid(bid) || s.Env[executor.EnvPayload] != "the payload" ||
					s.CPUSeconds != 2 || s.MemoryMB != 10 || s.Env[executor.EnvAttempt] != fmt.Sprint(i+1) {
					t.Errorf("run %d: execution %s, payload %q, %d cpu s, %d MB, attempt %s", i+1, s.Env[executor.EnvExecutionID],
						s.Env[executor.EnvPayload], s.CPUSeconds, s.MemoryMB, s.Env[executor.EnvAttempt])
				}
			}
			h := historyOf(t, log, xid(bid))
			h.ranOnce(t, xid(bid))
			if !slices.Equal(h.attempts, []int{2}) || h.renewed == 0 || h.end.Cause != events.CauseExited {
				t.Errorf("attempts %v, %d renewals, ended %+v", h.attempts, h.renewed, h.end)
			}
			a := e.account("r")
			if dead := a.Status == agent.StatusDead; dead == bidsAgain || a.Running() {
				t.Errorf("r after its run again: %s, running %v (bid again: %v, %s)", a.Status, a.Running(), bidsAgain, placed)
			}
			for _, m := range cleared {
				if got := e.leased(m); got != 0 {
					t.Errorf("market %s still leases %s", m, got)
				}
			}
			// A third start finds nothing to run again.
			e.stopExecutor()
			e.startExecutor(&procRunner{before: func(s sandbox.Spec) { t.Errorf("ran again: %+v", s.Env) }})
			time.Sleep(300 * time.Millisecond)
			e.stopExecutor()
			e.settle()
			if h := historyOf(t, log, xid(bid)); len(h.started) != 1 || len(h.ended) != 1 || len(h.attempts) != 1 {
				t.Fatalf("after another restart: started %v, ended %v, attempts %v", h.started, h.ended, h.attempts)
			}
			audit(t, log)
		})
	}
}

// TestRunsAgainAreBounded: a program cut short every time (a program that
// brings its host down, say) runs AttemptsMax times in all. The next start
// ends its execution as interrupted, releases its leases, and applies "no
// bid, no future": without a bid, its agent dies; nothing is paid again.
func TestRunsAgainAreBounded(t *testing.T) {
	log, store := backend(t)
	root := t.TempDir()
	e := boot(t, log, store, root)
	e.createAgent("b", 100, sh("exec sleep 60"), nil)
	bid := e.place("b", 2, 20, "", "")
	var ran runs
	e.startExecutor(&procRunner{before: ran.add})
	e.clear(time.Now())
	for n := 1; ; n++ {
		waitFor(t, fmt.Sprintf("run %d", n), func() bool { return len(ran.all()) == n })
		// Stops and crashes alike count.
		if n%2 == 1 {
			e.stopExecutor()
			e.close()
		} else {
			e.crash(nil)
		}
		e = boot(t, log, store, root)
		if n == executor.AttemptsMax {
			break
		}
		e.startExecutor(&procRunner{before: ran.add})
	}
	defer e.close()
	e.reports = map[string]executor.Report{}
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) { t.Errorf("ran a %s time", s.Env[executor.EnvAttempt]) }})
	r := e.report(xid(bid))
	if !r.Started || r.End.Cause != events.CauseInterrupted || !r.Died || r.Attempt != executor.AttemptsMax {
		t.Fatalf("report %+v", r)
	}
	e.settle()
	h := historyOf(t, log, xid(bid))
	h.ranOnce(t, xid(bid))
	want := []int{}
	for n := 2; n <= executor.AttemptsMax; n++ {
		want = append(want, n)
	}
	if !slices.Equal(h.attempts, want) {
		t.Errorf("attempts %v, want %v", h.attempts, want)
	}
	for i, s := range ran.all() {
		if s.Env[executor.EnvAttempt] != fmt.Sprint(i+1) || s.Env[executor.EnvExecutionID] != xid(bid) {
			t.Errorf("run %d: attempt %s of %s", i+1, s.Env[executor.EnvAttempt], s.Env[executor.EnvExecutionID])
		}
	}
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

// TestRunAgainRenewsTheLease: the economy was down longer than what was
// left of a lease. Recover renews it before any cycle, so the first cycle
// after the start does not take it away, and the run again gets a whole
// execution's time under it. The renewal leases nothing more.
func TestRunAgainRenewsTheLease(t *testing.T) {
	log, store := backend(t)
	root := t.TempDir()
	e := boot(t, log, store, root)
	e.createAgent("o", 100, sh("exec sleep 60"), nil)
	bid := e.place("o", 2, 20, "", "")
	var ran runs
	e.startExecutor(&procRunner{before: ran.add})
	won := time.Now().Add(-leaseTimeout + 10*time.Second) // 10 s of lease left
	e.clear(won)
	waitFor(t, "the first run", func() bool { return len(ran.all()) == 1 })
	e.stopExecutor()
	leasedBefore := e.leased("cpu_seconds")
	e.close()

	e = boot(t, log, store, root)
	defer e.close()
	ex := e.newExecutor(&procRunner{before: ran.add})
	must(t, ex.Recover(context.Background()))
	// Without the renewal this cycle would find the lease timed out.
	later := time.Now().Add(30 * time.Second)
	if _, _, err := e.svc.Clear(context.Background(), later); err != nil {
		t.Fatal(err)
	}
	held, err := clearing.Inspect(context.Background(), e.svc, func(b clearing.Book) bool { _, _, ok := b.Lease(xid(bid)); return ok })
	must(t, err)
	if !held {
		t.Fatal("the first cycle after the start took the lease of the execution to run again")
	}
	if got := e.leased("cpu_seconds"); got != leasedBefore {
		t.Errorf("cpu_seconds leases %s after the renewal, %s before", got, leasedBefore)
	}
	e.run(ex)
	waitFor(t, "the run again", func() bool { return len(ran.all()) == 2 })
	deadline, err := time.Parse(time.RFC3339Nano, ran.all()[1].Env[executor.EnvDeadline])
	must(t, err)
	if oldEnd := won.Add(leaseTimeout); !deadline.After(oldEnd) {
		t.Errorf("the run again has deadline %s, not past the old lease's end %s", deadline, oldEnd)
	}
	e.stopExecutor()
	audit(t, log)
}

// TestDeadAgentDoesNotRunAgain: an agent killed while the economy was
// down (its program cut short) never runs again: the next start ends its
// execution as interrupted, which releases its leases.
func TestDeadAgentDoesNotRunAgain(t *testing.T) {
	log, store := backend(t)
	root := t.TempDir()
	e := boot(t, log, store, root)
	e.createAgent("d", 100, sh("exec sleep 60"), nil)
	bid := e.place("d", 2, 20, "", "")
	var ran runs
	e.startExecutor(&procRunner{before: ran.add})
	e.clear(time.Now())
	waitFor(t, "the first run", func() bool { return len(ran.all()) == 1 })
	e.stopExecutor()
	if _, err := e.accounts.Do(context.Background(), "d", "", agent.Die{Reason: "operator"}); err != nil {
		t.Fatal(err)
	}
	e.close()

	e = boot(t, log, store, root)
	defer e.close()
	e.reports = map[string]executor.Report{}
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) { t.Errorf("a dead agent ran: %+v", s.Env) }})
	if r := e.report(xid(bid)); !r.Started || r.End.Cause != events.CauseInterrupted || r.Died {
		t.Fatalf("report %+v", r)
	}
	e.settle()
	h := historyOf(t, log, xid(bid))
	h.ranOnce(t, xid(bid))
	if len(h.attempts) != 0 {
		t.Errorf("attempts %v", h.attempts)
	}
	audit(t, log)
}

// TestRunAgainDeliveredAgainIsNoFuture: a kill -9 before the executor
// saved its cursor past an allocation makes the next process read its
// payment again while the account still runs its execution. The run again
// ends without a bid: its own allocation, delivered again, is no future,
// so its agent dies, and the allocation does not start a second time.
func TestRunAgainDeliveredAgainIsNoFuture(t *testing.T) {
	log, store := backend(t)
	root := t.TempDir()
	e := boot(t, log, store, root)
	e.createAgent("r", 100, sh(`[ "$AGORA_ATTEMPT" = 1 ] && exec sleep 60; exit 0`), nil)
	bid := e.place("r", 2, 20, "", "")
	var ran runs
	hold := make(chan struct{})
	e.startExecutor(&procRunner{before: ran.add, hold: hold})
	e.clear(time.Now())
	waitFor(t, "the first run", func() bool { return len(ran.all()) == 1 })
	e.crash(hold)
	// The cursor as a kill -9 leaves it when no save came after the cycle.
	if err := store.Put(context.Background(), follow.CursorKey(executor.ManagerName(pool)), []byte("0")); err != nil {
		t.Fatal(err)
	}

	e = boot(t, log, store, root)
	defer e.close()
	e.reports = map[string]executor.Report{}
	e.startExecutor(&procRunner{before: ran.add})
	r := e.report(xid(bid))
	if !r.Started || r.Attempt != 2 || r.End.Cause != events.CauseExited || !r.Died {
		t.Fatalf("report of the run again: %+v; want it ended and its agent dead", r)
	}
	e.stopExecutor()
	e.settle()
	if a := e.account("r"); a.Status != agent.StatusDead || a.Running() {
		t.Fatalf("r after its run again: %s, running %v", a.Status, a.Running())
	}
	if n := len(ran.all()); n != 2 {
		t.Fatalf("%d runs, want 2", n)
	}
	h := historyOf(t, log, xid(bid))
	h.ranOnce(t, xid(bid))
	audit(t, log)
}

// TestAllocationThatDoesNotStartJudgesItsAgent: an agent with two paid
// allocations ends the first without a bid, its second still queued: the
// second is its future. When that one does not start (its lease released
// meanwhile), nothing else would end an execution of the agent: it is
// judged then, and dies, exactly once.
func TestAllocationThatDoesNotStartJudgesItsAgent(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("q", 100, sh("exit 0"), nil)
	bids := []string{e.place("q", 2, 20, "", ""), e.place("q", 2, 20, "", "")}
	// Both are paid and queued before the executor reads the log.
	e.clear(time.Now())
	var ran runs
	var releaseErr error
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) {
		ran.add(s)
		other := xid(bids[0])
		if s.Env[executor.EnvExecutionID] == other {
			other = xid(bids[1])
		}
		releaseErr = e.svc.Release(context.Background(), other, "released by the test")
	}})
	waitFor(t, "the first run", func() bool { return len(ran.all()) == 1 })
	first := ran.all()[0].Env[executor.EnvExecutionID]
	second := xid(bids[0])
	if first == second {
		second = xid(bids[1])
	}
	if r := e.report(first); !r.Started || r.End.Cause != events.CauseExited || r.Died {
		t.Fatalf("report of the first: %+v; want it ended, its agent alive (the second awaits)", r)
	}
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	if r := e.report(second); r.Started || r.Reason != "its lease is released" || !r.Died {
		t.Fatalf("report of the second: %+v; want it not started and its agent dead", r)
	}
	e.stopExecutor()
	e.settle()
	if a := e.account("q"); a.Status != agent.StatusDead {
		t.Fatalf("q: %s, want dead", a.Status)
	}
	if n := len(ran.all()); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
	var died int
	for _, f := range facts(t, log) {
		if _, ok := f.event.(events.AgentDied); ok && f.id == "q" {
			died++
		}
	}
	if died != 1 {
		t.Fatalf("%d deaths recorded, want 1", died)
	}
	audit(t, log)
}

// TestStartUpJudgesAnIdleAgent: an agent alive after an execution of its
// own, running nothing and with no bid, is the state a crash between the
// end of an execution and its judgement leaves (here its bid is withdrawn
// while the executor is down). The next start-up judges it: it dies.
func TestStartUpJudgesAnIdleAgent(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("i", 100, sh("exit 0"), nil)
	bid := e.place("i", 2, 20, "", "")
	var again string
	var placeErr error
	e.startExecutor(&procRunner{before: func(sandbox.Spec) {
		again, _, placeErr = e.svc.Place(context.Background(), "i", "", events.BidTerms{
			Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(10)}},
			events.Credits(5))
	}})
	e.clear(time.Now())
	if r := e.report(xid(bid)); !r.Started || r.Died {
		t.Fatalf("report: %+v; want it ended, its agent alive (it bid again)", r)
	}
	if placeErr != nil {
		t.Fatal(placeErr)
	}
	e.stopExecutor()
	if err := e.svc.Withdraw(context.Background(), "i", "", again); err != nil {
		t.Fatal(err)
	}
	if a := e.account("i"); a.Status != agent.StatusAlive || a.Running() {
		t.Fatalf("i before the start-up: %s, running %v", a.Status, a.Running())
	}
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) { t.Errorf("ran: %+v", s.Env) }})
	waitFor(t, "the death of i", func() bool { return e.account("i").Status == agent.StatusDead })
	e.stopExecutor()
	audit(t, log)
}
