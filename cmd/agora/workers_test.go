package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// workerProgram logs each run of its executions (execution id and
// attempt) in runs.log and bids for the next one through the System
// Service, which it reaches through its worker's relay. With a file SLEEP
// in its workspace, its first run sleeps (to be killed with its worker);
// its run again removes the file and goes on as the others.
const workerProgram = `import os, time, agora
c = agora.Client.from_env()
with open("runs.log", "a") as f:
    f.write(os.environ["AGORA_EXECUTION_ID"] + " " + os.environ["AGORA_ATTEMPT"] + "\n")
if os.path.exists("SLEEP"):
    if os.environ["AGORA_ATTEMPT"] == "1":
        time.sleep(120)
    os.remove("SLEEP")
c.bid({"cpu_seconds": 1, "memory_mb": 64}, 10)
`

// workerExecutions is how many executions the workers run in the test.
const workerExecutions = 100

// TestWorkersRunExecutions: an economy that leaves its executions to
// workers (execution.workers), two `agora worker` processes on its NATS
// port, and agents whose programs bid again from inside every execution.
// The executions spread over both workers; one worker is killed (kill -9)
// while it runs an agent's program: that execution runs again on the
// other worker as its attempt 2, and every agent lives on. The audit
// passes.
func TestWorkersRunExecutions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy and two workers with real executions")
	}
	needPython(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "economy:\n  genesis: false\nallocation:\n  schedule_seconds: 0.3\n" +
		"execution:\n  timeout_seconds: 30\n  workers: true\n  worker_ack_seconds: 2\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port),
		"--listen", "127.0.0.1:0", "--headless")
	apiURL := apiURLIn(t, run.waitLine("running"))

	// The workers are Agora's user on the economy's server.
	password, err := natslog.ReadPassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	workerCfg := filepath.Join(t.TempDir(), "worker.yaml")
	wc := fmt.Sprintf("nats:\n  url: %s\n  user: %s\n  password: %q\n", url, natslog.AgoraUser, password)
	if err := os.WriteFile(workerCfg, []byte(wc), 0o600); err != nil {
		t.Fatal(err)
	}
	workers := map[string]*process{}
	for _, id := range []string{"w1", "w2"} {
		workers[id] = startAgora(t, "worker", "--config", workerCfg, "--nats-url", url, "--data", filepath.Join(t.TempDir(), id),
			"--concurrency", "2", "--id", id)
	}

	client, err := os.ReadFile(filepath.Join("..", "..", "agents", "genesis", "agora.py"))
	if err != nil {
		t.Fatal(err)
	}
	token := operatorToken(t, dir)
	newAgent := func(id string, extra map[string]string) string {
		files := map[string]string{"main.py": workerProgram, "agora.py": string(client)}
		for k, v := range extra {
			files[k] = v
		}
		return createAgent(t, apiURL, token, map[string]any{"agent_id": id, "files": files,
			"command": []string{"python3", "main.py"}, "grant": 1000,
			"initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10}})
	}
	agents := []string{}
	for i := range 5 {
		agents = append(agents, newAgent(fmt.Sprintf("busy%d", i), nil))
	}

	// A third of the way, the sleeper's first execution is where a worker
	// dies: the one whose program it is.
	ended := 0
	var sleeper string
	killed := ""
	ends := map[string][]events.ExecutionEnded{}
	resumed := map[string][]events.ExecutionResumed{}
	err = followRunning(t, port, 3*time.Minute, "events.agent.>", func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		_, id, _ := events.ActorOf(r)
		switch e := e.(type) {
		case events.ExecutionResumed:
			resumed[id] = append(resumed[id], e)
		case events.ExecutionEnded:
			ends[id] = append(ends[id], e)
			ended++
			if ended == workerExecutions/3 && sleeper == "" {
				sleeper = newAgent("sleeper", map[string]string{"SLEEP": "yes\n"})
				agents = append(agents, sleeper)
				killed = killWorkerRunning(t, workers, sleeper)
			}
		}
		if ended >= workerExecutions && killed != "" && len(ends[sleeper]) >= 2 {
			return errEnough
		}
		return nil
	})
	if err != errEnough {
		t.Fatalf("after %d executions: %v; economy stderr:\n%s", ended, err, run.stderr)
	}
	stopRun(t, run)
	for id, w := range workers {
		if id != killed {
			w.stop(syscall.SIGTERM)
		}
	}

	// Both workers ran some; the killed one's last order ran again on the
	// other.
	for id, w := range workers {
		if n := strings.Count(w.stderr.String(), "work: order done"); n == 0 {
			t.Errorf("worker %s answered no order; its stderr:\n%s", id, w.stderr)
		}
	}
	first := ends[sleeper][0]
	if len(resumed[sleeper]) != 1 || resumed[sleeper][0].ExecutionID != first.ExecutionID || resumed[sleeper][0].Attempt != 2 {
		t.Errorf("sleeper's runs again: %+v; want its first execution %s once, attempt 2", resumed[sleeper], first.ExecutionID)
	}
	if first.Cause != events.CauseExited || first.ExitCode != 0 {
		t.Errorf("sleeper's first execution ended %+v", first)
	}
	for id, es := range ends {
		for _, e := range es {
			if e.Cause != events.CauseExited || e.ExitCode != 0 {
				t.Errorf("agent %s: execution %s ended %s (exit %d)", id, e.ExecutionID, e.Cause, e.ExitCode)
			}
		}
	}
	// The economy's copy of the sleeper's workspace is the store's: both
	// runs of its first execution, the first cut short, are in its log.
	b, err := os.ReadFile(filepath.Join(dir, "workspaces", sleeper, "runs.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(first.ExecutionID) + ` 2\n`).Match(b) {
		t.Errorf("sleeper's runs.log begins %q; want its first execution's attempt 2 (attempt 1 was lost with its worker)", b)
	}

	// No agent is frozen: each is alive, and runs, or has a bid, or has a
	// won and paid bid whose execution the stop kept from starting (the
	// executor starts it at the next start: its cursor stays below it).
	var list []operator.AgentSummary
	decodeJSON(t, mustRun(t, "agents", "--data", dir, "--json"), &list)
	if len(list) != len(agents) {
		t.Errorf("%d agents, want %d", len(list), len(agents))
	}
	for _, a := range list {
		var rec operator.AgentRecord
		decodeJSON(t, mustRun(t, "agent", a.AgentID, "--data", dir, "--json"), &rec)
		awaiting := rec.BidsWon > rec.ExecutionCount
		if rec.Status != "alive" || rec.ExecutionsRunning == 0 && rec.Held == 0 && !awaiting {
			t.Errorf("agent %s neither runs nor has a bid: %+v", a.AgentID, rec)
		}
	}
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
}

// killWorkerRunning waits until one of workers has taken an order of
// agent id, kills it (kill -9) and returns its name.
func killWorkerRunning(t *testing.T, workers map[string]*process, id string) string {
	t.Helper()
	taken := regexp.MustCompile(`"work: order taken" agent=` + regexp.QuoteMeta(id) + ` `)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for name, w := range workers {
			if taken.MatchString(w.stderr.String()) {
				// The program runs once its order is taken; a moment for it
				// to start is not needed: a kill before it starts loses
				// the order all the same.
				if code := w.stop(syscall.SIGKILL); code == 0 {
					t.Fatalf("worker %s exited 0 after kill -9", name)
				}
				return name
			}
		}
	}
	t.Fatalf("no worker took the order of %s", id)
	return ""
}

// TestWorkerFlags: a worker needs the economy's NATS server, and a number
// of programs at once that it can run; anything else is a usage error
// (exit 2) that starts nothing.
func TestWorkerFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"worker", "--data", t.TempDir()}, "--nats-url"},
		{[]string{"worker", "--nats-url", "nats://127.0.0.1:1", "--concurrency", "0"}, "--concurrency"},
		{[]string{"worker", "--nats-url", "nats://127.0.0.1:1", "--concurrency", "257"}, "--concurrency"},
		{[]string{"worker", "--nats-url", "http://127.0.0.1:1"}, "nats.url"},
	} {
		if r := runAgora(t, tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %s; want exit 2 naming %s", tc.args, r, tc.want)
		}
	}
}
