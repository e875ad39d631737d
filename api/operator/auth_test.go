package operator_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOnlyTheOperatorTokenPasses: no token, another scheme, an empty, a
// wrong, a longer and a shorter token, and a live execution token that the
// System Service beside it accepts, are all 401 problems on every route;
// none of them changes anything, and no detail echoes the token.
func TestOnlyTheOperatorTokenPasses(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 100)
	execution, err := e.tickets.Issue("alice", "x-alice-1", nil, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// The execution token is good where it belongs.
	e.ok(e.call("GET", "/economic/balance", execution, nil))
	e.settle()
	before := e.lastSeq()

	cases := []struct {
		name   string
		header string
		words  []string
	}{
		{"no header", "", []string{"no bearer token"}},
		{"basic", "Basic b3BlcmF0b3I6eA==", []string{"no bearer token"}},
		{"empty bearer", "Bearer ", []string{"no bearer token"}},
		{"wrong", "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []string{"not the operator token"}},
		{"longer", "Bearer " + operatorToken + "x", []string{"not the operator token"}},
		{"shorter", "Bearer " + operatorToken[:len(operatorToken)-1], []string{"not the operator token"}},
		{"an execution token", "Bearer " + execution, []string{"not the operator token"}},
	}
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/admin/agents", nil},
		{"GET", "/admin/agents/alice", nil},
		{"POST", "/admin/agents", newAgent(10)},
		{"GET", "/metrics", nil},
		{"POST", "/admin/agents/alice/fund", map[string]any{"amount": 5}},
		{"POST", "/admin/agents/alice/bids", map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10}},
		{"POST", "/admin/agents/alice/kill", nil},
	}
	for _, c := range cases {
		for _, r := range routes {
			var headers []string
			if c.header != "" {
				headers = []string{"Authorization", c.header}
			}
			a := e.call(r.method, r.path, "", r.body, headers...)
			detail := e.problem(a, http.StatusUnauthorized, c.words...)
			if !strings.HasPrefix(a.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s %s: no WWW-Authenticate", c.name, r.method, r.path)
			}
			if tok := strings.TrimPrefix(c.header, "Bearer "); len(tok) > 8 && strings.Contains(detail, tok) {
				t.Fatalf("%s: the detail echoes the token: %s", c.name, detail)
			}
		}
	}
	e.settle()
	if after := e.lastSeq(); after != before {
		t.Fatalf("refused calls changed the log: %d -> %d", before, after)
	}
	if ws := e.creator.workspaces(t); len(ws) != 0 {
		t.Fatalf("refused calls wrote workspaces %v", ws)
	}
	// The operator token is no execution token either.
	e.problem(e.call("GET", "/economic/balance", operatorToken, nil), http.StatusUnauthorized)
	// The scheme's name is case-insensitive (RFC 9110).
	e.ok(e.call("GET", "/admin/agents", "", nil, "Authorization", "bearer "+operatorToken))
	// The OpenAPI document is public: it holds no secret.
	if a := e.call("GET", "/admin/openapi.json", "", nil); a.Status != http.StatusOK {
		t.Fatalf("openapi without a token: %d", a.Status)
	}
}
