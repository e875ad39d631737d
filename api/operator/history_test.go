package operator_test

import (
	"fmt"
	"testing"
)

// TestHistoryIsTheEconomysRecentActivity: GET /admin/history lists every
// agent's money movements newest first, read after the operator's own
// writes, or one agent's with ?agent=; bad queries are problems.
func TestHistoryIsTheEconomysRecentActivity(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 10)
	e.create("bob", 20)
	e.ok(e.admin("POST", "/admin/agents/alice/fund", map[string]any{"amount": 2.5, "reason": "seed"}))

	txs := e.ok(e.admin("GET", "/admin/history?limit=2", nil))["transactions"].([]any)
	if len(txs) != 2 {
		t.Fatalf("limit 2 gave %d transactions: %v", len(txs), txs)
	}
	newest := txs[0].(map[string]any)
	wantJSON(t, newest, map[string]string{"agent_id": "alice", "kind": "grant", "amount": "2.5", "balance_after": "12.5", "memo": "seed"})
	wantJSON(t, txs[1].(map[string]any), map[string]string{"agent_id": "bob", "kind": "grant", "amount": "20"})

	bobs := e.ok(e.admin("GET", "/admin/history?agent=bob", nil))["transactions"].([]any)
	if len(bobs) != 1 || fmt.Sprint(bobs[0].(map[string]any)["agent_id"]) != "bob" {
		t.Fatalf("bob's history: %v", bobs)
	}

	e.problem(e.admin("GET", "/admin/history?agent=nobody", nil), 404, "nobody")
	e.problem(e.admin("GET", "/admin/history?limit=0", nil), 422, "limit")
	e.problem(e.admin("GET", "/admin/history?limit=1001", nil), 422, "limit")
	e.problem(e.admin("GET", "/admin/history?agent=Not%20an%20id", nil), 422, "agent")
	e.problem(e.call("GET", "/admin/history", "not-the-operator-token-at-all", nil), 401)
}
