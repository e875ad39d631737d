package system_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
)

// viaHTTP is a call as the HTTP door takes it.
type viaHTTP struct {
	method, path string
	body         any
	key          string // Idempotency-Key
}

func (r viaHTTP) send(e *economyForTest, token string) answer {
	e.t.Helper()
	if r.key == "" {
		return e.call(r.method, r.path, token, r.body)
	}
	return e.call(r.method, r.path, token, r.body, "Idempotency-Key", r.key)
}

// canonical is v as JSON with its object keys sorted, so that two answers
// compare by their content.
func canonical(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return asJSON(t, v)
}

// TestDoorsAnswerAlike: every kind of call, made by the actor (the Go
// agents' door) and then over HTTP, gets the same answer: the same JSON
// body for a read, and for a command, retried over HTTP with the actor's
// key, the first result, applied once. A call either door refuses is
// refused by the other with the same typed rejection: the HTTP status of
// the status table, and the actor's error as the detail.
func TestDoorsAnswerAlike(t *testing.T) {
	u := startUpstream(t)
	o := inferenceOptions(t, u)
	now := time.Now()
	o.now = func() time.Time { return now } // GET /system/time answers alike
	e := startEconomy(t, o)
	e.create("alice", 100)
	e.create("bob", 100)
	token := e.issue("alice", 1000, now.Add(time.Hour))
	alice := system.Caller{Token: token}
	bid := must[system.BidStatus](t, e, system.PlaceBid{Caller: alice, Key: "b0", Terms: cpuMemTerms(), AmountMicros: events.Credits(30)})
	e.settle()

	chatRequest := []byte(`{"messages":[{"role":"user","content":"hi"}]}`)
	kinds := []struct {
		name string
		call system.Call
		http viaHTTP
	}{
		{"transfer", system.Transfer{Caller: alice, Key: "t1", ToAgentID: "bob", AmountMicros: 1_250_000, Memo: "rent"},
			viaHTTP{"POST", "/economic/transfer", map[string]any{"to_agent_id": "bob", "amount": 1.25, "memo": "rent"}, "t1"}},
		{"place", system.PlaceBid{Caller: alice, Key: "b1", Terms: events.BidTerms{Resources: map[string]events.Units{
			"cpu_seconds": 1_500_000, "memory_mb": events.WholeUnits(64), "tokens": events.WholeUnits(10)}, Payload: "next", BeneficiaryID: "bob"},
			AmountMicros: events.Credits(20)},
			viaHTTP{"POST", "/market/bid", map[string]any{"resources": map[string]any{"cpu_seconds": 1.5, "memory_mb": 64, "tokens": 10},
				"amount": 20, "payload": "next", "beneficiary_id": "bob"}, "b1"}},
		{"raise", system.RaiseBid{Caller: alice, Key: "r1", BidID: bid.BidID, AmountMicros: events.Credits(31)},
			viaHTTP{"PATCH", "/market/bid/" + bid.BidID, map[string]any{"amount": 31}, "r1"}},
		{"balance", system.GetBalance{Caller: alice}, viaHTTP{"GET", "/economic/balance", nil, ""}},
		{"history", system.GetHistory{Caller: alice, Limit: 5}, viaHTTP{"GET", "/economic/history?limit=5", nil, ""}},
		{"history by default", system.GetHistory{Caller: alice}, viaHTTP{"GET", "/economic/history", nil, ""}},
		{"markets", system.GetMarketState{Caller: alice}, viaHTTP{"GET", "/market/state", nil, ""}},
		{"bids", system.ListBids{Caller: alice, Resource: "memory_mb", Limit: 1}, viaHTTP{"GET", "/market/bids?resource=memory_mb&limit=1", nil, ""}},
		{"agents", system.ListAgents{Caller: alice, Limit: 1}, viaHTTP{"GET", "/social/agents?limit=1", nil, ""}},
		{"agents after", system.ListAgents{Caller: alice, After: "alice"}, viaHTTP{"GET", "/social/agents?after=alice", nil, ""}},
		{"execution", system.GetExecution{Caller: alice}, viaHTTP{"GET", "/system/execution", nil, ""}},
		{"config", system.GetConfig{Caller: alice}, viaHTTP{"GET", "/system/config", nil, ""}},
		{"time", system.GetTime{Caller: alice}, viaHTTP{"GET", "/system/time", nil, ""}},
		{"withdraw", system.WithdrawBid{Caller: alice, Key: "w1", BidID: bid.BidID}, viaHTTP{"DELETE", "/market/bid/" + bid.BidID, nil, "w1"}},
		{"inference", system.Infer{Caller: alice, Request: chatRequest}, viaHTTP{"POST", "/intelligence/inference", json.RawMessage(chatRequest), ""}},
	}
	for _, k := range kinds {
		byActor, err := ask[any](t, e, k.call)
		if err != nil {
			t.Fatalf("%s by the actor: %v", k.name, err)
		}
		e.settle()
		seq := e.lastSeq()
		a := k.http.send(e, token)
		if a.Status != http.StatusOK {
			t.Fatalf("%s over HTTP: %d %s", k.name, a.Status, a.Body)
		}
		want := asJSON(t, byActor)
		if c, ok := byActor.(system.Completion); ok {
			// An inference is not a command: each call is its own, metered
			// (the upstream's usage is 40 tokens).
			want = canonical(t, c.Answer)
			if left := a.Header.Get("X-Agora-Tokens-Remaining"); left != strconv.FormatInt(c.TokensRemaining-40, 10) {
				t.Fatalf("inference: the actor left %d tokens, then HTTP %s", c.TokensRemaining, left)
			}
		}
		if want, got := canonical(t, []byte(want)), canonical(t, a.Body); got != want {
			t.Fatalf("%s: the actor answered %s, HTTP %s", k.name, want, got)
		}
		e.settle()
		if e.lastSeq() != seq {
			t.Fatalf("%s: HTTP's retry of the actor's command wrote to the log", k.name)
		}
	}
	if a := e.account("alice"); a.BalanceMicros != 98_750_000 || a.HeldMicros != events.Credits(20) {
		t.Fatalf("alice %s held %s, want 98.75 and the one open bid's 20 held", a.BalanceMicros, a.HeldMicros)
	}

	bobs := e.issue("bob", 0, now.Add(time.Hour))
	theirs := must[system.BidStatus](t, e, system.PlaceBid{Caller: system.Caller{Token: bobs}, Terms: cpuMemTerms(), AmountMicros: events.Credits(20)})
	noTokens := system.Caller{Token: e.issue("alice", 0, now.Add(time.Hour))}
	expired := e.issue("alice", 0, now.Add(-time.Second))
	e.settle()
	seq := e.lastSeq()
	refused := []struct {
		name   string
		call   system.Call
		http   viaHTTP
		want   error
		status int
		by     string // the HTTP call's token, if not alice's
	}{
		{"to nobody", system.Transfer{Caller: alice, ToAgentID: "nobody", AmountMicros: 1},
			viaHTTP{"POST", "/economic/transfer", map[string]any{"to_agent_id": "nobody", "amount": 0.000001}, ""}, agent.ErrUnknownAgent, 404, ""},
		{"more than the balance", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: events.Credits(500)},
			viaHTTP{"POST", "/economic/transfer", map[string]any{"to_agent_id": "bob", "amount": 500}, ""}, agent.ErrInsufficientCredits, 409, ""},
		{"to self", system.Transfer{Caller: alice, ToAgentID: "alice", AmountMicros: 1},
			viaHTTP{"POST", "/economic/transfer", map[string]any{"to_agent_id": "alice", "amount": 0.000001}, ""}, agent.ErrTransferToSelf, 422, ""},
		{"a bad cursor", system.ListBids{Caller: alice, Cursor: "zzz"}, viaHTTP{"GET", "/market/bids?cursor=zzz", nil, ""}, bidbook.ErrInvalidCursor, 400, ""},
		{"below the reserve", system.PlaceBid{Caller: alice, Terms: cpuMemTerms(), AmountMicros: 1},
			viaHTTP{"POST", "/market/bid", map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128}, "amount": 0.000001}, ""},
			clearing.ErrBelowReserve, 422, ""},
		{"an unknown resource", system.PlaceBid{Caller: alice, Terms: events.BidTerms{Resources: map[string]events.Units{
			"cpu_seconds": 1, "memory_mb": 1, "gpu": 1}}, AmountMicros: events.Credits(10)},
			viaHTTP{"POST", "/market/bid", map[string]any{"resources": map[string]any{"cpu_seconds": 0.000001, "memory_mb": 0.000001, "gpu": 0.000001}, "amount": 10}, ""},
			clearing.ErrUnknownResource, 422, ""},
		{"for nobody", system.PlaceBid{Caller: alice, Terms: events.BidTerms{Resources: cpuMemTerms().Resources, BeneficiaryID: "nobody"}, AmountMicros: events.Credits(30)},
			viaHTTP{"POST", "/market/bid", map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128}, "amount": 30, "beneficiary_id": "nobody"}, ""},
			agent.ErrUnknownAgent, 404, ""},
		{"another agent's bid", system.WithdrawBid{Caller: alice, BidID: theirs.BidID},
			viaHTTP{"DELETE", "/market/bid/" + theirs.BidID, nil, ""}, clearing.ErrNotYourBid, 403, ""},
		{"a withdrawn bid", system.RaiseBid{Caller: alice, BidID: bid.BidID, AmountMicros: events.Credits(50)},
			viaHTTP{"PATCH", "/market/bid/" + bid.BidID, map[string]any{"amount": 50}, ""}, clearing.ErrBidNotOpen, 409, ""},
		{"no tokens left", system.Infer{Caller: noTokens, Request: chatRequest},
			viaHTTP{"POST", "/intelligence/inference", json.RawMessage(chatRequest), ""}, ticket.ErrQuotaExhausted, 429, noTokens.Token},
		// A refused token: the HTTP door refuses it before the call (its
		// detail never echoes why in the token's words), so only the
		// status is compared.
		{"an expired token", system.GetBalance{Caller: system.Caller{Token: expired}},
			viaHTTP{"GET", "/economic/balance", nil, ""}, ticket.ErrExpired, 401, expired},
	}
	for _, c := range refused {
		_, err := ask[any](t, e, c.call)
		if !errors.Is(err, c.want) {
			t.Fatalf("%s by the actor: got %v, want %v", c.name, err, c.want)
		}
		by := c.by
		if by == "" {
			by = token
		}
		a := c.http.send(e, by)
		detail := e.problem(a, c.status)
		if c.status == http.StatusUnauthorized {
			continue
		}
		if detail != err.Error() {
			t.Fatalf("%s: the actor refused %q, HTTP %q", c.name, err, detail)
		}
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatalf("refused calls wrote to the log: %d -> %d", seq, e.lastSeq())
	}
}
