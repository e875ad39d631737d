package operator_test

import (
	"fmt"
	"testing"
)

// TestStatusSummarisesTheEconomy: GET /admin/status is the audit fold's
// summary of what the log holds, read after the operator's own writes.
func TestStatusSummarisesTheEconomy(t *testing.T) {
	e := startEconomy(t)
	e.create("genesis", 1000)
	e.ok(e.admin("POST", "/admin/agents", newAgent(100.5, "initial_bid", firstBid(12.5))))
	s := e.ok(e.admin("GET", "/admin/status", nil))
	if fmt.Sprint(s["agents"]) != "2" || fmt.Sprint(s["agents_alive"]) != "2" {
		t.Fatalf("status after two creations: %v", s)
	}
	if fmt.Sprint(s["last_seq"]) != fmt.Sprint(e.lastSeq()) {
		t.Fatalf("status at sequence %v, the log at %d", s["last_seq"], e.lastSeq())
	}
	e.problem(e.call("GET", "/admin/status", "not-the-operator-token-at-all", nil), 401)
}
