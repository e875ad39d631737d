package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/program"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// agentSubjects counts the messages of every agent subject in the running
// economy's log: what a refused operator command must leave as it was.
// (The clearing cycles write market events on their own, so the whole
// stream is not quiet.)
func agentSubjects(t *testing.T, port int) map[string]uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	js := observer(t, port)
	st, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.SubjectRoot+"."+string(events.KindAgent)+".>"))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects
}

// TestOperatorPowers runs the real binary with economy.genesis: false: the
// economy starts with no agent; the operator adds one from a folder, funds
// it (a retried grant applies once), bids for it, it runs, and the
// operator kills it while its program runs. Every bad command fails with
// a clear message and changes nothing; the audit of the whole log passes.
func TestOperatorPowers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with a real execution")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "economy:\n  genesis: false\nallocation:\n  schedule_seconds: 0.5\nexecution:\n  timeout_seconds: 60\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless")
	run.waitLine("running")
	data := []string{"--data", dir}
	agora := func(args ...string) result { return runAgora(t, append(args, data...)...) }
	must := func(args ...string) result { return mustRun(t, append(args, data...)...) }

	var list []operator.AgentSummary
	decodeJSON(t, must("agents", "--json"), &list)
	if len(list) != 0 {
		t.Fatalf("with genesis: false the economy starts with agents %+v", list)
	}

	// The agent's program: it runs until the operator kills it.
	prog := filepath.Join(t.TempDir(), "worker")
	if err := os.MkdirAll(filepath.Join(prog, "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	for p, content := range map[string]string{"main.sh": ". lib/wait.sh\n", "lib/wait.sh": "echo started > started.txt\nsleep 60\n"} {
		if err := os.WriteFile(filepath.Join(prog, p), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := must("agent", "add", prog, "--command", "sh main.sh", "--grant", "50", "--id", "worker")
	if !strings.Contains(out.stdout, "added agent worker (2 files, grant 50)") {
		t.Fatalf("agora agent add: %s", out)
	}
	for range 2 { // the same Idempotency-Key twice: one grant
		out = must("agent", "fund", "worker", "10", "--reason", "seed money", "--idempotency-key", "fund-worker-1")
		if !strings.Contains(out.stdout, "granted 10 credits to worker (seed money)") {
			t.Fatalf("agora agent fund: %s", out)
		}
	}
	var rec operator.AgentRecord
	decodeJSON(t, must("agent", "worker", "--json"), &rec)
	if rec.Status != "alive" || rec.Balance != 60_000_000 || rec.Earned.Grant != 60_000_000 || rec.CreationReason != "operator" ||
		strings.Join(rec.Command, " ") != "sh main.sh" {
		t.Fatalf("worker after add and a grant sent twice: %+v", rec)
	}

	t.Run("bad commands fail clearly and change nothing", func(t *testing.T) {
		before := agentSubjects(t, port)
		if before["events.agent.worker.agent_created"] != 1 || before["events.agent.worker.credits_granted"] != 1 {
			t.Fatalf("the worker's subjects before the refused commands: %v", before)
		}
		outside := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(outside, []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		linked := t.TempDir()
		if err := os.WriteFile(filepath.Join(linked, "main.sh"), []byte("true\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(linked, "key")); err != nil {
			t.Fatal(err)
		}
		big := t.TempDir()
		if err := os.WriteFile(filepath.Join(big, "big.txt"), []byte(strings.Repeat("x", program.FileBytesMax+1)), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			args  []string
			code  int
			words []string
		}{
			{[]string{"agent", "add", filepath.Join(prog, "nope"), "--command", "sh main.sh", "--grant", "5"}, 2, []string{"nope does not exist"}},
			{[]string{"agent", "add", linked, "--command", "sh main.sh", "--grant", "5"}, 2, []string{"key is a symbolic link", "outside the folder"}},
			{[]string{"agent", "add", big, "--command", "sh main.sh", "--grant", "5"}, 2, []string{"big.txt", "larger than"}},
			{[]string{"agent", "add", prog, "--grant", "5"}, 2, []string{"--command is required"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh"}, 2, []string{"--grant is required"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "0"}, 2, []string{"--grant", "not positive"}},
			{[]string{"agent", "add", prog, "--command", "[\"sh\", 1]", "--grant", "5"}, 2, []string{"--command", "not a string"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "5", "--bid", "cpu_seconds=1,memory_mb=64"}, 2, []string{"--bid", "no amount"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "5", "--bid", "cpu_seconds=1,memory_mb=64,amount=20"}, 1, []string{"above the grant", "422"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "50", "--bid", "cpu_seconds=1,memory_mb=64,amount=1"}, 1, []string{"reserve", "422"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "5", "--id", "worker"}, 1, []string{"already exists", "409"}},
			{[]string{"agent", "add", prog, "--command", "sh main.sh", "--grant", "5", "--id", "Bad.Id"}, 2, []string{"--id"}},
			{[]string{"agent", "fund", "nobody", "5"}, 1, []string{"unknown agent: nobody", "404"}},
			{[]string{"agent", "fund", "worker", "1.0000001"}, 2, []string{"more than 6 decimals"}},
			{[]string{"agent", "fund", "worker", "0"}, 2, []string{"not positive"}},
			{[]string{"agent", "fund", "worker", "1000000000000"}, 1, []string{"balance would exceed the maximum", "409"}},
			{[]string{"agent", "fund", "worker"}, 1, []string{"accepts 2 arg(s)"}},
			{[]string{"agent", "bid", "worker", "cpu_seconds=1,memory_mb=64,amount=1000"}, 1, []string{"insufficient credits", "409"}},
			{[]string{"agent", "bid", "worker", "memory_mb=64,amount=20"}, 1, []string{"every bundle names cpu_seconds", "422"}},
			{[]string{"agent", "bid", "worker", "cpu_seconds=1,memory_mb=64,attention=1,amount=59"}, 1, []string{"attention", "422"}},
			{[]string{"agent", "bid", "worker", "cpu_seconds=1,memory_mb=64,gpus=1,amount=59"}, 1, []string{"unknown resource", "gpus"}},
			{[]string{"agent", "bid", "worker", "cpu_seconds=1,memory_mb=64"}, 2, []string{"no amount"}},
			{[]string{"agent", "bid", "nobody", "cpu_seconds=1,memory_mb=64,amount=20"}, 1, []string{"unknown agent: nobody"}},
			{[]string{"agent", "kill", "nobody"}, 1, []string{"unknown agent: nobody", "404"}},
			{[]string{"agent", "kill", "Worker"}, 2, []string{"agent id"}},
			{[]string{"agent", "kill", "worker", "--idempotency-key", "has space"}, 2, []string{"--idempotency-key"}},
			{[]string{"agent", "kill", "worker", "--url", "http://127.0.0.1:1"}, 1, []string{"no running economy answers"}},
		} {
			r := agora(c.args...)
			if r.code != c.code {
				t.Errorf("agora %s: exit %d, want %d\n%s", strings.Join(c.args, " "), r.code, c.code, r)
				continue
			}
			for _, w := range c.words {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("agora %s: stderr does not say %q\n%s", strings.Join(c.args, " "), w, r)
				}
			}
			if strings.Contains(r.stderr, "s3cret") {
				t.Errorf("agora %s shows a linked file's content: %s", strings.Join(c.args, " "), r)
			}
		}
		if after := agentSubjects(t, port); !maps.Equal(after, before) {
			t.Fatalf("refused commands wrote agent events:\nbefore %v\nafter  %v", before, after)
		}
		var rec operator.AgentRecord
		decodeJSON(t, must("agent", "worker", "--json"), &rec)
		if rec.Status != "alive" || rec.Balance != 60_000_000 || rec.Held != 0 || rec.BidsPlaced != 0 {
			t.Fatalf("worker after refused commands: %+v", rec)
		}
	})

	// An agent added with its first bid runs at once, with the bid's
	// payload, and dies when it ends without a bid.
	once := filepath.Join(t.TempDir(), "once")
	if err := os.MkdirAll(once, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(once, "main.sh"), []byte("printf %s \"$AGORA_PAYLOAD\" > payload.txt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out = must("agent", "add", once, "--command", `["sh", "main.sh"]`, "--grant", "30", "--id", "once",
		"--bid", "cpu_seconds=1,memory_mb=64,amount=10", "--payload", "hello world")
	if !strings.Contains(out.stdout, "added agent once (1 files, grant 30, first bid of 10)") {
		t.Fatalf("agora agent add --bid: %s", out)
	}
	es := agentEvents(t, port, "once", func(es []events.Event) bool { _, ok := first[events.AgentDied](es); return ok })
	if end, ok := first[events.ExecutionEnded](es); !ok || end.Cause != events.CauseExited || end.ExitCode != 0 {
		t.Fatalf("the agent added with a first bid: %+v", es)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "workspaces", "once", "payload.txt")); err != nil || string(b) != "hello world" {
		t.Fatalf("the first bid's payload in the execution: %q, %v", b, err)
	}

	out = must("agent", "bid", "worker", "cpu_seconds=1,memory_mb=64,amount=20", "--payload", "work")
	if !strings.Contains(out.stdout, "for worker: open") && !strings.Contains(out.stdout, "for worker: won") {
		t.Fatalf("agora agent bid: %s", out)
	}
	es = agentEvents(t, port, "worker", func(es []events.Event) bool { _, ok := first[events.ExecutionStarted](es); return ok })
	started, _ := first[events.ExecutionStarted](es)
	if paid, ok := first[events.HoldPosted](es); !ok || paid.AmountMicros != events.Credits(20) {
		t.Fatalf("the worker's execution started without its bid paid: %+v", es)
	}
	out = must("agent", "kill", "worker", "--reason", "done", "--json")
	var killed struct {
		Status string      `json:"status"`
		Reason string      `json:"reason"`
		Burned json.Number `json:"burned"`
	}
	decodeJSON(t, out, &killed)
	if killed.Status != "dead" || killed.Reason != agent.KilledByOperator+": done" || killed.Burned != "40" {
		t.Fatalf("agora agent kill: %s", out)
	}
	es = agentEvents(t, port, "worker", func(es []events.Event) bool { _, ok := first[events.ExecutionEnded](es); return ok })
	ended, _ := first[events.ExecutionEnded](es)
	if ended.ExecutionID != started.ExecutionID || ended.Cause != events.CauseKilled {
		t.Fatalf("the killed worker's execution ended %+v; want %s killed", ended, started.ExecutionID)
	}
	if r := agora("agent", "kill", "worker"); r.code != 1 || !strings.Contains(r.stderr, "agent is dead: worker") {
		t.Fatalf("a second kill: %s", r)
	}

	stopRun(t, run)
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
	if rep.Summary.Agents != 2 || rep.Summary.AgentsAlive != 0 || rep.Summary.MintedMicros != events.Credits(90) ||
		rep.Summary.BurnedMicros != events.Credits(90) || rep.Summary.ExecutionsRunning != 0 {
		t.Fatalf("audit summary %+v", rep.Summary)
	}
	// From the stopped economy's log: the record says who killed it.
	decodeJSON(t, must("agent", "worker", "--json"), &rec)
	if rec.Status != "dead" || rec.DeathReason != agent.KilledByOperator+": done" || rec.ExecutionCount != 1 ||
		rec.LastExecution == nil || rec.LastExecution.Cause != events.CauseKilled || rec.Earned.Grant != 60_000_000 {
		t.Fatalf("the dead worker's record: %+v", rec)
	}
	hist := must("history", "--agent", "worker")
	for _, line := range []string{"grant", "hold_posted", "death_burn"} {
		if !strings.Contains(hist.stdout, line) {
			t.Errorf("agora history --agent worker lacks %s:\n%s", line, hist.stdout)
		}
	}
}
