package system_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// bundle is a bid body: 2 cpu_seconds, 128 memory_mb, 100 tokens (reserve
// 2x5 + 128x0.01 + 100x0.1 = 21.28 credits at the initial prices).
func bundle(amount any) map[string]any {
	return map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128, "tokens": 100}, "amount": amount}
}

// TestEveryRouteHappyPath walks each route once, as an agent program
// would in one execution, and checks each answer against the actors and
// the read models.
func TestEveryRouteHappyPath(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 1000)
	e.create("bob", 100)
	deadline := time.Now().Add(time.Minute).Truncate(time.Second)
	alice := e.issue("alice", 500, deadline)

	bal := e.ok(e.call("GET", "/economic/balance", alice, nil))
	wantJSON(t, bal, map[string]string{"agent_id": "alice", "status": "alive", "balance": "1000", "held": "0", "available": "1000"})

	tr := e.ok(e.call("POST", "/economic/transfer", alice, map[string]any{"to_agent_id": "bob", "amount": 12.5, "memo": "thanks"}))
	wantJSON(t, tr, map[string]string{"status": "sent", "to_agent_id": "bob", "amount": "12.5"})
	if id, _ := tr["transfer_id"].(string); events.ValidateID(id) != nil {
		t.Fatalf("transfer id %q", id)
	}
	e.settle()
	if a, b := e.account("alice"), e.account("bob"); a.BalanceMicros != 987_500_000 || b.BalanceMicros != 112_500_000 {
		t.Fatalf("after the transfer alice %s bob %s, want 987.5 and 112.5", a.BalanceMicros, b.BalanceMicros)
	}

	hist := e.ok(e.call("GET", "/economic/history?limit=10", alice, nil))
	txs := hist["transactions"].([]any)
	if len(txs) != 2 {
		t.Fatalf("history %v, want the transfer and the grant", txs)
	}
	wantJSON(t, txs[0].(map[string]any), map[string]string{"kind": "transfer_out", "counterparty_id": "bob", "amount": "-12.5",
		"memo": "thanks", "balance_after": "987.5", "reference": tr["transfer_id"].(string)})
	wantJSON(t, txs[1].(map[string]any), map[string]string{"kind": "grant", "amount": "1000", "balance_after": "1000"})
	if limited := e.ok(e.call("GET", "/economic/history?limit=1", alice, nil)); len(limited["transactions"].([]any)) != 1 {
		t.Fatalf("limit=1: %v", limited)
	}

	bid := e.ok(e.call("POST", "/market/bid", alice, map[string]any{
		"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128, "tokens": 100}, "amount": 45, "payload": "next step"}))
	bidID, _ := bid["bid_id"].(string)
	wantJSON(t, bid, map[string]string{"status": "open"})
	second := e.ok(e.call("POST", "/market/bid", alice, map[string]any{
		"resources": map[string]any{"cpu_seconds": 0.5, "memory_mb": 64}, "amount": 3.140001}))
	wantJSON(t, e.ok(e.call("GET", "/economic/balance", alice, nil)),
		map[string]string{"balance": "987.5", "held": "48.140001", "available": "939.359999"})

	book := e.ok(e.call("GET", "/market/bids", alice, nil))
	bids := book["bids"].([]any)
	if len(bids) != 2 || book["next_cursor"] != nil || jsonText(book["total"]) != "2" {
		t.Fatalf("book %v", book)
	}
	wantJSON(t, bids[0].(map[string]any), map[string]string{"bid_id": bidID, "agent_id": "alice", "amount": "45", "status": "open"})
	wantJSON(t, bids[0].(map[string]any)["resources"].(map[string]any), map[string]string{"cpu_seconds": "2", "memory_mb": "128", "tokens": "100"})
	if _, leaked := bids[0].(map[string]any)["payload"]; leaked {
		t.Fatal("the public book shows a bid's payload")
	}
	page := e.ok(e.call("GET", "/market/bids?limit=1", alice, nil))
	cursor, _ := page["next_cursor"].(string)
	if len(page["bids"].([]any)) != 1 || cursor == "" || jsonText(page["total"]) != "2" {
		t.Fatalf("first page %v", page)
	}
	next := e.ok(e.call("GET", "/market/bids?limit=1&cursor="+cursor, alice, nil))
	wantJSON(t, next["bids"].([]any)[0].(map[string]any), map[string]string{"bid_id": second["bid_id"].(string), "amount": "3.140001"})
	if tokensOnly := e.ok(e.call("GET", "/market/bids?resource=tokens", alice, nil)); len(tokensOnly["bids"].([]any)) != 1 || jsonText(tokensOnly["total"]) != "1" {
		t.Fatalf("resource=tokens: %v", tokensOnly)
	}

	state := e.ok(e.call("GET", "/market/state", alice, nil))
	wantJSON(t, state, map[string]string{"cycle": "0"})
	ms := map[string]map[string]any{}
	for _, m := range state["markets"].([]any) {
		ms[m.(map[string]any)["resource"].(string)] = m.(map[string]any)
	}
	if len(ms) != 4 {
		t.Fatalf("markets %v", state)
	}
	wantJSON(t, ms["cpu_seconds"], map[string]string{"supply": "100", "leased": "0", "utilization": "0", "price": "5", "active_bids": "2"})
	wantJSON(t, ms["tokens"], map[string]string{"price": "0.1", "active_bids": "1"})

	raised := e.ok(e.call("PATCH", "/market/bid/"+bidID, alice, map[string]any{"amount": 50}))
	wantJSON(t, raised, map[string]string{"bid_id": bidID, "status": "open"})
	wantJSON(t, e.ok(e.call("GET", "/market/bids?resource=tokens", alice, nil))["bids"].([]any)[0].(map[string]any),
		map[string]string{"amount": "50"})

	gone := e.ok(e.call("DELETE", "/market/bid/"+bidID, alice, nil))
	wantJSON(t, gone, map[string]string{"bid_id": bidID, "status": "withdrawn"})
	wantJSON(t, e.ok(e.call("GET", "/economic/balance", alice, nil)), map[string]string{"held": "3.140001"})
	if left := e.ok(e.call("GET", "/market/bids", alice, nil)); len(left["bids"].([]any)) != 1 {
		t.Fatalf("after the withdrawal: %v", left)
	}

	agents := e.ok(e.call("GET", "/social/agents", alice, nil))
	if got := strings.Join(strs(agents["agents"]), ","); got != "alice,bob" || agents["next_after"] != nil {
		t.Fatalf("agents %v", agents)
	}
	first := e.ok(e.call("GET", "/social/agents?limit=1", alice, nil))
	if strings.Join(strs(first["agents"]), ",") != "alice" || first["next_after"] != "alice" {
		t.Fatalf("first page of agents %v", first)
	}
	if rest := e.ok(e.call("GET", "/social/agents?limit=1&after=alice", alice, nil)); strings.Join(strs(rest["agents"]), ",") != "bob" {
		t.Fatalf("second page of agents %v", rest)
	}

	x := e.ok(e.call("GET", "/system/execution", alice, nil))
	wantJSON(t, x, map[string]string{"agent_id": "alice", "deadline": deadline.UTC().Format(time.RFC3339)})
	if id, _ := x["execution_id"].(string); !strings.HasPrefix(id, "x-alice-") {
		t.Fatalf("execution %v", x)
	}
	wantJSON(t, x["allocated"].(map[string]any), map[string]string{"cpu_seconds": "2", "memory_mb": "128", "tokens": "500"})
	wantJSON(t, x["used"].(map[string]any), map[string]string{"tokens": "0"})
	wantJSON(t, x["remaining"].(map[string]any), map[string]string{"tokens": "500"})

	cfg := e.ok(e.call("GET", "/system/config", alice, nil))
	wantJSON(t, cfg["economy"].(map[string]any), map[string]string{"spawn_cost": "100", "message_cost": "1", "initial_credit_budget": "1000"})
	wantJSON(t, cfg["resources"].(map[string]any)["memory_mb"].(map[string]any), map[string]string{"supply": "10000", "initial_price": "0.01"})
	wantJSON(t, cfg["inference"].(map[string]any), map[string]string{"available": "false"})
	for _, secret := range []string{"nats", "server", "data", "operator", "url"} {
		if _, ok := cfg[secret]; ok {
			t.Fatalf("/system/config shows %q", secret)
		}
	}

	before := time.Now()
	clock := e.ok(e.call("GET", "/system/time", alice, nil))
	wantJSON(t, clock, map[string]string{"cycle": "0"})
	at, err := time.Parse(time.RFC3339Nano, clock["time"].(string))
	if err != nil || at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("time %v: %v", clock, err)
	}
}

// TestRouteOfNoOperation: unknown paths and methods are problems too.
func TestRouteOfNoOperation(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 10)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	e.problem(e.call("GET", "/economic/nothing", alice, nil), http.StatusNotFound, "no route GET /economic/nothing")
	a := e.call("PUT", "/economic/balance", alice, nil)
	e.problem(a, http.StatusMethodNotAllowed, "PUT", "GET")
	if a.Header.Get("Allow") == "" {
		t.Fatal("405 without Allow")
	}
	// A path that is not clean is no route either: the router's
	// redirect to the clean one came out as a problem with status 307 and
	// nowhere to go (found by FuzzRequestBodies).
	for _, c := range []struct{ method, path, clean string }{
		{"PATCH", "/market/bid/.", "/market/bid/"},
		{"GET", "/economic/./balance", "/economic/balance"},
		{"GET", "/economic//balance", "/economic/balance"},
		{"DELETE", "/market/bid/b-1/..", "/market/"},
	} {
		e.problem(e.call(c.method, c.path, alice, nil), http.StatusNotFound, "no route "+c.method+" "+c.path, c.clean)
	}
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// wantJSON checks fields of a decoded object by their JSON text (numbers
// are json.Number, so 12.5 is "12.5" exactly).
func wantJSON(t *testing.T, got map[string]any, want map[string]string) {
	t.Helper()
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Fatalf("%s missing from %v", k, got)
		}
		if s := jsonText(v); s != w {
			t.Fatalf("%s = %s, want %s (in %v)", k, s, w, got)
		}
	}
}
