package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// issue starts an "execution" for agentID: a ticket as the executor would
// issue it, whose token the System Service takes.
func (e *economyForTest) issue(agentID string) string {
	e.t.Helper()
	token, err := e.tickets.Issue(agentID, "x-"+agentID+"-"+events.NewID(), map[string]events.Units{
		"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128)}, time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// audit folds the whole log as `agora audit` does and fails on a broken
// invariant or a skipped record; it returns the summary.
func (e *economyForTest) audit() economy.Summary {
	e.t.Helper()
	eco := economy.New()
	err := e.log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error { return eco.Apply(r) })
	if err != nil {
		e.t.Fatalf("audit: %v", err)
	}
	s := eco.Summary()
	if s.SkippedRecords != 0 {
		e.t.Fatalf("audit: %d skipped records: %+v", s.SkippedRecords, eco.Skipped)
	}
	return s
}

func text(v any) string {
	switch v := v.(type) {
	case json.Number:
		return v.String()
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// TestTheHumanRatesAPrompt: a prompt holds its bid, activates at once on a
// free slot (the bid paid, burned; the attention market leased), the
// human sees it on GET /attention/active, rates it, and the reward
// sum(score x 50) is minted to the agent exactly once; a second response is
// a 409 that mints nothing; the next prompt is shown at once.
func TestTheHumanRatesAPrompt(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 200)
	e.create("bob", 200)
	alice, bob := e.issue("alice"), e.issue("bob")
	e.settle()

	none := e.ok(e.admin("GET", "/attention/active", nil))
	if none["active"] != nil || text(none["waiting"]) != "0" || text(none["price"]) != "50" {
		t.Fatalf("empty slot: %v", none)
	}
	first := e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "Read me, héllo", "bid_amount": 60},
		"Idempotency-Key", "p1"))
	again := e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "Read me, héllo", "bid_amount": 60},
		"Idempotency-Key", "p1"))
	id, _ := first["prompt_id"].(string)
	if !strings.HasPrefix(id, "p-") || again["prompt_id"] != id {
		t.Fatalf("answers %v and %v", first, again)
	}
	second := e.ok(e.call("POST", "/attention/prompt", bob, map[string]any{"content": "Me next", "bid_amount": 55}))
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(140) || a.HeldMicros != 0 {
		t.Fatalf("alice after her prompt was shown: %+v; want 140 left, nothing held", a)
	}
	if b := e.account("bob"); b.HeldMicros != events.Credits(55) {
		t.Fatalf("bob's waiting prompt holds %s; want 55", b.HeldMicros)
	}

	act := e.ok(e.admin("GET", "/attention/active", nil))
	active := act["active"].(map[string]any)
	if active["prompt_id"] != id || active["agent_id"] != "alice" || active["content"] != "Read me, héllo" ||
		text(active["bid_amount"]) != "60" || text(act["waiting"]) != "1" {
		t.Fatalf("active: %v", act)
	}
	state := e.ok(e.call("GET", "/market/state", alice, nil))
	for _, m := range state["markets"].([]any) {
		m := m.(map[string]any)
		if m["resource"] == "attention" && (text(m["leased"]) != "1" || text(m["active_bids"]) != "1" ||
			len(m["recent_transactions"].([]any)) != 1) {
			t.Fatalf("attention market: %v", m)
		}
	}

	r := e.ok(e.admin("POST", "/attention/prompt/"+id+"/response",
		map[string]any{"interesting": 7, "useful": 5, "understandable": 9, "reason": "clear"}, "Idempotency-Key", "h1"))
	// A retry with the key (the answer was lost) answers the first response.
	retried := e.ok(e.admin("POST", "/attention/prompt/"+id+"/response",
		map[string]any{"interesting": 7, "useful": 5, "understandable": 9, "reason": "clear"}, "Idempotency-Key", "h1"))
	if text(retried["reward"]) != text(r["reward"]) || retried["answered_at"] != r["answered_at"] {
		t.Fatalf("a retry answered %v; the first %v", retried, r)
	}
	if text(r["reward"]) != "1050" || r["minted"] != true || r["agent_id"] != "alice" || r["skipped"] != false {
		t.Fatalf("response: %v", r)
	}
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(1190) {
		t.Fatalf("alice after the reward: %s; want 140 + 1050", a.BalanceMicros)
	}
	e.problem(e.admin("POST", "/attention/prompt/"+id+"/response",
		map[string]any{"interesting": 10, "useful": 10, "understandable": 10}), http.StatusConflict, "answered already")
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(1190) {
		t.Fatalf("a second response minted: alice holds %s", a.BalanceMicros)
	}
	next := e.ok(e.admin("GET", "/attention/active", nil))["active"].(map[string]any)
	if next["prompt_id"] != second["prompt_id"] {
		t.Fatalf("the next prompt is not shown: %v", next)
	}
	skipped := e.ok(e.admin("POST", "/attention/prompt/"+second["prompt_id"].(string)+"/skip", nil))
	if skipped["skipped"] != true || text(skipped["reward"]) != "0" || skipped["minted"] != false {
		t.Fatalf("skip: %v", skipped)
	}
	e.settle()
	if b := e.account("bob"); b.BalanceMicros != events.Credits(145) || b.HeldMicros != 0 {
		t.Fatalf("bob after a skip: %+v; want his bid paid (145 left), nothing minted", b)
	}
	page := e.ok(e.admin("GET", "/attention/responses?limit=1", nil))
	resp := page["responses"].([]any)
	if len(resp) != 1 || resp[0].(map[string]any)["prompt_id"] != second["prompt_id"] || page["next_cursor"] == nil {
		t.Fatalf("first page of responses: %v", page)
	}
	page = e.ok(e.admin("GET", "/attention/responses?limit=1&cursor="+page["next_cursor"].(string), nil))
	if resp := page["responses"].([]any); len(resp) != 1 || resp[0].(map[string]any)["prompt_id"] != id || page["next_cursor"] != nil {
		t.Fatalf("second page of responses: %v", page)
	}
	s := e.audit()
	if s.Attention.Activations != 2 || s.Attention.Responses != 2 || s.Attention.RewardedMicros != events.Credits(1050) ||
		s.MintedMicros != events.Credits(400+1050) {
		t.Fatalf("audit: %+v", s)
	}
}

// TestHostileResponses: a score that is not an integer from 0 to 10, a
// missing score, an unknown field, a reason too long, an unknown or
// waiting prompt, an agent's token: each is refused with a 4xx and
// changes nothing (no event written, the prompt still active).
func TestHostileResponses(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 200)
	e.create("bob", 200)
	alice, bob := e.issue("alice"), e.issue("bob")
	e.settle()
	id := e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "x", "bid_amount": 50}))["prompt_id"].(string)
	waiting := e.ok(e.call("POST", "/attention/prompt", bob, map[string]any{"content": "y", "bid_amount": 50}))["prompt_id"].(string)
	e.settle()
	before := e.lastSeq()
	path := "/attention/prompt/" + id + "/response"
	for _, tc := range []struct {
		name   string
		path   string
		token  string
		body   any
		status int
	}{
		{"11", path, operatorToken, `{"interesting":11,"useful":1,"understandable":1}`, 422},
		{"-1", path, operatorToken, `{"interesting":-1,"useful":1,"understandable":1}`, 422},
		{"1.5", path, operatorToken, `{"interesting":1.5,"useful":1,"understandable":1}`, 422},
		{"a string", path, operatorToken, `{"interesting":"x","useful":1,"understandable":1}`, 422},
		{"null", path, operatorToken, `{"interesting":null,"useful":1,"understandable":1}`, 422},
		{"missing", path, operatorToken, `{"useful":1,"understandable":1}`, 422},
		{"unknown field", path, operatorToken, `{"interesting":1,"useful":1,"understandable":1,"extra":1}`, 422},
		{"long reason", path, operatorToken, `{"interesting":1,"useful":1,"understandable":1,"reason":"` + strings.Repeat("é", 2100) + `"}`, 422},
		{"not JSON", path, operatorToken, `{"interesting":`, 400},
		{"a waiting prompt", "/attention/prompt/" + waiting + "/response", operatorToken, `{"interesting":1,"useful":1,"understandable":1}`, 409},
		{"an unknown prompt", "/attention/prompt/p-nope/response", operatorToken, `{"interesting":1,"useful":1,"understandable":1}`, 409},
		{"a bad id", "/attention/prompt/P!/response", operatorToken, `{"interesting":1,"useful":1,"understandable":1}`, 422},
		{"an agent's token", path, alice, `{"interesting":10,"useful":10,"understandable":10}`, 401},
		{"no token", path, "", `{"interesting":10,"useful":10,"understandable":10}`, 401},
		{"skip of a waiting prompt", "/attention/prompt/" + waiting + "/skip", operatorToken, nil, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call("POST", tc.path, tc.token, tc.body)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Body)
			}
		})
	}
	e.settle()
	if after := e.lastSeq(); after != before {
		t.Fatalf("refused responses wrote %d records", after-before)
	}
	if act := e.ok(e.admin("GET", "/attention/active", nil))["active"].(map[string]any); act["prompt_id"] != id {
		t.Fatalf("the active prompt moved: %v", act)
	}
	e.audit()
}

// TestHostilePrompts: bad amounts, empty, long or broken content, others'
// and unknown prompts, the active prompt withdrawn or raised: each is a
// 4xx and changes nothing; the caller's own waiting prompt is raised and
// withdrawn, its hold released, and the queue shows content only to its
// owner.
func TestHostilePrompts(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 200)
	e.create("bob", 100)
	alice, bob := e.issue("alice"), e.issue("bob")
	e.settle()
	active := e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "first", "bid_amount": 50}))["prompt_id"].(string)
	mine := e.ok(e.call("POST", "/attention/prompt", bob, map[string]any{"content": "bob's secret", "bid_amount": 50}))
	if mine["status"] != "waiting" || text(mine["position"]) != "1" {
		t.Fatalf("bob's prompt: %v", mine)
	}
	bobs := mine["prompt_id"].(string)
	e.settle()
	before := e.lastSeq()
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"below the price", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":49.999999}`, 422},
		{"zero", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":0}`, 422},
		{"negative", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":-50}`, 422},
		{"seven decimals", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":50.0000001}`, 422},
		{"a string amount", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":"50"}`, 422},
		{"more than available", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":51}`, 409},
		{"empty content", "POST", "/attention/prompt", bob, `{"content":"","bid_amount":50}`, 422},
		{"no content", "POST", "/attention/prompt", bob, `{"bid_amount":50}`, 422},
		{"too long", "POST", "/attention/prompt", bob, `{"content":"` + strings.Repeat("a", 16385) + `","bid_amount":50}`, 422},
		{"unknown field", "POST", "/attention/prompt", bob, `{"content":"c","bid_amount":50,"x":1}`, 422},
		{"no token", "POST", "/attention/prompt", "", `{"content":"c","bid_amount":50}`, 401},
		{"raise another's", "PATCH", "/attention/prompt/" + bobs, alice, `{"bid_amount":60}`, 404},
		{"withdraw another's", "DELETE", "/attention/prompt/" + bobs, alice, nil, 404},
		{"withdraw unknown", "DELETE", "/attention/prompt/p-unknown", bob, nil, 404},
		{"raise unknown", "PATCH", "/attention/prompt/p-unknown", bob, `{"bid_amount":60}`, 404},
		{"raise not above", "PATCH", "/attention/prompt/" + bobs, bob, `{"bid_amount":50}`, 422},
		{"raise above available", "PATCH", "/attention/prompt/" + bobs, bob, `{"bid_amount":101}`, 409},
		{"withdraw the active", "DELETE", "/attention/prompt/" + active, alice, nil, 409},
		{"raise the active", "PATCH", "/attention/prompt/" + active, alice, `{"bid_amount":60}`, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call(tc.method, tc.path, tc.token, tc.body)
			if a.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.Status, tc.status, a.Body)
			}
		})
	}
	e.settle()
	if after := e.lastSeq(); after != before {
		t.Fatalf("refused calls wrote %d records", after-before)
	}
	if b := e.account("bob"); b.HeldMicros != events.Credits(50) || b.BalanceMicros != events.Credits(100) {
		t.Fatalf("bob after refused calls: %+v", b)
	}

	// The queue: amounts public, content only of the caller's own.
	q := e.ok(e.call("GET", "/attention/queue", alice, nil))
	if q["active"].(map[string]any)["content"] != "first" || len(q["queue"].([]any)) != 1 ||
		q["queue"].([]any)[0].(map[string]any)["content"] != nil {
		t.Fatalf("alice's view of the queue: %v", q)
	}
	q = e.ok(e.call("GET", "/attention/queue", bob, nil))
	if q["active"].(map[string]any)["content"] != nil || q["queue"].([]any)[0].(map[string]any)["content"] != "bob's secret" {
		t.Fatalf("bob's view of the queue: %v", q)
	}
	if q := e.ok(e.admin("GET", "/admin/attention/queue", nil)); q["queue"].([]any)[0].(map[string]any)["content"] != "bob's secret" {
		t.Fatalf("the operator's view of the queue: %v", q)
	}

	raised := e.ok(e.call("PATCH", "/attention/prompt/"+bobs, bob, map[string]any{"bid_amount": 70}))
	if raised["status"] != "waiting" || text(raised["position"]) != "1" {
		t.Fatalf("raise: %v", raised)
	}
	e.settle()
	if b := e.account("bob"); b.HeldMicros != events.Credits(70) {
		t.Fatalf("bob holds %s after the raise; want 70", b.HeldMicros)
	}
	if w := e.ok(e.call("DELETE", "/attention/prompt/"+bobs, bob, nil)); w["status"] != "withdrawn" {
		t.Fatalf("withdraw: %v", w)
	}
	e.settle()
	if b := e.account("bob"); b.HeldMicros != 0 || b.BalanceMicros != events.Credits(100) {
		t.Fatalf("bob after the withdrawal: %+v; want his 100 free", b)
	}
	e.problem(e.call("DELETE", "/attention/prompt/"+bobs, bob, nil), http.StatusNotFound)
	e.audit()
}

// TestDeadAgentsPrompts: an agent that dies has its waiting prompts
// cancelled (holds released with the death, the queue emptied of them);
// its active prompt stays until the human answers, and its reward is not
// minted to the dead agent.
func TestDeadAgentsPrompts(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 300)
	alice := e.issue("alice")
	e.settle()
	first := e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "one", "bid_amount": 50}))["prompt_id"].(string)
	e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "two", "bid_amount": 60}))
	e.ok(e.call("POST", "/attention/prompt", alice, map[string]any{"content": "three", "bid_amount": 70}))
	e.settle()
	e.do("alice", agent.Die{Reason: "test"})
	e.settle()
	q := e.ok(e.admin("GET", "/admin/attention/queue", nil))
	if len(q["queue"].([]any)) != 0 || q["active"].(map[string]any)["prompt_id"] != first {
		t.Fatalf("queue after alice died: %v", q)
	}
	r := e.ok(e.admin("POST", "/attention/prompt/"+first+"/response", map[string]any{"interesting": 10, "useful": 10, "understandable": 10}))
	if r["minted"] != false || text(r["reward"]) != "1500" {
		t.Fatalf("response to a dead agent's prompt: %v", r)
	}
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != 0 || a.HeldMicros != 0 || a.RewardedMicros != 0 {
		t.Fatalf("dead alice: %+v", a)
	}
	s := e.audit()
	if s.Attention.Waiting != 0 || s.Attention.Active != 0 || s.Attention.RewardedMicros != 0 || s.MintedMicros != events.Credits(300) {
		t.Fatalf("audit: %+v", s)
	}
}
