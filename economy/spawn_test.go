package economy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	ecofold "github.com/agora-econ/agora/projections/economy"
)

// The tests of spawning (SPEC.md 1.7) on a whole economy: a real
// embedded JetStream server, the System Service over real HTTP and as an
// actor, and restarts of the economy over the same data directory.

// spawnGrant is the parent's grant in these tests; the spawn cost is the
// default, 100.
const spawnGrant = 500

// spawnWorld is an economy in a data directory that outlives it: open
// it, stop it, open it again.
type spawnWorld struct {
	t   testing.TB
	dir string
	cfg func(*config.Config)
}

// open opens the economy over the world's directory; started, its
// managers and read models follow the log. It stops at the end of the
// test unless the caller stops it first (stop).
func (w *spawnWorld) open(ctx context.Context, started bool) (*Economy, *executor.Workspaces) {
	w.t.Helper()
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = w.dir, config.SyncInterval
	if w.cfg != nil {
		w.cfg(&cfg)
	}
	n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	e, err := Open(n)
	if err != nil {
		n.Close()
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { stop(e) })
	stops[e] = &sync.Once{}
	if started {
		e.Start()
	}
	ws, err := executor.NewWorkspaces(filepath.Join(w.dir, WorkspacesDir))
	if err != nil {
		w.t.Fatal(err)
	}
	return e, ws
}

// stops make each economy's stop happen once: by the test, or at its end.
var stops = map[*Economy]*sync.Once{}

// stop stops the economy and closes its node; a second stop does nothing.
func stop(e *Economy) {
	stops[e].Do(func() {
		e.Stop()
		e.node.Close()
	})
}

// spawnHTTP is the System Service of an economy on a test server, with
// the tickets it authenticates.
type spawnHTTP struct {
	t       testing.TB
	e       *Economy
	svc     *system.Service
	tickets *ticket.Registry
	url     string
	client  *http.Client
}

func serveSpawns(t testing.TB, e *Economy, ws *executor.Workspaces) *spawnHTTP {
	t.Helper()
	tickets := ticket.New()
	svc, err := e.systemService(tickets, newSpawner(e, ws), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	client := &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		srv.Close()
		svc.Close()
	})
	return &spawnHTTP{t: t, e: e, svc: svc, tickets: tickets, url: srv.URL, client: client}
}

// token is an execution token of agentID, as the executor would issue it.
func (h *spawnHTTP) token(agentID string) string {
	h.t.Helper()
	tok, err := h.tickets.Issue(agentID, "x-"+agentID+"-"+events.NewID(), map[string]events.Units{
		"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}, time.Now().Add(time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// post sends body (JSON, or raw when a string) to path with token and key.
func (h *spawnHTTP) post(path, token, key string, body any) (int, map[string]any) {
	h.t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		if err != nil {
			h.t.Fatal(err)
		}
		raw = string(b)
	}
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &out)
	out["raw"] = string(data)
	return resp.StatusCode, out
}

// spawnBody is a child: a one-file program, 50 credits and a first bid of
// 10 for a bundle whose reserve is 5.64.
func spawnBody() map[string]any {
	return map[string]any{
		"files":           map[string]string{"main.py": "print('child')\n", "lib/util.py": "X = 1\n"},
		"command":         []string{"python3", "main.py"},
		"initial_credits": 50,
		"initial_bid":     map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10, "payload": "first"},
	}
}

// createParent opens an account with spawnGrant credits.
func createParent(t testing.TB, ctx context.Context, e *Economy, id string) {
	t.Helper()
	if _, err := e.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(spawnGrant), Reason: "test",
		Command: []string{"python3", "main.py"}}); err != nil {
		t.Fatal(err)
	}
}

// audit folds the whole log through the economy fold, as agora audit
// does: no violation, no record skipped; it returns the summary.
func audit(t testing.TB, ctx context.Context, e *Economy) ecofold.Summary {
	t.Helper()
	eco := ecofold.New()
	err := e.node.log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error { return eco.Apply(r) })
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if len(eco.Skipped) > 0 {
		t.Fatalf("audit skipped records: %+v", eco.Skipped)
	}
	return eco.Summary()
}

// typesOf lists the types of the events on filter, in log order.
func typesOf(t testing.TB, ctx context.Context, e *Economy, filter string) []string {
	t.Helper()
	var out []string
	if err := e.node.log.Read(ctx, filter, 1, func(r events.Record) error {
		out = append(out, r.Envelope.Type)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// settled waits until every manager and read model has done what the log
// holds. Reactions write more, to which others react: it waits again until
// a round of waiting finds the log as it left it, rather than for a fixed
// number of rounds that a longer chain (a spawn resumed after a crash, its
// child's first bid refused and its hold voided) would outrun.
func settled(t testing.TB, ctx context.Context, e *Economy) {
	t.Helper()
	for {
		last, err := e.node.log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []interface {
			WaitFloor(context.Context, uint64) error
		}{e.transfers, e.markets, e.spawns} {
			if err := m.WaitFloor(ctx, last); err != nil {
				t.Fatal(err)
			}
		}
		if now, err := e.node.log.LastSeq(ctx); err != nil {
			t.Fatal(err)
		} else if now == last {
			break
		}
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

// checkSpawned checks what one spawn of a 50-credit child with a first
// bid of 10 leaves: the parent charged once (cost 100, credits 50), the
// child created once with its credits, its lineage and its first bid
// listed once, its workspace with the program and the helper, and the
// whole log conserving credits with nothing in flight.
func checkSpawned(t testing.TB, ctx context.Context, e *Economy, ws *executor.Workspaces, parent, child string, lineage []string) {
	t.Helper()
	settled(t, ctx, e)
	p, err := e.accounts.Get(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	if want := events.Credits(spawnGrant - 150); p.BalanceMicros != want || p.HeldMicros != 0 {
		t.Errorf("parent %s: balance %s held %s; want %s, nothing held", parent, p.BalanceMicros, p.HeldMicros, want)
	}
	c, err := e.accounts.Get(ctx, child)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != agent.StatusAlive || c.BalanceMicros != events.Credits(50) || c.HeldMicros != events.Credits(10) || len(c.Holds) != 1 {
		t.Errorf("child %s: %+v; want alive with 50, 10 held by its first bid", child, c)
	}
	if c.ParentID != parent || !slices.Equal(c.Lineage, lineage) || !slices.Equal(c.Command, []string{"python3", "main.py"}) {
		t.Errorf("child %s: parent %q lineage %v command %v; want %s, %v", child, c.ParentID, c.Lineage, c.Command, parent, lineage)
	}
	ofParent := typesOf(t, ctx, e, "events.agent."+parent+".>")
	ofChild := typesOf(t, ctx, e, "events.agent."+child+".>")
	if count(ofParent, "child_spawned") != 1 || count(ofChild, "agent_created") != 1 || count(ofChild, "hold_placed") != 1 {
		t.Errorf("parent's events %v, child's %v; want one spawn, one creation, one first bid", ofParent, ofChild)
	}
	var bidID string
	for id := range c.Holds {
		bidID = id
	}
	listed := 0
	if err := e.node.log.Read(ctx, "events.clearing."+Pool+".bid_listed", 1, func(r events.Record) error {
		if ev, err := events.Read(r); err == nil && ev.(events.BidListed).BidID == bidID {
			listed++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if listed != 1 {
		t.Errorf("the child's first bid %s listed %d times; want once", bidID, listed)
	}
	dir, err := ws.Dir(child)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string][]byte{"main.py": []byte("print('child')\n"), "lib/util.py": []byte("X = 1\n"),
		HelperPath: genesis.Files()[HelperPath]} {
		if got, err := os.ReadFile(filepath.Join(dir, p)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("the child's %s: %q, %v", p, got, err)
		}
	}
	s := audit(t, ctx, e)
	if s.InFlightMicros != 0 || s.OpenTransfers != 0 || s.UnlistedBids != 0 {
		t.Errorf("audit: %d in flight, %d open transfers, %d unlisted bids; want none", s.InFlightMicros, s.OpenTransfers, s.UnlistedBids)
	}
}

// TestSpawnOverHTTP: POST /social/spawn charges the parent the spawn cost
// and the initial credits, creates the child with them, its program, the
// client helper and its lineage, and places its first bid; a retry with
// the same key names the same child and charges nothing more; the child
// spawns a grandchild, whose lineage names both.
func TestSpawnOverHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data")}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	createParent(t, ctx, e, "p")
	h := serveSpawns(t, e, ws)
	tok := h.token("p")
	// What a spawn costs and the population limit are public.
	req, err := http.NewRequest(http.MethodGet, h.url+"/system/config", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Economy struct {
			SpawnCost json.Number `json:"spawn_cost"`
			MaxAgents int         `json:"max_agents"`
		} `json:"economy"`
	}
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil || cfg.Economy.SpawnCost != "100" || cfg.Economy.MaxAgents != 1000 {
		t.Fatalf("/system/config: %+v, %v; want spawn_cost 100, max_agents 1000", cfg.Economy, err)
	}
	status, out := h.post("/social/spawn", tok, "k1", spawnBody())
	if status != http.StatusOK || out["status"] != "alive" || out["bid_id"] == nil {
		t.Fatalf("spawn: %d %v", status, out["raw"])
	}
	child := out["agent_id"].(string)
	if child != system.ChildIDFor("api/spawn/p/k1") {
		t.Fatalf("child %s; want the id the key derives", child)
	}
	// Read your writes: the child is in the directory and its bid in the
	// book as the answer comes.
	if !e.directory.Exists(child) || e.bids.CountFor("cpu_seconds") != 1 {
		t.Errorf("after the answer: directory has the child %v, the book %d bids", e.directory.Exists(child), e.bids.CountFor("cpu_seconds"))
	}
	again, out2 := h.post("/social/spawn", tok, "k1", spawnBody())
	if again != http.StatusOK || out2["agent_id"] != child {
		t.Fatalf("retry: %d %v", again, out2["raw"])
	}
	checkSpawned(t, ctx, e, ws, "p", child, []string{"p"})

	// The child spawns in turn (its 50 credits cannot pay 100 + 50: it is
	// granted more by the operator's hand first).
	if _, err := e.accounts.Do(ctx, child, "", agent.Grant{AmountMicros: events.Credits(500), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	status, out = h.post("/social/spawn", h.token(child), "", spawnBody())
	if status != http.StatusOK {
		t.Fatalf("grandchild: %d %v", status, out["raw"])
	}
	settled(t, ctx, e)
	g, err := e.accounts.Get(ctx, out["agent_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Lineage, []string{child, "p"}) || g.ParentID != child {
		t.Fatalf("grandchild: parent %s lineage %v; want %s, [%s p]", g.ParentID, g.Lineage, child, child)
	}
	// The family as the directory shows it (agora agents --tree).
	if p, _ := e.directory.Get("p"); !slices.Equal(p.Children, []string{child}) {
		t.Errorf("the directory gives p the children %v; want [%s]", p.Children, child)
	}
	if c, _ := e.directory.Get(child); !slices.Equal(c.Children, []string{g.ID}) || !slices.Equal(c.Lineage, []string{"p"}) {
		t.Errorf("the directory gives %s the children %v and lineage %v; want [%s], [p]", child, c.Children, c.Lineage, g.ID)
	}
	if s := audit(t, ctx, e); s.InFlightMicros != 0 || s.AgentsAlive != 3 {
		t.Fatalf("audit: %+v", s)
	}
}

// TestSpawnRefusesHostileInput: every bad spawn over HTTP is a 4xx
// problem that changes nothing: no event in the log, the parent's
// balance as it was, no workspace written.
func TestSpawnRefusesHostileInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data"), cfg: func(c *config.Config) { c.Economy.MaxAgents = 3 }}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	createParent(t, ctx, e, "p")
	createParent(t, ctx, e, "poor")
	if _, err := e.accounts.Do(ctx, "poor", "", agent.Burn{AmountMicros: events.Credits(spawnGrant - 120), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	h := serveSpawns(t, e, ws)
	tok, poor := h.token("p"), h.token("poor")
	with := func(change func(b map[string]any)) map[string]any {
		b := spawnBody()
		change(b)
		return b
	}
	bid := func(change func(b map[string]any)) map[string]any {
		return with(func(b map[string]any) { change(b["initial_bid"].(map[string]any)) })
	}
	files := func(f map[string]any) map[string]any { return with(func(b map[string]any) { b["files"] = f }) }
	many := map[string]any{}
	for i := range 257 {
		many[fmt.Sprintf("f%d.py", i)] = "x"
	}
	bigFiles := map[string]any{}
	for i := range 9 {
		bigFiles[fmt.Sprintf("f%d.py", i)] = strings.Repeat("x", 1<<20)
	}
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		words  string
	}{
		{"no token", "", spawnBody(), 401, ""},
		{"a forged token", "not-a-token", spawnBody(), 401, ""},
		{"a path out of the workspace", tok, files(map[string]any{"../evil.py": "x"}), 422, `has a \"..\" element`},
		{"an absolute path", tok, files(map[string]any{"/etc/passwd": "x"}), 422, "absolute"},
		{"an empty path element", tok, files(map[string]any{"a//b.py": "x"}), 422, "empty element"},
		{"a backslash", tok, files(map[string]any{`a\b.py`: "x"}), 422, "character"},
		{"a file that is a directory", tok, files(map[string]any{"a": "x", "a/b.py": "y"}), 422, "cannot be a directory"},
		{"a file that is not text", tok, files(map[string]any{"main.py": 42}), 422, "expected string"},
		{"no file", tok, files(map[string]any{}), 422, "files"},
		{"too many files", tok, files(many), 422, "256"},
		{"a file too big", tok, files(map[string]any{"main.py": strings.Repeat("x", 1<<20+1)}), 422, "at most 1048576"},
		{"files too big in all", tok, files(bigFiles), 422, "in all"},
		{"an empty command", tok, with(func(b map[string]any) { b["command"] = []string{} }), 422, "command"},
		{"an empty program name", tok, with(func(b map[string]any) { b["command"] = []string{""} }), 422, "program name is empty"},
		{"a NUL in the command", tok, with(func(b map[string]any) { b["command"] = []string{"python3", "a\x00b"} }), 422, "NUL"},
		{"no initial credits", tok, with(func(b map[string]any) { delete(b, "initial_credits") }), 422, "initial_credits"},
		{"negative credits", tok, with(func(b map[string]any) { b["initial_credits"] = -5 }), 422, "initial_credits"},
		{"zero credits", tok, with(func(b map[string]any) { b["initial_credits"] = 0 }), 422, "initial_credits"},
		{"credits finer than a micro", tok, `{"files":{"main.py":"x"},"command":["python3","main.py"],"initial_credits":1.0000001}`, 422, "initial_credits"},
		{"credits not a number", tok, `{"files":{"main.py":"x"},"command":["python3","main.py"],"initial_credits":"NaN"}`, 422, "initial_credits"},
		{"credits NaN bare", tok, `{"files":{"main.py":"x"},"command":["python3","main.py"],"initial_credits":NaN}`, 400, ""},
		{"credits above 1e12", tok, with(func(b map[string]any) { b["initial_credits"] = 1e13 }), 422, "initial_credits"},
		{"a first bid above the credits", tok, bid(func(b map[string]any) { b["amount"] = 60 }), 422, "above the initial credits"},
		{"a first bid below the reserve", tok, bid(func(b map[string]any) { b["amount"] = 1 }), 422, "reserve"},
		{"a first bid for attention", tok, bid(func(b map[string]any) {
			b["resources"] = map[string]any{"cpu_seconds": 1, "memory_mb": 64, "attention": 1}
		}), 422, "attention"},
		{"a first bid without cpu", tok, bid(func(b map[string]any) { b["resources"] = map[string]any{"memory_mb": 64} }), 422, "cpu_seconds"},
		{"a first bid beyond the supply", tok, bid(func(b map[string]any) {
			b["resources"] = map[string]any{"cpu_seconds": 1000, "memory_mb": 64}
			b["amount"] = 40
		}), 422, "supply"},
		{"a first bid of an unknown resource", tok, bid(func(b map[string]any) {
			b["resources"] = map[string]any{"cpu_seconds": 1, "memory_mb": 64, "gold": 1}
		}), 422, "gold"},
		{"not enough credits", poor, spawnBody(), 409, "insufficient credits"},
		{"an unknown field", tok, with(func(b map[string]any) { b["agent_id"] = "mine" }), 422, "agent_id"},
		{"not JSON", tok, `{"files":`, 400, ""},
	}
	before := snapshotOf(t, ctx, e, ws)
	for _, c := range cases {
		status, out := h.post("/social/spawn", c.token, "", c.body)
		if status != c.status || !strings.Contains(out["raw"].(string), c.words) {
			t.Errorf("%s: %d %s; want %d naming %q", c.name, status, out["raw"], c.status, c.words)
		}
		if out["type"] == nil && status != 401 && out["status"] == nil {
			t.Errorf("%s: not a problem: %s", c.name, out["raw"])
		}
	}
	if after := snapshotOf(t, ctx, e, ws); after != before {
		t.Fatalf("hostile spawns changed the economy:\nbefore %s\nafter  %s", before, after)
	}

	// The population limit: 3 agents may live; p and poor live, so one
	// spawn passes and the next is refused, uncharged.
	if status, out := h.post("/social/spawn", tok, "", spawnBody()); status != http.StatusOK {
		t.Fatalf("a spawn within the limit: %d %s", status, out["raw"])
	}
	settled(t, ctx, e)
	before = snapshotOf(t, ctx, e, ws)
	status, out := h.post("/social/spawn", tok, "", spawnBody())
	if status != http.StatusConflict || !strings.Contains(out["raw"].(string), "max_agents") {
		t.Fatalf("a spawn past the limit: %d %s", status, out["raw"])
	}
	if after := snapshotOf(t, ctx, e, ws); after != before {
		t.Fatalf("a refused spawn changed the economy:\nbefore %s\nafter  %s", before, after)
	}
	audit(t, ctx, e)
}

// snapshotOf is what a refused call must leave as it was: the log's last
// sequence, every account's balance, the workspaces.
func snapshotOf(t testing.TB, ctx context.Context, e *Economy, ws *executor.Workspaces) string {
	t.Helper()
	settled(t, ctx, e)
	last, err := e.node.log.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(ws.Root())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range entries {
		names = append(names, d.Name())
	}
	balances := map[string]string{}
	for _, s := range e.directory.Standings() {
		balances[s.ID] = s.BalanceMicros.String()
	}
	return fmt.Sprintf("seq %d, workspaces %v, balances %v", last, names, balances)
}

// spawnStep is how far the first life of TestSpawnSettlesOnceAfterACrash
// gets before it stops: the spawn's workspace written; the parent's
// child_spawned; the child's agent_created; the child's first bid placed.
type spawnStep int

const (
	afterWorkspace spawnStep = iota
	afterSpawned
	afterCreated
	afterBid
)

// TestSpawnSettlesOnceAfterACrash stops the economy after each step of a
// spawn, with its managers not following the log (as a crash leaves it:
// what the log holds, and nothing of what the managers would have done
// next), opens it again over the same data directory and retries the
// call: the child exists once, funded once, with one first bid, the
// parent is charged once, and the log conserves credits.
func TestSpawnSettlesOnceAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	for _, step := range []spawnStep{afterWorkspace, afterSpawned, afterCreated, afterBid} {
		t.Run([]string{"workspace", "spawned", "created", "bid"}[step], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data")}
			key := "api/spawn/p/k1"
			req := system.SpawnRequest{ChildID: system.ChildIDFor(key),
				Files:   map[string]string{"main.py": "print('child')\n", "lib/util.py": "X = 1\n"},
				Command: []string{"python3", "main.py"}, InitialCreditsMicros: events.Credits(50),
				InitialBid: &system.SpawnBid{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1),
					"memory_mb": events.WholeUnits(64)}, AmountMicros: events.Credits(10), Payload: "first"}}

			// The first life: the actors answer, no manager follows.
			e, ws := w.open(ctx, false)
			if err := e.ConfigureMarkets(ctx); err != nil {
				t.Fatal(err)
			}
			createParent(t, ctx, e, "p")
			crashAt(t, ctx, e, newSpawner(e, ws), key, req, step)
			stop(e)

			// The second life: the managers resume, the call is retried.
			e, ws = w.open(ctx, true)
			r, err := newSpawner(e, ws).Spawn(ctx, "p", key, req)
			if err != nil {
				t.Fatal(err)
			}
			if r.AgentID != req.ChildID || r.Status != string(agent.StatusAlive) {
				t.Fatalf("the retry answered %+v", r)
			}
			checkSpawned(t, ctx, e, ws, "p", req.ChildID, []string{"p"})
		})
	}
}

// crashAt does what Spawn and then the spawn manager do, up to step.
func crashAt(t testing.TB, ctx context.Context, e *Economy, sp *spawner, key string, req system.SpawnRequest, step spawnStep) {
	t.Helper()
	files := childFiles(req.Files)
	if err := sp.writeWorkspace(req.ChildID, files); err != nil {
		t.Fatal(err)
	}
	if step == afterWorkspace {
		return
	}
	bid, err := sp.firstBid(ctx, req.InitialBid)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.accounts.Do(ctx, "p", key, agent.Spawn{ChildID: req.ChildID, CostMicros: e.node.cfg.Economy.SpawnCost.Micros(),
		InitialMicros: req.InitialCreditsMicros, Command: req.Command, InitialBid: bid, ProgramSHA256: events.ProgramHash(files)})
	if err != nil {
		t.Fatal(err)
	}
	for seq, s := res.Seq, afterSpawned; s < step; s++ {
		seq = react(t, ctx, e, seq)
	}
}

// react applies the spawn manager's reactions to the record at seq, as
// the manager would send them, and returns the sequence of the last
// event they wrote.
func react(t testing.TB, ctx context.Context, e *Economy, seq uint64) uint64 {
	t.Helper()
	var rec events.Record
	if err := e.node.log.Read(ctx, events.SubjectRoot+".>", seq, func(r events.Record) error {
		if r.Seq == seq {
			rec = r
			return errStopRead
		}
		return nil
	}); err != nil && !errors.Is(err, errStopRead) {
		t.Fatal(err)
	}
	ev, err := events.Read(rec)
	if err != nil {
		t.Fatal(err)
	}
	reactions := agent.SpawnManager().React(rec, ev)
	if len(reactions) != 1 {
		t.Fatalf("the spawn manager reacts to %s with %d commands; want 1", rec.Envelope.Type, len(reactions))
	}
	r := reactions[0]
	res, err := e.accounts.Do(ctx, r.ID, "", r.Command.(agent.Command))
	if err != nil {
		t.Fatal(err)
	}
	return res.Seq
}

var errStopRead = errors.New("read enough")

// TestARefusedChildReturnsItsCredits: a child whose id was taken between
// its parent's spawn and its creation is not created; its credits bounce
// back to the parent, exactly once, and the spawn cost stays burned.
func TestARefusedChildReturnsItsCredits(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data")}
	e, _ := w.open(ctx, true)
	createParent(t, ctx, e, "p")
	createParent(t, ctx, e, "taken")
	if _, err := e.accounts.Do(ctx, "p", "k", agent.Spawn{ChildID: "taken", CostMicros: events.Credits(100),
		InitialMicros: events.Credits(50), Command: []string{"python3", "main.py"}}); err != nil {
		t.Fatal(err)
	}
	settled(t, ctx, e)
	p, err := e.accounts.Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := e.accounts.Get(ctx, "taken")
	if err != nil {
		t.Fatal(err)
	}
	if p.BalanceMicros != events.Credits(spawnGrant-100) || taken.BalanceMicros != events.Credits(spawnGrant) || taken.ParentID != "" {
		t.Fatalf("parent %s, taken %+v; want the parent back to 400 and the other agent untouched", p.BalanceMicros, taken)
	}
	if got := typesOf(t, ctx, e, "events.agent.p.>"); count(got, "transfer_returned") != 1 {
		t.Fatalf("the parent's events %v; want the credits returned once", got)
	}
	if s := audit(t, ctx, e); s.InFlightMicros != 0 || s.OpenTransfers != 0 {
		t.Fatalf("audit: %+v", s)
	}
}

// TestSpawnThroughTheActorDoor: a Go agent spawns with the Spawn message,
// to the service's actor and through SpawnClient's actor over HTTP, with
// the same checks: a bad call is refused with the same typed error and
// changes nothing.
func TestSpawnThroughTheActorDoor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data")}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	createParent(t, ctx, e, "p")
	h := serveSpawns(t, e, ws)
	clientPID, err := system.SpawnClient(h.svc.Root(), h.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.svc.Root().PoisonFuture(clientPID).Wait() })
	call := func(key string) system.Spawn {
		return system.Spawn{Caller: system.Caller{Token: h.token("p")}, Key: key,
			Files: map[string]string{"main.py": "print('child')\n", "lib/util.py": "X = 1\n"}, Command: []string{"python3", "main.py"},
			InitialCreditsMicros: events.Credits(50), InitialBid: &system.SpawnBid{Resources: map[string]events.Units{
				"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}, AmountMicros: events.Credits(10)}}
	}
	bad := []system.Spawn{call("bad1"), call("bad2"), call("bad3"), call("bad4")}
	bad[0].Command = nil
	bad[1].Files = map[string]string{"../x": "y"}
	bad[2].InitialBid.AmountMicros = events.Credits(60)
	bad[3].InitialCreditsMicros = -1
	doors := map[string]func(system.Spawn) (system.SpawnReceipt, error){
		"service": func(c system.Spawn) (system.SpawnReceipt, error) {
			return system.Ask[system.SpawnReceipt](ctx, h.svc.Root(), h.svc.PID(), c)
		},
		"client": func(c system.Spawn) (system.SpawnReceipt, error) {
			return system.Ask[system.SpawnReceipt](ctx, h.svc.Root(), clientPID, c)
		},
	}
	before := snapshotOf(t, ctx, e, ws)
	for _, name := range slices.Sorted(maps.Keys(doors)) {
		for i, c := range bad {
			want := system.ErrInvalidCall
			if c.InitialCreditsMicros < 0 {
				want = events.ErrInvalidAmount
			}
			if _, err := doors[name](c); !errors.Is(err, want) {
				t.Errorf("%s door, bad call %d: %v; want %v", name, i, err, want)
			}
		}
	}
	if after := snapshotOf(t, ctx, e, ws); after != before {
		t.Fatalf("bad calls changed the economy:\nbefore %s\nafter  %s", before, after)
	}
	r, err := doors["service"](call("door"))
	if err != nil || r.AgentID != system.ChildIDFor("api/spawn/p/door") || r.Status != "alive" {
		t.Fatalf("service door: %+v, %v", r, err)
	}
	checkSpawned(t, ctx, e, ws, "p", r.AgentID, []string{"p"})
	again, err := doors["client"](call("door"))
	if err != nil || again.AgentID != r.AgentID {
		t.Fatalf("the same spawn through the client: %+v, %v; want the same child", again, err)
	}
	checkSpawned(t, ctx, e, ws, "p", r.AgentID, []string{"p"})
	poorer := call("poor")
	poorer.InitialCreditsMicros = events.Credits(spawnGrant)
	if _, err := doors["client"](poorer); !errors.Is(err, agent.ErrInsufficientCredits) {
		t.Fatalf("a spawn past the parent's credits through the client: %v; want ErrInsufficientCredits", err)
	}
}

// FuzzSpawnBodies: whatever the body and the Idempotency-Key of POST
// /social/spawn, the answer is a 2xx, or a 4xx problem after which the
// log, the balances and the workspaces are as they were; never a 5xx.
func FuzzSpawnBodies(f *testing.F) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	w := &spawnWorld{t: f, dir: filepath.Join(f.TempDir(), "data")}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		f.Fatal(err)
	}
	createParent(f, ctx, e, "p")
	h := serveSpawns(f, e, ws)
	tok := h.token("p")
	good, err := json.Marshal(spawnBody())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ body, key string }{
		{string(good), "k1"},
		{string(good), ""},
		{`{"files":{"../x":"y"},"command":["a"],"initial_credits":1}`, ""},
		{`{"files":{"a":"y"},"command":["a"],"initial_credits":1e400}`, "k2"},
		{`{"files":{"a":"y"},"command":["a"],"initial_credits":5,"initial_bid":{"resources":{"cpu_seconds":1},"amount":6}}`, ""},
		{`{"files":{"a":"y","a/b":"z"},"command":[""],"initial_credits":"1"}`, "k 3"},
		{`{"files":[],"command":{},"initial_credits":null}`, ""},
		{`[`, ""},
	} {
		f.Add(seed.body, seed.key)
	}
	f.Fuzz(func(t *testing.T, body, key string) {
		if strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			t.Skip("no HTTP client sends such a header")
		}
		before := snapshotOf(t, ctx, e, ws)
		ht := *h // the fuzz target's own t for the helper's failures
		ht.t = t
		status, out := ht.post("/social/spawn", tok, key, body)
		switch {
		case status >= 500:
			t.Fatalf("%d for %q: %s", status, body, out["raw"])
		case status >= 400:
			if after := snapshotOf(t, ctx, e, ws); after != before {
				t.Fatalf("a refused spawn (%d) changed the economy:\nbefore %s\nafter  %s", status, before, after)
			}
		}
	})
}

// TestSpawnsRacingNeverPassTheLimit: spawns sent at once, more than the
// room economy.max_agents leaves, are let through exactly up to the limit
// and the others refused uncharged, although the directory shows none of
// the children while the race is on.
func TestSpawnsRacingNeverPassTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const limit, racers = 4, 12
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data"), cfg: func(c *config.Config) { c.Economy.MaxAgents = limit }}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.accounts.Do(ctx, "p", "", agent.Create{GrantMicros: events.Credits(100_000), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	sp := e.Spawner(ws)
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			key := fmt.Sprintf("api/spawn/p/race-%d", i)
			_, err := sp.Spawn(ctx, "p", key, system.SpawnRequest{ChildID: system.ChildIDFor(key),
				Files: map[string]string{"main.py": "x"}, Command: []string{"python3", "main.py"}, InitialCreditsMicros: events.Credits(1)})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	passed, refused := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			passed++
		case errors.Is(err, system.ErrPopulationLimit):
			refused++
		default:
			t.Fatal(err)
		}
	}
	settled(t, ctx, e)
	if passed != limit-1 || refused != racers-passed || e.directory.Totals().Alive != limit {
		t.Fatalf("%d spawns passed, %d refused, %d agents alive; want %d, %d, %d", passed, refused, e.directory.Totals().Alive,
			limit-1, racers-limit+1, limit)
	}
	p, err := e.accounts.Get(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if want := events.Credits(100_000 - (limit-1)*101); p.BalanceMicros != want {
		t.Fatalf("the parent holds %s; want %s: only the spawns that passed are charged", p.BalanceMicros, want)
	}
	audit(t, ctx, e)
}

// TestASpawnRetriedPastTheMemoryNamesItsChild: a retry whose key the
// parent's account has forgotten (past runtime.idempotency_memory keys)
// finds the child its key names, spawned by it, and spawns nothing more,
// though the parent could not pay for a spawn any more.
func TestASpawnRetriedPastTheMemoryNamesItsChild(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data"), cfg: func(c *config.Config) { c.Runtime.IdempotencyMemory = 1 }}
	e, ws := w.open(ctx, true)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	createParent(t, ctx, e, "p")
	h := serveSpawns(t, e, ws)
	tok := h.token("p")
	status, out := h.post("/social/spawn", tok, "first", spawnBody())
	if status != http.StatusOK {
		t.Fatalf("spawn: %d %s", status, out["raw"])
	}
	// Other commands of the parent push the key out of its memory, and
	// leave it unable to pay for a spawn now: the retry is answered all
	// the same.
	for i, amount := range []events.Micros{events.Credits(300), 1, 1} {
		if _, err := e.accounts.Do(ctx, "p", fmt.Sprintf("burn-%d", i), agent.Burn{AmountMicros: amount, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, remembered, err := e.accounts.Recall(ctx, "p", "api/spawn/p/first"); err != nil || remembered {
		t.Fatalf("the parent still remembers the spawn's key (%v, %v): the test proves nothing", remembered, err)
	}
	again, out2 := h.post("/social/spawn", tok, "first", spawnBody())
	if again != http.StatusOK || out2["agent_id"] != out["agent_id"] || out2["status"] != "alive" {
		t.Fatalf("retry: %d %s; want the same child", again, out2["raw"])
	}
	if got := typesOf(t, ctx, e, "events.agent.p.>"); count(got, "child_spawned") != 1 {
		t.Fatalf("the parent's events %v; want one spawn", got)
	}
}

// TestAFirstBidOutpricedMeanwhileLeavesTheChildWithoutABid: the price of
// CPU rises past the child's first bid between its parent's spawn and its
// creation (the economy stopped between them); when the spawn manager
// places the bid, the book refuses it as it refuses any bid below the
// reserve (bid_rejected, the hold voided): the child lives with its
// credits and no bid, and the audit passes.
func TestAFirstBidOutpricedMeanwhileLeavesTheChildWithoutABid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := &spawnWorld{t: t, dir: filepath.Join(t.TempDir(), "data")}
	key := "api/spawn/p/k1"
	req := system.SpawnRequest{ChildID: system.ChildIDFor(key), Files: map[string]string{"main.py": "x"},
		Command: []string{"python3", "main.py"}, InitialCreditsMicros: events.Credits(50),
		InitialBid: &system.SpawnBid{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1),
			"memory_mb": events.WholeUnits(64)}, AmountMicros: events.Credits(10)}}
	e, ws := w.open(ctx, false)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	createParent(t, ctx, e, "p")
	crashAt(t, ctx, e, newSpawner(e, ws), key, req, afterCreated)
	stop(e)

	// The next life posts CPU at 20 a second before its managers resume.
	w.cfg = func(c *config.Config) {
		cpu := c.Resources[config.ResourceCPUSeconds]
		cpu.InitialPrice, cpu.MinPrice = config.Credits(events.Credits(25)), config.Credits(events.Credits(20))
		c.Resources[config.ResourceCPUSeconds] = cpu
	}
	e, _ = w.open(ctx, false)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	e.Start()
	settled(t, ctx, e)
	c, err := e.accounts.Get(ctx, req.ChildID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != agent.StatusAlive || c.BalanceMicros != events.Credits(50) || c.HeldMicros != 0 || len(c.Holds) != 0 {
		t.Fatalf("child: %+v; want alive with its 50 credits and no bid", c)
	}
	if got := typesOf(t, ctx, e, "events.agent."+req.ChildID+".>"); !slices.Equal(got, []string{"agent_created", "hold_placed", "hold_voided"}) {
		t.Fatalf("the child's events %v; want its creation, its first bid's hold and the hold voided", got)
	}
	if got := typesOf(t, ctx, e, "events.clearing."+Pool+".bid_rejected"); len(got) != 1 {
		t.Fatalf("%d bids rejected; want the child's first", len(got))
	}
	if s := audit(t, ctx, e); s.InFlightMicros != 0 || s.UnlistedBids != 0 || s.OpenBids != 0 {
		t.Fatalf("audit: %+v", s)
	}
}
