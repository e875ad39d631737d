package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
)

// TestExplicitURLIsNotReplacedByTheLog: with --url given and nothing
// answering there, the one-shot commands that ask a running economy fail
// naming the URL, rather than silently reading the log of --data; without
// --url they read the log.
func TestExplicitURLIsNotReplacedByTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	mustRun(t, "load", "--data", dir, "--agents", "2", "--transfers", "1", "--concurrency", "1", "--seed", "1")
	nothing := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cases := [][]string{{"status"}, {"agents"}, {"agent", "load-0000"}}
	for _, args := range cases {
		mustRun(t, append(args, "--data", dir)...) // the log, there being no economy
	}
	// No operator token in dir: the URL cannot be asked either.
	for _, args := range cases {
		r := runAgora(t, append(args, "--data", dir, "--url", nothing)...)
		if r.code == 0 || !strings.Contains(r.stderr, "--url "+nothing) || !strings.Contains(r.stderr, "no operator token") || r.stdout != "" {
			t.Errorf("agora %s --url %s without a token: %s", args[0], nothing, r)
		}
	}
	token := filepath.Join(dir, operatorTokenFile)
	if err := os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range cases {
		r := runAgora(t, append(args, "--data", dir, "--url", nothing)...)
		if r.code == 0 || !strings.Contains(r.stderr, "--url "+nothing+": no running economy answers there") || r.stdout != "" {
			t.Errorf("agora %s --url %s: %s", args[0], nothing, r)
		}
		mustRun(t, append(args, "--data", dir)...)
	}
}

// TestHistoryOfAnUnknownAgent: `history --agent` of an agent the log
// never created exits 1 with a message, as `agent` does; an agent that
// exists is listed.
func TestHistoryOfAnUnknownAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	mustRun(t, "load", "--data", dir, "--agents", "2", "--transfers", "1", "--concurrency", "1", "--seed", "1")
	for _, args := range [][]string{{"history", "--agent", "nosuch"}, {"history", "--agent", "nosuch", "--json"}, {"agent", "nosuch"}} {
		r := runAgora(t, append(args, "--data", dir)...)
		if r.code != 1 || !strings.Contains(r.stderr, "no agent nosuch in the log") || r.stdout != "" {
			t.Errorf("agora %s: want exit 1 saying there is no such agent: %s", strings.Join(args, " "), r)
		}
	}
	r := mustRun(t, "history", "--agent", "load-0000", "--data", dir)
	if !strings.Contains(r.stdout, "load-0000") {
		t.Errorf("history --agent load-0000 lists nothing of it:\n%s", r.stdout)
	}
}

// TestAgentShowsWhatItsDeathBurned: the text view of a dead agent says
// what its death burned, as --json does.
func TestAgentShowsWhatItsDeathBurned(t *testing.T) {
	died := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	rec := operator.AgentRecord{AgentID: "zed", Status: "dead", DiedAt: &died, DeathReason: "broke",
		DeathBurned: 7_500_000, Balance: 0}
	var out bytes.Buffer
	if err := printAgent(&out, rec); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"burned at death", events.Micros(7_500_000).String() + " (what was left"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the text view lacks %q:\n%s", want, out.String())
		}
	}
}

// TestAgentShowsWhatItsLastExecutionUsed: the text view of an agent says
// what its last execution used, the inference tokens among it.
func TestAgentShowsWhatItsLastExecutionUsed(t *testing.T) {
	code := 0
	rec := operator.AgentRecord{AgentID: "thinker", Status: "alive", LastExecution: &operator.LastExecution{
		ExecutionID: "x-1", Cause: events.CauseExited, ExitCode: &code, CPUMillis: 412, MemoryPeakKB: 18344, TokensUsed: 74}}
	var out bytes.Buffer
	if err := printAgent(&out, rec); err != nil {
		t.Fatal(err)
	}
	if want := "used 412 ms of CPU, 18344 KiB of memory at most, 74 inference tokens"; !strings.Contains(out.String(), want) {
		t.Errorf("the text view lacks %q:\n%s", want, out.String())
	}
}
