package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// rerunProgram records each run of its executions in runs.log (attempt,
// execution id, payload, and the envelope GET /system/execution shows),
// sleeps through the first run of the execution its first bid won (to be
// cut short), and in the run again bids for one more execution only when
// told to (BID_AGAIN in its files). That execution, with payload "again",
// ends without a bid.
const rerunProgram = `import json, os, sys, time, agora
c = agora.Client.from_env()
attempt, payload = os.environ["AGORA_ATTEMPT"], os.environ.get("AGORA_PAYLOAD", "")
allocated = {k: str(v) for k, v in c.execution()["allocated"].items()}
with open("runs.log", "a") as f:
    f.write(json.dumps({"attempt": attempt, "execution": os.environ["AGORA_EXECUTION_ID"], "payload": payload,
                        "allocated": allocated}) + "\n")
if payload == "first" and attempt == "1":
    time.sleep(120)
if payload == "first" and os.path.exists("BID_AGAIN"):
    c.bid({"cpu_seconds": 1, "memory_mb": 64}, 10, payload="again")
sys.exit(0)
`

// run is one line of runs.log.
type programRun struct {
	Attempt   string            `json:"attempt"`
	Execution string            `json:"execution"`
	Payload   string            `json:"payload"`
	Allocated map[string]string `json:"allocated"`
}

// programRuns reads runs.log of agent id's workspace.
func programRuns(t *testing.T, dir, id string) []programRun {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "workspaces", id, "runs.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	// The program may be writing its line right now: only whole lines
	// (ended by a newline) are read; an empty file has none yet.
	whole := string(b[:bytes.LastIndexByte(b, '\n')+1])
	var out []programRun
	for _, line := range strings.Split(strings.TrimSpace(whole), "\n") {
		if line == "" {
			continue
		}
		var r programRun
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("runs.log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestStopDuringAnExecution: Ctrl-C (SIGINT) while an agent's program runs.
// The execution is not ended; at the next start it runs again once, with
// the same execution id, envelope and payload, not paid again; in that run
// the program bids again, and that bid's execution, which ends without a
// bid, is its last: the agent dies by "no bid, no future". No agent is
// left neither running nor dead; the audit passes.
func TestStopDuringAnExecution(t *testing.T) {
	testInterruptedExecution(t, syscall.SIGINT, true)
}

// TestKillNineDuringAnExecution: `agora run` is killed with SIGKILL while
// an agent's program runs. At the next start the execution runs again
// once, with the same envelope and payload, not paid again; the program
// does not bid in that run and its agent dies by "no bid, no future".
// Genesis is not created again; the audit passes.
func TestKillNineDuringAnExecution(t *testing.T) {
	testInterruptedExecution(t, syscall.SIGKILL, false)
}

func testInterruptedExecution(t *testing.T, sig syscall.Signal, bidsAgain bool) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	needPython(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(cfgFile, []byte("allocation:\n  schedule_seconds: 0.5\nexecution:\n  timeout_seconds: 60\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := os.ReadFile(filepath.Join("..", "..", "agents", "genesis", "agora.py"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"main.py": rerunProgram, "agora.py": string(client)}
	if bidsAgain {
		files["BID_AGAIN"] = "yes\n"
	}
	port := freePort(t)
	args := []string{"run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless"}
	run := startAgora(t, args...)
	apiURL := apiURLIn(t, run.waitLine("running"))
	sleeper := createAgent(t, apiURL, operatorToken(t, dir), map[string]any{"agent_id": "sleeper",
		"files": files, "command": []string{"python3", "main.py"}, "grant": 50,
		"initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10, "payload": "first"}})
	es := agentEvents(t, port, sleeper, func(es []events.Event) bool { _, ok := first[events.ExecutionStarted](es); return ok })
	started, _ := first[events.ExecutionStarted](es)
	// The signal comes once the program runs (it wrote its first line).
	for deadline := time.Now().Add(2 * time.Minute); len(programRuns(t, dir, sleeper)) == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the program of execution %s never ran", started.ExecutionID)
		}
	}
	code := run.stop(sig)
	if sig == syscall.SIGKILL && code == 0 || sig != syscall.SIGKILL && code != 0 {
		t.Fatalf("agora exited %d after %s", code, sig)
	}

	run = startAgora(t, args...)
	run.waitLine("running")
	es = agentEvents(t, port, sleeper, func(es []events.Event) bool { _, ok := first[events.AgentDied](es); return ok })
	var resumed []events.ExecutionResumed
	ends := map[string][]events.ExecutionEnded{}
	starts, payments := map[string]int{}, map[string]int{}
	for _, e := range es {
		switch e := e.(type) {
		case events.ExecutionStarted:
			starts[e.ExecutionID]++
		case events.ExecutionResumed:
			resumed = append(resumed, e)
		case events.ExecutionEnded:
			ends[e.ExecutionID] = append(ends[e.ExecutionID], e)
		case events.HoldPosted:
			payments[e.ExecutionID]++
		}
	}
	xid := started.ExecutionID
	if starts[xid] != 1 || payments[xid] != 1 || len(ends[xid]) != 1 || ends[xid][0].Cause != events.CauseExited {
		t.Fatalf("execution %s: %d starts, %d payments, ends %+v; want each once, exited", xid, starts[xid], payments[xid], ends[xid])
	}
	if len(resumed) != 1 || resumed[0].ExecutionID != xid || resumed[0].Attempt != 2 {
		t.Fatalf("resumed %+v; want %s once, attempt 2", resumed, xid)
	}
	want := map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}
	if len(started.Resources) != len(want) || started.Resources["cpu_seconds"] != want["cpu_seconds"] || started.Resources["memory_mb"] != want["memory_mb"] {
		t.Errorf("execution %s started with %v", xid, started.Resources)
	}
	died, _ := first[events.AgentDied](es)
	if died.Reason != "no bid, no future" {
		t.Errorf("sleeper died for %q", died.Reason)
	}
	// What each run of the program saw.
	runs := programRuns(t, dir, sleeper)
	envelope := map[string]string{"cpu_seconds": "1", "memory_mb": "64"}
	wantRuns := []programRun{{"1", xid, "first", envelope}, {"2", xid, "first", envelope}}
	if bidsAgain {
		if len(runs) == 3 {
			wantRuns = append(wantRuns, programRun{"1", runs[2].Execution, "again", envelope})
		}
		if len(starts) != 2 || len(payments) != 2 {
			t.Errorf("%d executions started, %d paid; want the run again's bid to win once", len(starts), len(payments))
		}
	}
	if !slices.EqualFunc(runs, wantRuns, func(a, b programRun) bool {
		return a.Attempt == b.Attempt && a.Execution == b.Execution && a.Payload == b.Payload &&
			a.Allocated["cpu_seconds"] == b.Allocated["cpu_seconds"] && a.Allocated["memory_mb"] == b.Allocated["memory_mb"]
	}) {
		t.Errorf("runs of the program:\n%+v\nwant\n%+v", runs, wantRuns)
	}
	genesisEvents := agentEvents(t, port, economy.GenesisID, func(es []events.Event) bool { _, ok := first[events.ExecutionEnded](es); return ok })
	n := 0
	for _, e := range genesisEvents {
		if _, ok := e.(events.AgentCreated); ok {
			n++
		}
	}
	if n != 1 {
		t.Errorf("genesis was created %d times", n)
	}
	// A clean stop halts the executor and waits for the managers to
	// release what ended before it (economy.Economy.Stop): genesis runs
	// every half second, so an end lands just before the stop now and then.
	stopRun(t, run)
	// No agent is frozen: each is dead, runs (an execution the stop cut
	// short runs again at the next start), or has a bid.
	var list []operator.AgentSummary
	decodeJSON(t, mustRun(t, "agents", "--data", dir, "--json"), &list)
	for _, a := range list {
		var rec operator.AgentRecord
		decodeJSON(t, mustRun(t, "agent", a.AgentID, "--data", dir, "--json"), &rec)
		if rec.Status != "dead" && rec.ExecutionsRunning == 0 && rec.Held == 0 {
			t.Errorf("agent %s is neither running nor dead, and has no bid: %+v", a.AgentID, rec)
		}
	}
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
	if rep.Summary.UnreleasedEnds != 0 {
		t.Errorf("after a clean stop: %d executions ended with their leases held", rep.Summary.UnreleasedEnds)
	}
}
