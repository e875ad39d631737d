package system_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/apitest"
	"github.com/agora-econ/agora/api/system"
)

// TestBadInputChangesNothing: every bad field of every route is a 4xx
// problem+json whose detail names what is wrong, and the log's last
// sequence is the same after it as before.
func TestBadInputChangesNothing(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	e.create("zed", 1)
	if _, err := e.accounts.Do(context.Background(), "zed", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	open := e.ok(e.call("POST", "/market/bid", alice, bundle(30)))["bid_id"].(string)

	bid := func(resources map[string]any, amount any, extra ...any) map[string]any {
		b := map[string]any{"resources": resources, "amount": amount}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	cpuMem := map[string]any{"cpu_seconds": 1, "memory_mb": 10}
	huge := strings.Repeat("x", system.BodyBytesMax)
	cases := []struct {
		name         string
		method, path string
		body         any
		headers      []string
		status       int
		words        []string
	}{
		// Money.
		{"seven decimals", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1.0000001}`, nil, 422, []string{"body.amount", "more than 6 decimals"}},
		{"negative", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":-1}`, nil, 422, []string{"body.amount", "> 0"}},
		{"zero", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":0}`, nil, 422, []string{"body.amount", "> 0"}},
		{"above 1e12", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1e13}`, nil, 422, []string{"body.amount", "1e+12"}},
		{"1e12 and a micro", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1000000000000.000001}`, nil, 422, []string{"body.amount", "above the maximum"}},
		{"a string", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":"1"}`, nil, 422, []string{"body.amount", "expected number"}},
		{"NaN", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":NaN}`, nil, 400, []string{"body", "invalid character"}},
		{"Infinity", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":Infinity}`, nil, 400, []string{"body", "invalid character"}},
		{"no amount", "POST", "/economic/transfer", `{"to_agent_id":"bob"}`, nil, 422, []string{"amount"}},
		{"not a JSON content type", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1}`, []string{"Content-Type", "text/plain"}, 415, []string{"body"}},
		{"not JSON", "POST", "/economic/transfer", `{"to_agent_id":`, nil, 400, []string{"body"}},
		{"unknown field", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1,"from":"bob"}`, nil, 422, []string{"from"}},
		{"body too large", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1,"memo":"` + huge + `"}`, nil, 413, []string{"too large"}},
		// Transfers.
		{"bad recipient id", "POST", "/economic/transfer", `{"to_agent_id":"Bob!","amount":1}`, nil, 422, []string{"body.to_agent_id"}},
		{"to self", "POST", "/economic/transfer", `{"to_agent_id":"alice","amount":1}`, nil, 422, []string{"transfer to self"}},
		{"unknown recipient", "POST", "/economic/transfer", `{"to_agent_id":"carol","amount":1}`, nil, 404, []string{"unknown agent", "carol"}},
		{"dead recipient", "POST", "/economic/transfer", `{"to_agent_id":"zed","amount":1}`, nil, 409, []string{"agent is dead", "zed"}},
		{"dead beneficiary", "POST", "/market/bid", bid(cpuMem, 10, "beneficiary_id", "zed"), nil, 404, []string{"zed"}},
		{"insufficient", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":70.000001}`, nil, 409, []string{"insufficient credits"}},
		{"memo too long", "POST", "/economic/transfer", map[string]any{"to_agent_id": "bob", "amount": 1, "memo": strings.Repeat("m", 1025)}, nil, 422, []string{"body.memo"}},
		// Idempotency keys.
		{"key with a space", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1}`, []string{"Idempotency-Key", "a key"}, 400, []string{"Idempotency-Key", "allowed"}},
		{"key too long", "POST", "/market/bid", bundle(30), []string{"Idempotency-Key", strings.Repeat("k", 129)}, 400, []string{"Idempotency-Key", "at most 128"}},
		{"key with a dot at the end", "DELETE", "/market/bid/" + open, nil, []string{"Idempotency-Key", "k."}, 400, []string{"Idempotency-Key"}},
		{"empty key", "POST", "/economic/transfer", `{"to_agent_id":"bob","amount":1}`, []string{"Idempotency-Key", ""}, 400, []string{"Idempotency-Key", "empty"}},
		{"empty key on a bid", "POST", "/market/bid", bundle(30), []string{"Idempotency-Key", ""}, 400, []string{"Idempotency-Key", "empty"}},
		{"empty key on a raise", "PATCH", "/market/bid/" + open, map[string]any{"amount": 40}, []string{"Idempotency-Key", ""}, 400, []string{"Idempotency-Key", "empty"}},
		{"empty key on a withdrawal", "DELETE", "/market/bid/" + open, nil, []string{"Idempotency-Key", ""}, 400, []string{"Idempotency-Key", "empty"}},
		// Bids.
		{"no memory", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1}, 10), nil, 422, []string{"memory_mb"}},
		{"attention", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 10, "attention": 1}, 100), nil, 422, []string{"attention"}},
		{"unknown resource", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 10, "gpu": 1}, 10), nil, 422, []string{"unknown resource", "gpu"}},
		{"bad resource name", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 10, "GPU.x": 1}, 10), nil, 422, []string{"resources", "GPU.x"}},
		{"no resources", "POST", "/market/bid", bid(map[string]any{}, 10), nil, 422, []string{"body.resources"}},
		{"units seven decimals", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1.0000001, "memory_mb": 10}, 10), nil, 422, []string{"body.resources.cpu_seconds", "more than 6 decimals"}},
		{"units negative", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": -10}, 10), nil, 422, []string{"body.resources.memory_mb", "> 0"}},
		{"exceeds supply", "POST", "/market/bid", bid(map[string]any{"cpu_seconds": 101, "memory_mb": 10}, 600), nil, 422, []string{"exceeds supply"}},
		{"below reserve", "POST", "/market/bid", bid(cpuMem, 5), nil, 422, []string{"below the reserve price", "5.1"}},
		{"above available", "POST", "/market/bid", bid(cpuMem, 70.000001), nil, 409, []string{"insufficient credits"}},
		{"unknown beneficiary", "POST", "/market/bid", bid(cpuMem, 10, "beneficiary_id", "carol"), nil, 404, []string{"carol", "unknown agent"}},
		{"bad beneficiary", "POST", "/market/bid", bid(cpuMem, 10, "beneficiary_id", "Carol"), nil, 422, []string{"body.beneficiary_id"}},
		{"payload too long", "POST", "/market/bid", bid(cpuMem, 10, "payload", strings.Repeat("p", 16385)), nil, 422, []string{"body.payload"}},
		{"bid amount 7 decimals", "POST", "/market/bid", bid(cpuMem, 10.0000001), nil, 422, []string{"body.amount", "more than 6 decimals"}},
		{"not raised", "PATCH", "/market/bid/" + open, map[string]any{"amount": 30}, nil, 422, []string{"not above the current amount"}},
		{"raise beyond available", "PATCH", "/market/bid/" + open, map[string]any{"amount": 100.5}, nil, 409, []string{"insufficient credits"}},
		{"raise unknown bid", "PATCH", "/market/bid/b-nope", map[string]any{"amount": 40}, nil, 409, []string{"bid not open", "b-nope"}},
		{"raise bad id", "PATCH", "/market/bid/B%20X", map[string]any{"amount": 40}, nil, 422, []string{"path.id"}},
		{"raise no amount", "PATCH", "/market/bid/" + open, map[string]any{}, nil, 422, []string{"amount"}},
		{"withdraw unknown bid", "DELETE", "/market/bid/b-nope", nil, nil, 409, []string{"bid not open", "b-nope"}},
		// Reads.
		{"history limit 0", "GET", "/economic/history?limit=0", nil, nil, 422, []string{"query.limit"}},
		{"history limit too large", "GET", "/economic/history?limit=1001", nil, nil, 422, []string{"query.limit"}},
		{"history limit not a number", "GET", "/economic/history?limit=ten", nil, nil, 422, []string{"query.limit"}},
		{"bids bad cursor", "GET", "/market/bids?cursor=xyz", nil, nil, 400, []string{"cursor"}},
		{"bids limit too large", "GET", "/market/bids?limit=501", nil, nil, 422, []string{"query.limit"}},
		{"bids bad resource", "GET", "/market/bids?resource=CPU", nil, nil, 422, []string{"query.resource"}},
		{"agents bad after", "GET", "/social/agents?after=A!", nil, nil, 422, []string{"query.after"}},
		{"agents limit 0", "GET", "/social/agents?limit=0", nil, nil, 422, []string{"query.limit"}},
	}
	e.settle()
	before := e.lastSeq()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			a := e.call(c.method, c.path, alice, c.body, c.headers...)
			detail := e.problem(a, c.status, c.words...)
			if len(detail) > 2*system.ValueEchoLengthMax+200 {
				t.Fatalf("detail of %d characters", len(detail))
			}
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("the log moved from %d to %d", before, after)
			}
		})
	}
}

// TestUnreadableBodyChangesNothing: a body that cannot be read (a chunked
// encoding broken after a valid token and headers, or cut short) is a 400
// problem+json whose detail says so without the parser's words, and
// nothing is done.
func TestUnreadableBodyChangesNothing(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	e.settle()
	before := e.lastSeq()
	for name, body := range apitest.UnreadableBodies {
		t.Run(name, func(t *testing.T) {
			a := apitest.Raw(t, e.server.URL, "POST", "/economic/transfer", alice, body)
			apitest.Problem(t, a, 400, "request body could not be read")
			apitest.NotLeaky(t, a)
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("the log moved from %d to %d", before, after)
			}
		})
	}
}
