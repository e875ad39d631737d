package economy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// resumeProgram runs until it is stopped the first time, and exits at
// once the next: the execution a stop cuts short, run again at the start.
const resumeProgram = `import os, time
if os.path.exists("ran"):
    raise SystemExit(0)
open("ran", "w").close()
time.sleep(600)
`

// TestARestartLoadsOnlyWhatHasWorkPending: an economy stopped with many
// dead agents, an execution running, a bid open and a transfer in flight
// starts again with none of the dead agents loaded, only the agent whose
// execution was cut short loaded by Resume, and no agent awake but the
// living; then the execution runs again and ends, the transfer is
// settled, the bid is still open in the book, a command to a dead agent
// is refused (waking it for the answer, after which it sleeps again), and
// the audit passes.
func TestARestartLoadsOnlyWhatHasWorkPending(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an economy with a real execution")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	cfg.Economy.Genesis, cfg.Server.Listen = false, "127.0.0.1:0"
	// Cycles only when the test runs one; actors asleep soon after use.
	cfg.Allocation.ScheduleSeconds, cfg.Execution.TimeoutSeconds, cfg.Runtime.IdleSeconds = 3600, 900, 0.1
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(start bool) (*Node, *Economy) {
		t.Helper()
		n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, logger)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(n)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		if start {
			e.Start()
		}
		return n, e
	}

	// The first run: dead agents, an execution running, an open bid.
	n, e := open(true)
	serving, err := e.Serve(ctx)
	if err != nil {
		e.Stop()
		n.Close()
		if strings.Contains(err.Error(), "sandbox") {
			t.Skipf("no sandbox on this machine: %v", err)
		}
		t.Fatal(err)
	}
	var dead []string
	for i := range 30 {
		id := fmt.Sprintf("dead%02d", i)
		dead = append(dead, id)
		if _, err := e.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(5), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.accounts.Do(ctx, id, "", agent.Die{Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	token, err := os.ReadFile(serving.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"main.py": resumeProgram, "agora.py": string(genesis.Files()["agora.py"])}
	body, _ := json.Marshal(map[string]any{"agent_id": "runner", "files": files, "command": []string{"python3", "main.py"},
		"grant": 50, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 64}, "amount": 30}})
	var created struct {
		AgentID string `json:"agent_id"`
	}
	operatorCall(t, ctx, "POST", "http://"+serving.Addr.String()+"/admin/agents", strings.TrimSpace(string(token)), body, &created)
	settled(t, ctx, e)
	sched := e.Scheduler()
	sched.Clock = time.Now
	if err := sched.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		a, err := e.accounts.Get(ctx, "runner")
		if err != nil {
			t.Fatal(err)
		}
		// Running, and the program started (it leaves a mark).
		if _, err := os.Stat(filepath.Join(cfg.Data.Dir, WorkspacesDir, "runner", "ran")); err == nil && a.Running() {
			break
		}
		if ctx.Err() != nil || a.Status != agent.StatusAlive {
			t.Fatalf("runner's execution did not start: %+v", a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	terms, amount, err := e.genesisFirstBid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"bidder", "sender", "receiver"} {
		if _, err := e.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(100), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := e.Clearing().Place(ctx, "bidder", "", terms, amount); err != nil {
		t.Fatal(err)
	}
	e.Stop() // the program is cut short: it runs again at the next start
	n.Close()

	// A transfer written with no manager to settle it: in flight.
	n, e = open(false)
	if _, err := e.accounts.Transfer(ctx, "sender", "t1", agent.Transfer{TransferID: "t1", To: "receiver",
		AmountMicros: events.Credits(7)}); err != nil {
		t.Fatal(err)
	}
	e.Stop()
	n.Close()

	// The restart.
	n, e = open(true)
	defer n.Close()
	defer e.Stop()
	loaded, err := e.Resume(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded != 1 || !e.host.IsAwake(events.KindAgent, "runner") {
		t.Fatalf("Resume loaded %d agents (runner awake: %v); want the one whose execution was cut short", loaded,
			e.host.IsAwake(events.KindAgent, "runner"))
	}
	living := []string{"runner", "bidder", "sender", "receiver"}
	awakeAgents := func() []string {
		var out []string
		for _, id := range append(slices.Clone(living), dead...) {
			if e.host.IsAwake(events.KindAgent, id) {
				out = append(out, id)
			}
		}
		return out
	}
	for _, id := range awakeAgents() {
		if !slices.Contains(living, id) {
			t.Fatalf("after Resume the dead agent %s is awake (awake: %v)", id, awakeAgents())
		}
	}
	if _, err := e.Serve(ctx); err != nil {
		t.Fatal(err)
	}
	var ended events.ExecutionEnded
	for ended.ExecutionID == "" {
		if ctx.Err() != nil {
			t.Fatal("the execution cut short did not end after the restart")
		}
		ended = executionEnded(t, ctx, e, "runner")
		time.Sleep(20 * time.Millisecond)
	}
	if ended.Cause != events.CauseExited || ended.ExitCode != 0 {
		t.Fatalf("the execution run again ended %+v", ended)
	}
	if types := typesOf(t, ctx, e, events.Filter(events.KindAgent, "runner")); count(types, events.ExecutionResumed{}.EventType()) != 1 {
		t.Fatalf("runner's events %v: want one execution_resumed", types)
	}
	settled(t, ctx, e)
	if r, err := e.accounts.Get(ctx, "receiver"); err != nil || r.BalanceMicros != events.Credits(107) {
		t.Fatalf("receiver after the restart: %+v, %v; want the transfer in flight settled (107)", r, err)
	}
	bidOpen, err := runtime.Inspect(ctx, e.host, events.KindClearing, Pool, func(b clearing.Book) bool { return b.HasOpenBid("bidder") })
	if err != nil || !bidOpen {
		t.Fatalf("bidder's bid open in the book after the restart: %v, %v", bidOpen, err)
	}
	for _, id := range awakeAgents() {
		if !slices.Contains(living, id) {
			t.Fatalf("after the restart's work the dead agent %s is awake (awake: %v)", id, awakeAgents())
		}
	}
	// A command to a dead agent wakes it to be refused; it sleeps again.
	if _, err := e.accounts.Do(ctx, dead[0], "", agent.Burn{AmountMicros: 1, Reason: "test"}); !errors.Is(err, agent.ErrAgentDead) {
		t.Fatalf("a burn of a dead agent: %v; want ErrAgentDead", err)
	}
	for e.host.IsAwake(events.KindAgent, dead[0]) {
		if ctx.Err() != nil {
			t.Fatal("the dead agent woken by a command did not sleep again")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := audit(t, ctx, e); s.OpenTransfers != 0 || s.InFlightMicros != 0 {
		t.Fatalf("audit after the restart: %+v", s)
	}
}
