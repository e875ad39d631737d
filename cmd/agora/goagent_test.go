package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// goAgentExecutions is how many executions of the Go agent the test waits
// for: each after the first had to win a bid the agent placed, with actor
// messages, in the execution before.
const goAgentExecutions = 3

// TestGoAgentInTheSandbox: a Go agent (agents/saver), built static and run
// by the executor in the sandbox like any program, talks to the economy
// with the System Service's actor messages through system.SpawnClient: it
// bids again in each execution, so it executes again; the audit passes.
func TestGoAgentInTheSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	saver := buildSaver(t)
	run, dir, port, apiURL := startFastCycles(t)

	// The operator API takes text files, so the binary is copied into the
	// workspace after the agent is created; run.sh waits for it, whatever
	// the first cycle's timing.
	wait := "while [ ! -x ./saver ]; do sleep 0.05; done\nexec ./saver\n"
	id := createAgent(t, apiURL, operatorToken(t, dir), map[string]any{"agent_id": "saver",
		"files": map[string]string{"run.sh": wait}, "command": []string{"sh", "run.sh"}, "grant": 100,
		"initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 128}, "amount": 10}})
	installExecutable(t, saver, filepath.Join(dir, economy.WorkspacesDir, id, "saver"))

	es := agentEvents(t, port, id, func(es []events.Event) bool {
		_, died := first[events.AgentDied](es)
		return died || len(ofType[events.ExecutionEnded](es)) >= goAgentExecutions
	})
	stopRun(t, run)
	for i, end := range ofType[events.ExecutionEnded](es) {
		if end.Cause != events.CauseExited || end.ExitCode != 0 {
			out, _ := os.ReadFile(filepath.Join(dir, economy.WorkspacesDir, id, ".agora", "output.log"))
			t.Errorf("execution %d of the Go agent ended %s with exit code %d; its output:\n%s", i+1, end.Cause, end.ExitCode, out)
		}
	}
	// The first hold is the operator's first bid; the agent placed the rest.
	if holds := len(ofType[events.HoldPlaced](es)); holds < goAgentExecutions {
		t.Errorf("%d holds for %d executions: the Go agent did not bid again each time: %+v", holds, goAgentExecutions, es)
	}
	if _, ok := first[events.AgentDied](es); ok {
		t.Errorf("the Go agent died: %+v", es)
	}
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
}

// buildSaver builds agents/saver static (the sandbox shows the program
// the host's /usr and /lib, but a static binary needs neither).
func buildSaver(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "saver")
	cmd := exec.Command(goTool, "build", "-o", out, "../../agents/saver")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build agents/saver: %v\n%s", err, b)
	}
	return out
}

// installExecutable copies src to dst under another name first, so that
// a program waiting for dst never sees it half written.
func installExecutable(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".part"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// ofType is the events of type T among es, in order.
func ofType[T events.Event](es []events.Event) []T {
	var out []T
	for _, e := range es {
		if v, ok := e.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
