package operator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// openBidsOf lists agent id's open bids in the book: id -> amount.
func (e *economyForTest) openBidsOf(id string) map[string]events.Micros {
	e.t.Helper()
	bids, err := clearing.Inspect(context.Background(), e.clearing, func(b clearing.Book) map[string]events.Micros {
		out := map[string]events.Micros{}
		for bidID, bid := range b.Bids {
			if bid.AgentID == id {
				out[bidID] = bid.AmountMicros
			}
		}
		return out
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return bids
}

// unchanged checks that call, made after the log settled, wrote nothing.
func (e *economyForTest) unchanged(name string, call func()) {
	e.t.Helper()
	e.settle()
	before := e.lastSeq()
	call()
	e.settle()
	if after := e.lastSeq(); after != before {
		e.t.Fatalf("%s: a refused call wrote to the log (%d -> %d)", name, before, after)
	}
}

// TestFundAnAgent: the operator's grant mints to a living agent, once per
// Idempotency-Key; the directory and the audit fold count it.
func TestFundAnAgent(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 10)
	key := []string{"Idempotency-Key", "fund-1"}
	out := e.ok(e.admin("POST", "/admin/agents/alice/fund", map[string]any{"amount": 2.5}, key...))
	wantJSON(t, out, map[string]string{"agent_id": "alice", "amount": "2.5", "reason": "operator"})
	if a := e.account("alice"); a.BalanceMicros != 12_500_000 || a.GrantedMicros != 12_500_000 {
		t.Fatalf("account after the grant %+v", a)
	}
	// Read your writes: the directory counts it as granted.
	rec := e.ok(e.admin("GET", "/admin/agents/alice", nil))
	wantJSON(t, rec, map[string]string{"balance": "12.5", "available": "12.5"})
	wantJSON(t, rec["earned"].(map[string]any), map[string]string{"total": "12.5", "grant": "12.5"})

	// A retry answers the first grant and mints nothing more.
	e.unchanged("retried grant", func() {
		again := e.ok(e.admin("POST", "/admin/agents/alice/fund", map[string]any{"amount": 2.5}, key...))
		wantJSON(t, again, map[string]string{"agent_id": "alice", "amount": "2.5"})
	})
	// Another key is another grant, with the operator's reason.
	e.ok(e.admin("POST", "/admin/agents/alice/fund", map[string]any{"amount": 0.000001, "reason": "seed money"}))
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != 12_500_001 {
		t.Fatalf("balance %s after two grants", a.BalanceMicros)
	}
	s := e.economy.Summary()
	if s.MintedMicros != 12_500_001 || s.BalanceMicros != 12_500_001 || s.BurnedMicros != 0 {
		t.Fatalf("the audit fold after the grants: %+v", s)
	}
}

// TestBidForAnAgent: a bid on an agent's behalf is held from its own
// credits and listed in the book, once per Idempotency-Key.
func TestBidForAnAgent(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 100)
	key := []string{"Idempotency-Key", "bid-1"}
	body := map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128}, "amount": 12, "payload": "go"}
	out := e.ok(e.admin("POST", "/admin/agents/alice/bids", body, key...))
	bidID, _ := out["bid_id"].(string)
	wantJSON(t, out, map[string]string{"agent_id": "alice", "status": "open"})
	if a := e.account("alice"); a.BalanceMicros != events.Credits(100) || a.HeldMicros != events.Credits(12) || a.Holds[bidID] != events.Credits(12) {
		t.Fatalf("account after the bid %+v", a)
	}
	if bids := e.openBidsOf("alice"); len(bids) != 1 || bids[bidID] != events.Credits(12) {
		t.Fatalf("alice's bids in the book: %v", bids)
	}
	e.unchanged("retried bid", func() {
		again := e.ok(e.admin("POST", "/admin/agents/alice/bids", body, key...))
		if again["bid_id"] != bidID {
			t.Fatalf("a retry answered %v, the first %v", again, out)
		}
	})
	rec := e.ok(e.admin("GET", "/admin/agents/alice", nil))
	wantJSON(t, rec, map[string]string{"held": "12", "available": "88", "bids_placed": "1"})
}

// TestKillAnAgent: the agent dies by the operator's hand: its holds are
// voided, its bids leave the book, its credits are burned, the reason
// says who; a retry answers the first death, a second kill is refused.
func TestKillAnAgent(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 100)
	e.create("bob", 5)
	bid := e.ok(e.admin("POST", "/admin/agents/alice/bids",
		map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128}, "amount": 12}))
	bidID := bid["bid_id"].(string)

	key := []string{"Idempotency-Key", "kill-1"}
	out := e.ok(e.admin("POST", "/admin/agents/alice/kill", map[string]any{"reason": "misbehaving"}, key...))
	wantJSON(t, out, map[string]string{"agent_id": "alice", "status": "dead", "burned": "100",
		"reason": agent.KilledByOperator + ": misbehaving"})
	if voided := out["voided_holds"].([]any); len(voided) != 1 || voided[0] != bidID {
		t.Fatalf("voided holds %v, want [%s]", voided, bidID)
	}
	if a := e.account("alice"); a.Status != agent.StatusDead || a.BalanceMicros != 0 || a.HeldMicros != 0 {
		t.Fatalf("account after the kill %+v", a)
	}
	e.settle()
	if bids := e.openBidsOf("alice"); len(bids) != 0 {
		t.Fatalf("a dead agent's bids stay in the book: %v", bids)
	}
	rec := e.ok(e.admin("GET", "/admin/agents/alice", nil))
	wantJSON(t, rec, map[string]string{"status": "dead", "death_reason": agent.KilledByOperator + ": misbehaving",
		"death_burned": "100", "balance": "0"})

	e.unchanged("retried kill", func() {
		again := e.ok(e.admin("POST", "/admin/agents/alice/kill", map[string]any{"reason": "misbehaving"}, key...))
		wantJSON(t, again, map[string]string{"status": "dead", "burned": "100"})
	})
	e.unchanged("second kill", func() {
		e.problem(e.admin("POST", "/admin/agents/alice/kill", nil), http.StatusConflict, "dead", "alice")
	})
	// Without a body the reason is the operator's alone.
	out = e.ok(e.admin("POST", "/admin/agents/bob/kill", nil))
	wantJSON(t, out, map[string]string{"reason": agent.KilledByOperator, "burned": "5"})

	e.settle()
	s := e.economy.Summary()
	if s.AgentsAlive != 0 || s.MintedMicros != events.Credits(105) || s.BurnedMicros != events.Credits(105) || s.OpenBids != 0 {
		t.Fatalf("the audit fold after the kills: %+v", s)
	}
}

// TestPowersRefuseBadInput: every refusal is a problem naming what is
// wrong, and writes nothing.
func TestPowersRefuseBadInput(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 100)
	e.create("dead", 1)
	e.do("dead", agent.Die{Reason: "test"})
	cpuMem := map[string]any{"cpu_seconds": 2, "memory_mb": 128}
	bid := func(resources map[string]any, amount any) map[string]any {
		return map[string]any{"resources": resources, "amount": amount}
	}
	long := strings.Repeat("r", 257)
	cases := []struct {
		name    string
		path    string
		body    any
		headers []string
		status  int
		words   []string
	}{
		{"fund: unknown agent", "/admin/agents/nobody/fund", map[string]any{"amount": 1}, nil, http.StatusNotFound, []string{"unknown agent", "nobody"}},
		{"fund: dead agent", "/admin/agents/dead/fund", map[string]any{"amount": 1}, nil, http.StatusConflict, []string{"dead"}},
		{"fund: bad id", "/admin/agents/Alice/fund", map[string]any{"amount": 1}, nil, http.StatusUnprocessableEntity, []string{"path.id"}},
		{"fund: zero", "/admin/agents/alice/fund", map[string]any{"amount": 0}, nil, http.StatusUnprocessableEntity, []string{"body.amount"}},
		{"fund: negative", "/admin/agents/alice/fund", map[string]any{"amount": -1}, nil, http.StatusUnprocessableEntity, []string{"body.amount"}},
		{"fund: seven decimals", "/admin/agents/alice/fund", `{"amount": 1.0000001}`, nil, http.StatusUnprocessableEntity, []string{"body.amount"}},
		{"fund: a string", "/admin/agents/alice/fund", map[string]any{"amount": "5"}, nil, http.StatusUnprocessableEntity, []string{"body.amount"}},
		{"fund: above 1e12", "/admin/agents/alice/fund", `{"amount": 1000000000001}`, nil, http.StatusUnprocessableEntity, []string{"body.amount"}},
		{"fund: no amount", "/admin/agents/alice/fund", map[string]any{}, nil, http.StatusUnprocessableEntity, []string{"amount"}},
		{"fund: no body", "/admin/agents/alice/fund", nil, nil, http.StatusBadRequest, []string{"body"}},
		{"fund: past the balance cap", "/admin/agents/alice/fund", `{"amount": 1000000000000}`, nil, http.StatusConflict, []string{"balance would exceed the maximum"}},
		{"fund: a reason of two lines", "/admin/agents/alice/fund", map[string]any{"amount": 1, "reason": "a\nb"}, nil, http.StatusUnprocessableEntity, []string{"body.reason", "control character"}},
		{"kill: a reason with a NUL", "/admin/agents/alice/kill", map[string]any{"reason": "a\u0000b"}, nil, http.StatusUnprocessableEntity, []string{"body.reason", "control character"}},
		{"fund: an unknown field", "/admin/agents/alice/fund", map[string]any{"amount": 1, "amout": 2}, nil, http.StatusUnprocessableEntity, []string{"amout"}},
		{"bid: a beneficiary", "/admin/agents/alice/bids", map[string]any{"resources": cpuMem, "amount": 12, "beneficiary_id": "dead"}, nil, http.StatusUnprocessableEntity, []string{"beneficiary_id"}},
		{"fund: long reason", "/admin/agents/alice/fund", map[string]any{"amount": 1, "reason": long}, nil, http.StatusUnprocessableEntity, []string{"body.reason"}},
		{"fund: bad key", "/admin/agents/alice/fund", map[string]any{"amount": 1}, []string{"Idempotency-Key", "has space"}, http.StatusBadRequest, []string{"Idempotency-Key"}},
		{"bid: unknown agent", "/admin/agents/nobody/bids", bid(cpuMem, 12), nil, http.StatusNotFound, []string{"unknown agent", "nobody"}},
		{"bid: dead agent", "/admin/agents/dead/bids", bid(cpuMem, 12), nil, http.StatusConflict, []string{"dead"}},
		{"bid: below the reserve", "/admin/agents/alice/bids", bid(cpuMem, 1), nil, http.StatusUnprocessableEntity, []string{"reserve"}},
		{"bid: above the available credits", "/admin/agents/alice/bids", bid(cpuMem, 100.000001), nil, http.StatusConflict, []string{"insufficient credits"}},
		{"bid: no memory", "/admin/agents/alice/bids", bid(map[string]any{"cpu_seconds": 2}, 12), nil, http.StatusUnprocessableEntity, []string{"memory_mb"}},
		{"bid: attention", "/admin/agents/alice/bids", bid(map[string]any{"cpu_seconds": 2, "memory_mb": 1, "attention": 1}, 99), nil, http.StatusUnprocessableEntity, []string{"attention"}},
		{"bid: unknown resource", "/admin/agents/alice/bids", bid(map[string]any{"cpu_seconds": 2, "memory_mb": 1, "gpus": 1}, 99), nil, http.StatusUnprocessableEntity, []string{"gpus"}},
		{"bid: above supply", "/admin/agents/alice/bids", bid(map[string]any{"cpu_seconds": 101, "memory_mb": 1}, 99), nil, http.StatusUnprocessableEntity, []string{"supply"}},
		{"bid: no resources", "/admin/agents/alice/bids", bid(map[string]any{}, 12), nil, http.StatusUnprocessableEntity, []string{"body.resources"}},
		{"bid: zero units", "/admin/agents/alice/bids", bid(map[string]any{"cpu_seconds": 0, "memory_mb": 1}, 12), nil, http.StatusUnprocessableEntity, []string{"cpu_seconds"}},
		{"bid: long payload", "/admin/agents/alice/bids", map[string]any{"resources": cpuMem, "amount": 12, "payload": strings.Repeat("p", 16385)}, nil, http.StatusUnprocessableEntity, []string{"body.payload"}},
		{"kill: unknown agent", "/admin/agents/nobody/kill", nil, nil, http.StatusNotFound, []string{"unknown agent", "nobody"}},
		{"kill: dead agent", "/admin/agents/dead/kill", nil, nil, http.StatusConflict, []string{"dead"}},
		{"kill: long reason", "/admin/agents/alice/kill", map[string]any{"reason": long}, nil, http.StatusUnprocessableEntity, []string{"body.reason"}},
		{"kill: bad key", "/admin/agents/alice/kill", nil, []string{"Idempotency-Key", strings.Repeat("k", 129)}, http.StatusBadRequest, []string{"Idempotency-Key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.unchanged(c.name, func() {
				e.problem(e.admin("POST", c.path, c.body, c.headers...), c.status, c.words...)
			})
		})
	}
	e.t = t
	if a := e.account("alice"); a.Status != agent.StatusAlive || a.BalanceMicros != events.Credits(100) || a.HeldMicros != 0 {
		t.Fatalf("alice after refused calls %+v", a)
	}
}
