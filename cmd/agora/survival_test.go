package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// survivalCycles is how many executions of genesis the survival test waits
// for: each one had to win a bid genesis placed in the execution before.
const survivalCycles = 10

// TestSurvivalLoop runs the real binary with a short schedule: genesis,
// created on the fresh log with its program (agents/genesis) and its first
// bid, wins, executes in the sandbox, bids again from inside its
// execution, and executes again, cycle after cycle; then the audit of the
// whole log passes.
func TestSurvivalLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	needPython(t)
	run, dir, port, _ := startFastCycles(t)

	ended, bids := waitForExecutions(t, port, survivalCycles)
	stopRun(t, run)

	for i, e := range ended {
		if e.Cause != events.CauseExited || e.ExitCode != 0 {
			t.Errorf("execution %d of genesis ended %s with exit code %d; its output is in %s",
				i+1, e.Cause, e.ExitCode, filepath.Join(dir, "workspaces", economy.GenesisID))
		}
	}
	// The first bid is the system's; every later one genesis placed itself.
	if bids < survivalCycles {
		t.Errorf("genesis placed %d bids for %d executions: it did not rebid each time", bids, len(ended))
	}
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
	if rep.Summary.Agents != 1 || rep.Summary.AgentsAlive != 1 {
		t.Errorf("after %d executions: %d agents, %d alive; want genesis alone and alive", len(ended), rep.Summary.Agents, rep.Summary.AgentsAlive)
	}
}

// TestRunFromTheREADME runs the economy as the README says, with the data
// in ./data relative to the working directory: genesis's first execution
// runs its program (a relative data directory once made every execution
// fail to start).
func TestRunFromTheREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	needPython(t)
	cwd := t.TempDir()
	if err := os.WriteFile(filepath.Join(cwd, "agora.yaml"), []byte("allocation:\n  schedule_seconds: 0.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	run := startAgoraIn(t, cwd, "run", "--config", "agora.yaml", "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless")
	run.waitLine("running")
	ended, _ := waitForExecutions(t, port, 1)
	stopRun(t, run)
	if ended[0].Cause != events.CauseExited || ended[0].ExitCode != 0 {
		t.Fatalf("genesis's first execution with the data in ./data: %+v; stderr:\n%s", ended[0], run.stderr)
	}
	if _, err := os.Stat(filepath.Join(cwd, "data", "workspaces", economy.GenesisID, "state.json")); err != nil {
		t.Fatalf("genesis kept no state in its workspace under ./data: %v", err)
	}
}

// startFastCycles starts the real binary on a fresh data directory with
// a cycle every half second and a 20 s execution deadline, and returns it,
// its data directory, its NATS port and the address of its APIs.
func startFastCycles(t *testing.T) (run *process, dir string, port int, apiURL string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "allocation:\n  schedule_seconds: 0.5\nexecution:\n  timeout_seconds: 20\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	run = startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port),
		"--listen", "127.0.0.1:0", "--headless")
	return run, dir, port, apiURLIn(t, run.waitLine("running"))
}

// waitForExecutions reads genesis's events from the running economy until
// n of its executions have ended, and returns those ends and the number of
// bids genesis placed.
func waitForExecutions(t *testing.T, port, n int) ([]events.ExecutionEnded, int) {
	t.Helper()
	var ended []events.ExecutionEnded
	bids := 0
	err := followRunning(t, port, 3*time.Minute, events.Filter(events.KindAgent, economy.GenesisID), func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		switch e := e.(type) {
		case events.HoldPlaced:
			if e.Purpose == events.PurposeBid {
				bids++
			}
		case events.ExecutionEnded:
			ended = append(ended, e)
			if len(ended) == n {
				return errEnough
			}
		}
		return nil
	})
	if err != errEnough {
		t.Fatalf("genesis executed %d times before: %v", len(ended), err)
	}
	return ended, bids
}

var errEnough = errors.New("enough")

// observer connects to a running economy's NATS port as any client without
// credentials does (a read-only observer); the connection closes with the
// test.
func observer(t *testing.T, port int) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// followRunning follows the events of filter in the running economy on
// port, as an observer, from the first, until fn returns errEnough or
// another error, or timeout passes; it returns what ended the follow.
func followRunning(t *testing.T, port int, timeout time.Duration, filter string, fn func(events.Record) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log, err := natslog.New(ctx, observer(t, port), "")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	return log.Follow(ctx, filter, 1, fn)
}

// needPython skips a test that runs the genesis agent where python3 is
// missing, unless AGORA_REQUIRE_PYTHON=1 (CI) makes that a failure.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if os.Getenv("AGORA_REQUIRE_PYTHON") == "1" {
			t.Fatal("python3 is required (AGORA_REQUIRE_PYTHON=1) and /usr/bin/python3 is missing")
		}
		t.Skip("needs /usr/bin/python3 to run the genesis agent")
	}
}

// operatorToken reads the token `agora run` created in dir.
func operatorToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// createAgent creates an agent through the operator API of a running
// economy and returns its id.
func createAgent(t *testing.T, apiURL, token string, body map[string]any) string {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, apiURL+"/admin/agents", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /admin/agents: %d %s", res.StatusCode, answer)
	}
	var out struct {
		AgentID string `json:"agent_id"`
	}
	if err := json.Unmarshal(answer, &out); err != nil || out.AgentID == "" {
		t.Fatalf("POST /admin/agents answered %s (%v)", answer, err)
	}
	return out.AgentID
}

// agentEvents follows agent id's events in the running economy until stop
// says enough, and returns them.
func agentEvents(t *testing.T, port int, id string, stop func([]events.Event) bool) []events.Event {
	t.Helper()
	var seen []events.Event
	err := followRunning(t, port, 2*time.Minute, events.Filter(events.KindAgent, id), func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		seen = append(seen, e)
		if stop(seen) {
			return errEnough
		}
		return nil
	})
	if err != errEnough {
		t.Fatalf("agent %s: %v after %d events: %+v", id, err, len(seen), seen)
	}
	return seen
}

// first returns the first event of type T in es.
func first[T events.Event](es []events.Event) (T, bool) {
	for _, e := range es {
		if t, ok := e.(T); ok {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// TestNoBidNoFuture: an agent whose program exits without bidding dies
// when its execution ends; an agent whose program crashes still paid for
// its execution, and lives on because it bid before it crashed.
func TestNoBidNoFuture(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	needPython(t)
	run, dir, port, apiURL := startFastCycles(t)
	token := operatorToken(t, dir)
	bid := map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10}
	quitter := createAgent(t, apiURL, token, map[string]any{"agent_id": "quitter", "files": map[string]string{"main.sh": "exit 0\n"},
		"command": []string{"sh", "main.sh"}, "grant": 50, "initial_bid": bid})
	client, err := os.ReadFile(filepath.Join("..", "..", "agents", "genesis", "agora.py"))
	if err != nil {
		t.Fatal(err)
	}
	crash := "import sys, agora\nagora.Client.from_env().bid({'cpu_seconds': 1, 'memory_mb': 64}, 10)\nsys.exit(3)\n"
	crasher := createAgent(t, apiURL, token, map[string]any{"agent_id": "crasher",
		"files": map[string]string{"main.py": crash, "agora.py": string(client)}, "command": []string{"python3", "main.py"},
		"grant": 50, "initial_bid": bid})

	t.Run("an agent that exits without bidding dies", func(t *testing.T) {
		es := agentEvents(t, port, quitter, func(es []events.Event) bool { _, ok := first[events.AgentDied](es); return ok })
		end, ok := first[events.ExecutionEnded](es)
		if !ok || end.Cause != events.CauseExited || end.ExitCode != 0 {
			t.Fatalf("quitter died without a clean execution first: %+v", es)
		}
		died, _ := first[events.AgentDied](es)
		if died.Reason != "no bid, no future" {
			t.Errorf("quitter died for %q", died.Reason)
		}
		if _, ok := first[events.HoldPosted](es); !ok {
			t.Errorf("quitter executed without paying: %+v", es)
		}
	})
	t.Run("a crashing program still pays and lives by the bid it placed", func(t *testing.T) {
		es := agentEvents(t, port, crasher, func(es []events.Event) bool {
			n := 0
			for _, e := range es {
				if _, ok := e.(events.ExecutionEnded); ok {
					n++
				}
			}
			return n >= 2
		})
		for _, e := range es {
			switch e := e.(type) {
			case events.ExecutionEnded:
				if e.Cause != events.CauseExited || e.ExitCode != 3 {
					t.Errorf("crasher's execution ended %s with %d; want exited with 3", e.Cause, e.ExitCode)
				}
			case events.AgentDied:
				t.Fatalf("crasher died although it bid before crashing: %+v", es)
			}
		}
		posted := 0
		for _, e := range es {
			if _, ok := e.(events.HoldPosted); ok {
				posted++
			}
		}
		if posted < 2 {
			t.Errorf("crasher ran twice and paid %d times", posted)
		}
	})
	// agora agents and agora agent ask the running economy's operator API,
	// and read the log once it has stopped: the same records either way.
	checkDirectory := func(t *testing.T) {
		var list []operator.AgentSummary
		decodeJSON(t, mustRun(t, "agents", "--data", dir, "--json"), &list)
		if len(list) != 3 || list[0].AgentID != "crasher" || list[1].AgentID != economy.GenesisID || list[2].AgentID != "quitter" {
			t.Fatalf("agora agents: %+v", list)
		}
		var rec operator.AgentRecord
		decodeJSON(t, mustRun(t, "agent", "quitter", "--data", dir, "--json"), &rec)
		if rec.Status != "dead" || rec.DeathReason != "no bid, no future" || rec.ExecutionCount != 1 ||
			rec.LastExecution == nil || rec.LastExecution.Cause != events.CauseExited || rec.Balance != 0 {
			t.Fatalf("agora agent quitter: %+v", rec)
		}
		if r := runAgora(t, "agent", "nobody", "--data", dir); r.code != 1 || !strings.Contains(r.stderr, "nobody") {
			t.Fatalf("agora agent nobody: %s", r)
		}
	}
	t.Run("agents and agent through the running economy", checkDirectory)
	stopRun(t, run)
	t.Run("agents and agent from the stopped economy's log", checkDirectory)
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
}
