package operator_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestMarketsBidsAndConfigAreTheCommandsViews: GET /admin/markets is
// every market (or one, with ?resource=) with its posted price and open
// bids, GET /admin/bids the open bids in clearing order a page at a time
// with a cursor, GET /admin/config the configuration with its secrets
// redacted; bad queries are 422 problems, an unknown market 404.
func TestMarketsBidsAndConfigAreTheCommandsViews(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 100)
	e.create("bob", 100)
	bid := func(id string, amount int) {
		e.ok(e.admin("POST", "/admin/agents/"+id+"/bids",
			map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": amount},
			"Idempotency-Key", fmt.Sprintf("bid-%s-%d", id, amount)))
	}
	bid("alice", 10)
	bid("bob", 20)
	bid("alice", 15)

	st := e.ok(e.admin("GET", "/admin/markets", nil))
	ms := st["markets"].([]any)
	if len(ms) != 4 {
		t.Fatalf("%d markets: %v", len(ms), ms)
	}
	cpu := e.ok(e.admin("GET", "/admin/markets?resource=cpu_seconds", nil))["markets"].([]any)
	if len(cpu) != 1 {
		t.Fatalf("?resource=cpu_seconds: %v", cpu)
	}
	wantJSON(t, cpu[0].(map[string]any), map[string]string{"resource": "cpu_seconds", "supply": "100", "price": "5", "active_bids": "3"})
	e.problem(e.admin("GET", "/admin/markets?resource=gold", nil), 404, "gold")
	e.problem(e.admin("GET", "/admin/markets?resource=Not%20one", nil), 422, "resource")

	page := e.ok(e.admin("GET", "/admin/bids?limit=2", nil))
	bids := page["bids"].([]any)
	if len(bids) != 2 || jsonText(page["total"]) != "3" || page["next_cursor"] == "" {
		t.Fatalf("first page: %v", page)
	}
	wantJSON(t, bids[0].(map[string]any), map[string]string{"agent_id": "bob", "amount": "20", "status": "open"})
	wantJSON(t, bids[1].(map[string]any), map[string]string{"agent_id": "alice", "amount": "15"})
	rest := e.ok(e.admin("GET", "/admin/bids?limit=2&cursor="+jsonText(page["next_cursor"]), nil))
	if b := rest["bids"].([]any); len(b) != 1 || jsonText(b[0].(map[string]any)["amount"]) != "10" || rest["next_cursor"] != "" {
		t.Fatalf("second page: %v", rest)
	}
	if tokens := e.ok(e.admin("GET", "/admin/bids?resource=tokens", nil)); len(tokens["bids"].([]any)) != 0 || jsonText(tokens["total"]) != "0" {
		t.Fatalf("bids naming tokens: %v", tokens)
	}
	e.problem(e.admin("GET", "/admin/bids?cursor=not-a-cursor", nil), 422, "cursor")
	e.problem(e.admin("GET", "/admin/bids?limit=0", nil), 422, "limit")
	e.problem(e.admin("GET", "/admin/bids?limit=501", nil), 422, "limit")
	e.problem(e.admin("GET", "/admin/bids?resource=Not%20one", nil), 422, "resource")

	cfg := e.admin("GET", "/admin/config", nil)
	c := e.ok(cfg)
	if _, ok := c["resources"]; !ok {
		t.Fatalf("config without resources: %v", c)
	}
	if server, ok := c["server"].(map[string]any); !ok || strings.Contains(fmt.Sprint(server), operatorToken) {
		t.Fatalf("config server section: %v", c["server"])
	}
	for _, route := range []string{"/admin/markets", "/admin/bids", "/admin/config"} {
		e.problem(e.call("GET", route, "not-the-operator-token-at-all", nil), 401)
	}
}
