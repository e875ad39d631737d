package system_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTokensThatDoNotAct: no token, a malformed header, an unknown, an
// expired and a revoked token are all 401 problems, and none of them
// changes the log.
func TestTokensThatDoNotAct(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	expired := e.issue("alice", 10, time.Now().Add(-time.Second))
	revoked := e.issue("alice", 10, time.Now().Add(time.Minute))
	if err := e.tickets.Revoke(revoked); err != nil {
		t.Fatal(err)
	}
	e.settle()
	before := e.lastSeq()
	transfer := map[string]any{"to_agent_id": "bob", "amount": 1}
	cases := []struct {
		name    string
		headers []string
		words   []string
	}{
		{"no header", nil, []string{"Authorization: Bearer"}},
		{"basic", []string{"Authorization", "Basic YWxpY2U6eA=="}, []string{"no bearer token"}},
		{"empty bearer", []string{"Authorization", "Bearer "}, []string{"no bearer token"}},
		{"unknown", []string{"Authorization", "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, []string{"not the token of a running execution"}},
		{"expired", []string{"Authorization", "Bearer " + expired}, []string{"past its deadline"}},
		{"revoked", []string{"Authorization", "Bearer " + revoked}, []string{"has ended"}},
	}
	for _, c := range cases {
		for _, route := range [][2]string{{"POST", "/economic/transfer"}, {"GET", "/economic/balance"}, {"POST", "/intelligence/inference"}} {
			var body any
			if route[0] == "POST" {
				body = transfer
			}
			a := e.call(route[0], route[1], "", body, c.headers...)
			detail := e.problem(a, http.StatusUnauthorized, c.words...)
			if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s: no WWW-Authenticate", c.name, route[1])
			}
			if len(c.headers) > 0 && len(c.headers[1]) > len("Bearer ") && strings.Contains(detail, strings.TrimPrefix(c.headers[1], "Bearer ")) {
				t.Fatalf("%s: the detail echoes the token: %s", c.name, detail)
			}
		}
	}
	e.settle()
	if after := e.lastSeq(); after != before {
		t.Fatalf("refused calls changed the log: %d -> %d", before, after)
	}
	if a := e.account("alice"); a.BalanceMicros != 100_000_000 {
		t.Fatalf("alice %s", a.BalanceMicros)
	}
	// The OpenAPI document is public: it holds no secret.
	if a := e.call("GET", "/openapi.json", "", nil); a.Status != http.StatusOK {
		t.Fatalf("openapi without a token: %d", a.Status)
	}
}

// TestAnotherAgentsBids: bob's token can neither raise nor withdraw
// alice's bid (403), and the log and alice's bid stay as they were.
func TestAnotherAgentsBids(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	bob := e.issue("bob", 0, time.Now().Add(time.Minute))
	bidID := e.ok(e.call("POST", "/market/bid", alice, bundle(30)))["bid_id"].(string)
	e.settle()
	before := e.lastSeq()

	e.problem(e.call("PATCH", "/market/bid/"+bidID, bob, map[string]any{"amount": 40}), http.StatusForbidden, "another agent", bidID)
	e.problem(e.call("DELETE", "/market/bid/"+bidID, bob, nil), http.StatusForbidden, "another agent", bidID)
	// The same with the Idempotency-Key alice might have used: keys are
	// scoped by agent, so bob's call is bob's.
	e.problem(e.call("DELETE", "/market/bid/"+bidID, bob, nil, "Idempotency-Key", "k1"), http.StatusForbidden)

	e.settle()
	if after := e.lastSeq(); after != before {
		t.Fatalf("bob's calls changed the log: %d -> %d", before, after)
	}
	bids := e.ok(e.call("GET", "/market/bids", bob, nil))["bids"].([]any)
	if len(bids) != 1 {
		t.Fatalf("book %v", bids)
	}
	wantJSON(t, bids[0].(map[string]any), map[string]string{"bid_id": bidID, "agent_id": "alice", "amount": "30"})
	if a, b := e.account("alice"), e.account("bob"); a.HeldMicros != 30_000_000 || b.HeldMicros != 0 {
		t.Fatalf("held: alice %s bob %s", a.HeldMicros, b.HeldMicros)
	}
}
