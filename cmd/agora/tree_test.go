package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// familyEconomy writes a family into the log of a fresh data directory,
// through the accounts of an economy run in this process as `agora run`
// runs it (its operator API serving), as spawns will write it
// (agent_created with the parent and the lineage): genesis, its children
// zeta and alpha (zeta first, so that the order of creation is not the
// order of ids), zeta's child kid; solo, a root of the operator's; orphan,
// whose parent the log never created; and zeta dead. It returns the data
// directory, the operator API's URL, and the stop of the economy.
func familyEconomy(t *testing.T) (dir, apiURL string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	dir = filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = dir, config.SyncInterval
	cfg.Economy.Genesis, cfg.Server.Listen = false, "127.0.0.1:0"
	eco, apiURL, stop := serveInProcess(t, ctx, cfg)
	do := func(id string, cmd agent.Command) {
		t.Helper()
		if _, err := eco.Accounts().Do(ctx, id, "", cmd); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	spawn := func(id string, grant int64, lineage ...string) {
		do(id, agent.Create{ParentID: lineage[0], Lineage: lineage, GrantMicros: events.Credits(grant), Reason: "spawn"})
	}
	do("genesis", agent.Create{GrantMicros: events.Credits(1000), Reason: "genesis"})
	spawn("zeta", 30, "genesis")
	spawn("alpha", 20, "genesis")
	spawn("kid", 5, "zeta", "genesis")
	do("solo", agent.Create{GrantMicros: events.Credits(7), Reason: "operator"})
	spawn("orphan", 3, "ghost")
	do("zeta", agent.Die{Reason: "operator"})
	if err := eco.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, apiURL, stop
}

// TestAgentsTree runs the binary against a running economy's operator
// API, then on the log once the economy has stopped (no server: it folds
// the log), and both say the same: `agents --tree` prints each agent's
// children indented under it in order of creation, roots at the left (an
// agent with no parent, or whose parent the log never created), dead
// agents as dead; --json is the same tree nested; `agent ID` shows the
// parent, the lineage and the children.
func TestAgentsTree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server and real processes")
	}
	dir, apiURL, stop := familyEconomy(t)
	// Through the operator API (--url: it fails rather than read the log
	// when nothing answers there).
	served := map[string]string{}
	for _, args := range [][]string{{"agents", "--tree"}, {"agents", "--tree", "--json"}, {"agent", "zeta"}, {"agent", "kid", "--json"}} {
		served[strings.Join(args, " ")] = mustRun(t, append(args, "--data", dir, "--url", apiURL)...).stdout
	}
	stop()
	for cmd, out := range served {
		if folded := mustRun(t, append(strings.Fields(cmd), "--data", dir)...).stdout; folded != out {
			t.Errorf("agora %s: the API said\n%s\nthe log says\n%s", cmd, out, folded)
		}
	}

	type line struct {
		depth               int
		id, status, balance string
	}
	want := []line{
		{0, "genesis", "alive", "1000"},
		{1, "zeta", "dead", "0"},
		{2, "kid", "alive", "5"},
		{1, "alpha", "alive", "20"},
		{0, "solo", "alive", "7"},
		{0, "orphan", "alive", "3"},
	}
	out := mustRun(t, "agents", "--tree", "--data", dir).stdout
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(want)+2 || !strings.HasPrefix(lines[0], "AGENT") || lines[len(lines)-1] != "6 agents, 3 roots" {
		t.Fatalf("agents --tree:\n%s", out)
	}
	for i, w := range want {
		l := lines[i+1]
		f := strings.Fields(l)
		depth := (len(l) - len(strings.TrimLeft(l, " "))) / len(treeIndent)
		if got := (line{depth, f[0], f[1], f[2]}); len(f) != 3 || got != w {
			t.Errorf("line %d is %q, want %+v\n%s", i+1, l, w, out)
		}
	}

	var roots []*familyNode
	decodeJSON(t, mustRun(t, "agents", "--tree", "--json", "--data", dir), &roots)
	var flat []line
	var walk func(depth int, parent string, ns []*familyNode)
	walk = func(depth int, parent string, ns []*familyNode) {
		for _, n := range ns {
			if n.Children == nil {
				t.Errorf("%s: children null, want []", n.AgentID)
			}
			if depth > 0 && n.ParentID != parent {
				t.Errorf("%s under %s has parent_id %q", n.AgentID, parent, n.ParentID)
			}
			flat = append(flat, line{depth, n.AgentID, n.Status, credits(n.Balance)})
			walk(depth+1, n.AgentID, n.Children)
		}
	}
	walk(0, "", roots)
	if !slices.Equal(flat, want) {
		t.Fatalf("agents --tree --json gives %+v, want %+v", flat, want)
	}
	if roots[2].ParentID != "ghost" {
		t.Fatalf("the orphan's parent_id is %q", roots[2].ParentID)
	}

	text := mustRun(t, "agent", "zeta", "--data", dir).stdout
	for _, w := range []string{"parent", "genesis", "children", "1: kid", "dead"} {
		if !strings.Contains(text, w) {
			t.Errorf("agent zeta lacks %q:\n%s", w, text)
		}
	}
	text = mustRun(t, "agent", "genesis", "--data", dir).stdout
	if !strings.Contains(text, "2: zeta, alpha") || !strings.Contains(text, "created by genesis") {
		t.Errorf("agent genesis:\n%s", text)
	}
	text = mustRun(t, "agent", "kid", "--data", dir).stdout
	if !strings.Contains(text, "zeta, genesis (nearest first)") || !strings.Contains(text, "children    none") {
		t.Errorf("agent kid:\n%s", text)
	}
	var rec operator.AgentRecord
	decodeJSON(t, mustRun(t, "agent", "kid", "--json", "--data", dir), &rec)
	if rec.ParentID != "zeta" || !slices.Equal(rec.Lineage, []string{"zeta", "genesis"}) || rec.Children == nil || rec.ChildrenCount != 0 {
		t.Fatalf("agent kid --json: %+v", rec)
	}
	rec = operator.AgentRecord{}
	decodeJSON(t, mustRun(t, "agent", "genesis", "--json", "--data", dir), &rec)
	if rec.ParentID != "" || !slices.Equal(rec.Children, []string{"zeta", "alpha"}) || rec.ChildrenCount != 2 {
		t.Fatalf("agent genesis --json: %+v", rec)
	}
}

// TestFamilyTreeHasNoCycle: agents whose records make each other parents
// (which a forged log could hold) or name themselves are roots, each in
// the tree once, rather than lost or looped over.
func TestFamilyTreeHasNoCycle(t *testing.T) {
	list := []operator.AgentSummary{
		{AgentID: "x", ParentID: "y", CreatedSeq: 1, Status: "alive"},
		{AgentID: "y", ParentID: "x", CreatedSeq: 2, Status: "alive"},
		{AgentID: "self", ParentID: "self", CreatedSeq: 3, Status: "alive"},
	}
	roots := familyTree(list)
	var ids []string
	for _, r := range roots {
		ids = append(ids, r.AgentID)
		for _, c := range r.Children {
			ids = append(ids, r.AgentID+">"+c.AgentID)
		}
	}
	if !slices.Equal(ids, []string{"x", "x>y", "self"}) {
		t.Fatalf("tree %v", ids)
	}
}

// serveInProcess opens an economy over cfg in this process, as `agora run`
// runs it, and serves its HTTP APIs. It returns the economy, the APIs'
// URL, and its stop (also run at the test's end; once is enough).
func serveInProcess(t *testing.T, ctx context.Context, cfg config.Config) (eco *economy.Economy, apiURL string, stop func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if eco, err = economy.Open(n); err != nil {
		n.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			eco.Stop()
			n.Close()
		})
	}
	t.Cleanup(stop)
	eco.Start()
	serving, err := eco.Serve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return eco, "http://" + serving.Addr.String(), stop
}
