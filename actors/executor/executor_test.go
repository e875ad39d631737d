package executor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
)

// TestExecutionLifecycle: one cycle, four agents, real processes. Each won
// bid is paid, starts (durably, before its program), runs its agent's
// program in its workspace with its token and payload, ends once with its
// exit code, and its leases are released once, back to 0 in each market.
// At its end, an agent with no open bid dies; one with its own bid open,
// or a bid open on its behalf, lives. A crashing program was paid all the
// same and needs its bid all the same.
func TestExecutionLifecycle(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	script := `printf '%s %s %s' "$AGORA_AGENT_ID" "$AGORA_EXECUTION_ID" "$AGORA_PAYLOAD" > state.json
[ -n "$AGORA_TOKEN" ] || exit 9
exit 3`
	e.createAgent("a", 100, sh(script), map[string]string{"main.py": "print('a')\n", "lib/helper.py": "x = 1\n"})
	e.createAgent("b", 100, sh("exit 1"), nil) // crashes, has another bid
	e.createAgent("c", 100, sh("exit 0"), nil) // a bid is open on its behalf
	e.createAgent("k", 100, sh("exit 1"), nil) // crashes, has no other bid
	e.createAgent("s", 100, sh("exit 0"), nil) // the sponsor, never runs
	// 10 cpu: c (2), b (2), a (2), k (2) win; b's second bid (6) and s's
	// bid for c (8) do not fit.
	bidA := e.place("a", 2, 20, "", "hello a")
	bidB := e.place("b", 2, 21, "", "")
	bidC := e.place("c", 2, 22, "", "")
	bidK := e.place("k", 2, 19, "", "")
	openB := e.place("b", 6, 10, "", "")
	openForC := e.place("s", 8, 9, "c", "")
	e.startExecutor(&procRunner{})
	cc := e.clear(time.Now())
	if len(cc.Allocations) != 4 {
		t.Fatalf("%d allocations, want 4: %+v", len(cc.Allocations), cc.Allocations)
	}
	want := map[string]struct {
		bid  string
		code int
		dies bool
	}{
		"a": {bidA, 3, true}, "b": {bidB, 1, false}, "c": {bidC, 0, false}, "k": {bidK, 1, true},
	}
	for id, w := range want {
		r := e.report(xid(w.bid))
		if !r.Started || r.End.ExitCode != w.code || r.End.Cause != events.CauseExited || r.Died != w.dies {
			t.Errorf("%s: report %+v; want exit %d, died %v", id, r, w.code, w.dies)
		}
	}
	e.settle()
	for id, w := range want {
		h := historyOf(t, log, xid(w.bid))
		h.ranOnce(t, xid(w.bid))
		if h.start.PayerID != id || h.start.BidID != w.bid || h.start.Pool != pool || h.end.ExitCode != w.code {
			t.Errorf("%s: started %+v, ended %+v", id, h.start, h.end)
		}
		status := e.account(id).Status
		if (status == agent.StatusDead) != w.dies {
			t.Errorf("%s is %s; dies: %v", id, status, w.dies)
		}
		if got := e.account(id).ExecutionCount; got != 1 {
			t.Errorf("%s: %d executions counted", id, got)
		}
	}
	if s := e.account("s").Status; s != agent.StatusAlive {
		t.Errorf("the sponsor is %s", s)
	}
	for _, r := range cleared {
		if got := e.leased(r); got != 0 {
			t.Errorf("market %s still leases %s", r, got)
		}
	}
	// The program ran in its own workspace, with its environment.
	b, err := os.ReadFile(filepath.Join(e.ws.Root(), "a", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got, w := string(b), "a "+xid(bidA)+" hello a"; got != w {
		t.Errorf("state.json %q, want %q", got, w)
	}
	// The tokens were revoked at the end.
	eco := audit(t, log)
	if s := eco.Summary(); s.ExecutionsStarted != 4 || s.ExecutionsRunning != 0 || s.OpenBids != 2 {
		t.Errorf("summary %+v", s)
	}
	_ = openB
	_ = openForC
}

// TestTwoAgentsRunAtOnce: the programs of two agents overlap. Each program
// waits for the other's to begin, which happens only after its start is
// durable; so both starts come before either end in the log.
func TestTwoAgentsRunAtOnce(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("p", 100, sh("exit 0"), nil)
	e.createAgent("q", 100, sh("exit 0"), nil)
	bp, bq := e.place("p", 2, 20, "", ""), e.place("q", 2, 21, "", "")
	both := newBarrier(2)
	e.startExecutor(&procRunner{before: func(sandbox.Spec) { must(t, both.arrive()) }})
	e.clear(time.Now())
	e.report(xid(bp))
	e.report(xid(bq))
	e.settle()
	hp, hq := historyOf(t, log, xid(bp)), historyOf(t, log, xid(bq))
	hp.ranOnce(t, xid(bp))
	hq.ranOnce(t, xid(bq))
	if lastStart, firstEnd := max(hp.started[0], hq.started[0]), min(hp.ended[0], hq.ended[0]); lastStart > firstEnd {
		t.Fatalf("p started at %d and ended at %d, q started at %d and ended at %d: they did not overlap",
			hp.started[0], hp.ended[0], hq.started[0], hq.ended[0])
	}
	audit(t, log)
}

// TestAllocationsThatDoNotRun: an executor that starts late finds, in the
// log, a paid allocation whose lease timed out (skipped) and one whose
// runner died after it was paid for (refused by the account, its leases
// given back at once). Neither starts.
func TestAllocationsThatDoNotRun(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("late", 100, sh("exit 0"), nil)
	e.createAgent("s", 100, sh("exit 0"), nil)
	e.createAgent("d", 10, sh("exit 0"), nil)
	lateBid := e.place("late", 2, 20, "", "")
	now := time.Now()
	e.clear(now.Add(-2 * leaseTimeout)) // late wins and pays
	forD := e.place("s", 2, 20, "d", "")
	cc := e.clear(now) // late's lease times out; s's bid for d wins and is paid
	if len(cc.Expired) != 1 || len(cc.Allocations) != 1 {
		t.Fatalf("cycle %+v", cc)
	}
	if _, err := e.accounts.Do(context.Background(), "d", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) { t.Errorf("%s started", s.Env[executor.EnvExecutionID]) }})
	if r := e.report(xid(lateBid)); r.Started || !strings.Contains(r.Reason, "lease") {
		t.Errorf("late: %+v", r)
	}
	if r := e.report(xid(forD)); r.Started || !strings.Contains(r.Reason, "dead") {
		t.Errorf("d: %+v", r)
	}
	e.settle()
	for _, bid := range []string{lateBid, forD} {
		h := historyOf(t, log, xid(bid))
		if len(h.paid) != 1 || len(h.started) != 0 || len(h.ended) != 0 {
			t.Errorf("%s: paid %v, started %v, ended %v", bid, h.paid, h.started, h.ended)
		}
	}
	if h := historyOf(t, log, xid(forD)); len(h.released) != 1 || !strings.Contains(h.release.Reason, "not started") {
		t.Errorf("d's execution: released %v (%q)", h.released, h.release.Reason)
	}
	for _, m := range cleared {
		if got := e.leased(m); got != 0 {
			t.Errorf("market %s still leases %s", m, got)
		}
	}
	audit(t, log)
}

// TestDeathKillsTheProgram: an agent that dies while its program runs
// never runs on; the program is killed and its end still recorded, which
// releases its leases.
func TestDeathKillsTheProgram(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("v", 100, sh("sleep 60"), nil)
	bid := e.place("v", 2, 20, "", "")
	e.startExecutor(&procRunner{})
	e.clear(time.Now())
	waitFor(t, "the start", func() bool { return len(historyOf(t, log, xid(bid)).started) == 1 })
	if _, err := e.accounts.Do(context.Background(), "v", "", agent.Die{Reason: "operator"}); err != nil {
		t.Fatal(err)
	}
	r := e.report(xid(bid))
	if r.End.Cause != events.CauseKilled || r.Died {
		t.Fatalf("report %+v", r)
	}
	e.settle()
	historyOf(t, log, xid(bid)).ranOnce(t, xid(bid))
	audit(t, log)
}

// TestMissingWorkspaceFails: an agent without a workspace (or a program)
// cannot run; its execution starts and ends as failed, so that its leases
// come back. Its program never ran, so it had no chance to bid: the agent
// keeps its life.
func TestMissingWorkspaceFails(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	if _, err := e.accounts.Do(context.Background(), "nows", "", agent.Create{GrantMicros: events.Credits(100), Command: sh("exit 0")}); err != nil {
		t.Fatal(err)
	}
	bid := e.place("nows", 2, 20, "", "")
	e.startExecutor(&procRunner{before: func(sandbox.Spec) { t.Error("a program ran without a workspace") }})
	e.clear(time.Now())
	r := e.report(xid(bid))
	if !r.Started || r.End.Cause != events.CauseFailed || r.Died {
		t.Fatalf("report %+v", r)
	}
	e.settle()
	historyOf(t, log, xid(bid)).ranOnce(t, xid(bid))
	if a := e.account("nows"); a.Status != agent.StatusAlive {
		t.Fatalf("nows is %s", a.Status)
	}
	audit(t, log)
}

// TestDeadlineNeverOutlivesTheLease: a program whose lease ends before
// execution.timeout_seconds from now is killed before its lease ends.
func TestDeadlineNeverOutlivesTheLease(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("w", 100, sh("exit 0"), nil)
	bid := e.place("w", 2, 20, "", "")
	specs := make(chan sandbox.Spec, 1)
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) { specs <- s }})
	at := time.Now().Add(-leaseTimeout + 15*time.Second) // the lease ends in 15 s, the timeout is 20 s
	e.clear(at)
	e.report(xid(bid))
	s := <-specs
	deadline, err := time.Parse(time.RFC3339Nano, s.Env[executor.EnvDeadline])
	if err != nil {
		t.Fatalf("AGORA_DEADLINE: %v", err)
	}
	if limit := at.Add(leaseTimeout - executor.LeaseMarginMin); deadline.After(limit) || s.Timeout > 15*time.Second {
		t.Fatalf("deadline %s (in %s) is past the lease's end minus the margin, %s", deadline, s.Timeout, limit)
	}
	// The envelope is the bundle: 2 CPU seconds, 10 MiB.
	if s.CPUSeconds != 2 || s.MemoryMB != 10 || s.Processes != executor.ProcessesDefault || s.Workspace != filepath.Join(e.ws.Root(), "w") {
		t.Fatalf("spec %+v", s)
	}
	if s.Env[executor.EnvToken] == "" || s.Env[executor.EnvExecutionID] != xid(bid) || s.Env[executor.EnvAgentID] != "w" ||
		s.Env[executor.EnvURL] == "" {
		t.Fatalf("environment %v", s.Env)
	}
	// The token was valid during the run and is revoked after it.
	if _, err := e.tickets.Lookup(s.Env[executor.EnvToken], time.Now()); err == nil {
		t.Fatal("the token is still valid after the execution")
	}
	e.settle()
	audit(t, log)
}

// TestWithTheSandbox: the executor drives the real sandbox (bwrap where it
// works, rlimits otherwise): its Spec and Result are the sandbox's own.
func TestWithTheSandbox(t *testing.T) {
	sb, warning, err := sandbox.New()
	if err != nil {
		t.Skipf("no sandbox on this machine: %v", err)
	}
	defer sb.Close()
	if warning != "" {
		t.Log(warning)
	}
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("z", 100, []string{"sh", "-c", `printf '%s' "$AGORA_PAYLOAD" > state.json; exit 3`}, nil)
	bid := e.place("z", 2, 20, "", "remember me")
	e.startExecutor(sb)
	e.clear(time.Now())
	r := e.report(xid(bid))
	if !r.Started || r.End.ExitCode != 3 || r.End.Cause != events.CauseExited || !r.Died {
		t.Fatalf("report %+v", r)
	}
	b, err := os.ReadFile(filepath.Join(e.ws.Root(), "z", "state.json"))
	if err != nil || string(b) != "remember me" {
		t.Fatalf("state.json %q, %v", b, err)
	}
	e.settle()
	historyOf(t, log, xid(bid)).ranOnce(t, xid(bid))
	audit(t, log)
}

// TestCommandThatCannotStart: an agent whose own command cannot be
// executed ends its execution as failed, not exited 127, and since the
// command is the agent's and will never start, the "no bid, no future"
// rule applies to it as to a program that ran (a broken sandbox, the
// system's failure, spares the agent: TestMissingWorkspaceFails).
func TestCommandThatCannotStart(t *testing.T) {
	sb, warning, err := sandbox.New()
	if err != nil {
		t.Skipf("no sandbox on this machine: %v", err)
	}
	defer sb.Close()
	if warning != "" {
		t.Log(warning)
	}
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("y", 100, []string{"no-such-program-anywhere"}, nil)
	bid := e.place("y", 2, 20, "", "")
	e.startExecutor(sb)
	e.clear(time.Now())
	r := e.report(xid(bid))
	if !r.Started || r.End.Cause != events.CauseFailed || r.End.ExitCode != 127 || !r.Died {
		t.Fatalf("report %+v; want failed 127, and the agent dead", r)
	}
	e.settle()
	historyOf(t, log, xid(bid)).ranOnce(t, xid(bid))
	audit(t, log)
}
