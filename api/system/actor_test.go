package system_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/history"
)

func credits(n int64) system.Credits { return system.Credits(events.Credits(n)) }

// ask calls the service as a Go agent does: an actor message to its PID.
func ask[T any](t *testing.T, e *economyForTest, call system.Call) (T, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return system.Ask[T](ctx, e.service.Root(), e.service.PID(), call)
}

func must[T any](t *testing.T, e *economyForTest, call system.Call) T {
	t.Helper()
	v, err := ask[T](t, e, call)
	if err != nil {
		t.Fatalf("%T: %v", call, err)
	}
	return v
}

func cpuMemTerms() events.BidTerms {
	return events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128)}}
}

// TestGoAgentMessages: every operation of the HTTP API as an actor
// message, answered with the same figures the HTTP API shows, and a retry
// with the same key applied once.
func TestGoAgentMessages(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	token := e.issue("alice", 50, time.Now().Add(time.Minute))
	alice := system.Caller{Token: token}

	if b := must[system.Balance](t, e, system.GetBalance{Caller: alice}); b.AgentID != "alice" || b.Status != "alive" ||
		b.Balance != credits(100) || b.Available != credits(100) {
		t.Fatalf("balance %+v", b)
	}

	transfer := system.Transfer{Caller: alice, Key: "pay-bob", ToAgentID: "bob", AmountMicros: 2_500_000, Memo: "thanks"}
	sent := must[system.TransferReceipt](t, e, transfer)
	if sent.ToAgentID != "bob" || sent.Amount != 2_500_000 || sent.Status != "sent" || sent.TransferID == "" {
		t.Fatalf("transfer %+v", sent)
	}
	e.settle()
	seq := e.lastSeq()
	if again := must[system.TransferReceipt](t, e, transfer); again != sent {
		t.Fatalf("a retried transfer answered %+v, then %+v", sent, again)
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatal("a retried transfer wrote to the log")
	}
	if b := e.account("bob"); b.BalanceMicros != 102_500_000 {
		t.Fatalf("bob has %s, want 102.5", b.BalanceMicros)
	}

	bid := must[system.BidStatus](t, e, system.PlaceBid{Caller: alice, Key: "next", Terms: cpuMemTerms(), AmountMicros: events.Credits(30)})
	if bid.Status != "open" || bid.BidID == "" {
		t.Fatalf("bid %+v", bid)
	}
	if r := must[system.BidStatus](t, e, system.RaiseBid{Caller: alice, BidID: bid.BidID, AmountMicros: events.Credits(35)}); r.Status != "open" {
		t.Fatalf("raise %+v", r)
	}
	page := must[system.BidPage](t, e, system.ListBids{Caller: alice, Resource: "cpu_seconds"})
	if page.Total != 1 || len(page.Bids) != 1 || page.Bids[0].BidID != bid.BidID || page.Bids[0].Amount != credits(35) {
		t.Fatalf("book %+v", page)
	}
	// The HTTP API shows the same book.
	if h := e.ok(e.call("GET", "/market/bids", token, nil)); jsonText(h["total"]) != "1" || jsonText(h["bids"].([]any)[0].(map[string]any)["amount"]) != "35" {
		t.Fatalf("over HTTP the book is %v", h)
	}

	h := must[system.History](t, e, system.GetHistory{Caller: alice, Limit: 10})
	if txs := h.Transactions; h.AgentID != "alice" || len(txs) != 2 || txs[0].Kind != string(history.KindTransferOut) || txs[0].Amount != -2_500_000 {
		t.Fatalf("history %+v", h)
	}
	if st := must[system.MarketState](t, e, system.GetMarketState{Caller: alice}); len(st.Markets) != len(testMarkets) {
		t.Fatalf("markets %+v", st)
	}
	if ag := must[system.AgentPage](t, e, system.ListAgents{Caller: alice, Limit: 1}); len(ag.Agents) != 1 || ag.Agents[0] != "alice" || ag.NextAfter != "alice" {
		t.Fatalf("agents %+v", ag)
	}
	if x := must[system.Execution](t, e, system.GetExecution{Caller: alice}); x.AgentID != "alice" || x.Remaining["tokens"] != system.Units(events.WholeUnits(50)) {
		t.Fatalf("execution %+v", x)
	}
	if c := must[system.PublicConfig](t, e, system.GetConfig{Caller: alice}); c.Economy.SpawnCost != credits(100) {
		t.Fatalf("config %+v", c.Economy)
	}
	if tm := must[system.Time](t, e, system.GetTime{Caller: alice}); time.Since(tm.Time) > time.Minute {
		t.Fatalf("time %+v", tm)
	}

	if w := must[system.BidStatus](t, e, system.WithdrawBid{Caller: alice, BidID: bid.BidID}); w.Status != "withdrawn" {
		t.Fatalf("withdraw %+v", w)
	}
	if a := e.account("alice"); a.HeldMicros != 0 || a.BalanceMicros != 97_500_000 {
		t.Fatalf("alice holds %s of %s after the withdrawal", a.HeldMicros, a.BalanceMicros)
	}
}

// TestGoAgentBadCallsChangeNothing: what the HTTP API's schema refuses,
// the actor refuses too, with the typed error; the log is unchanged.
func TestGoAgentBadCallsChangeNothing(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	token := e.issue("alice", 0, time.Now().Add(time.Minute))
	alice := system.Caller{Token: token}
	bobs := e.issue("bob", 0, time.Now().Add(time.Minute))
	open := must[system.BidStatus](t, e, system.PlaceBid{Caller: system.Caller{Token: bobs}, Terms: cpuMemTerms(), AmountMicros: events.Credits(20)})
	expired := e.issue("alice", 0, time.Now().Add(-time.Second))
	e.settle()
	seq := e.lastSeq()

	cases := []struct {
		name string
		call system.Call
		want error
	}{
		{"no token", system.GetBalance{}, ticket.ErrUnknownToken},
		{"a made-up token", system.GetBalance{Caller: system.Caller{Token: "not-a-token"}}, ticket.ErrUnknownToken},
		{"an expired token", system.Transfer{Caller: system.Caller{Token: expired}, ToAgentID: "bob", AmountMicros: 1}, ticket.ErrExpired},
		{"zero credits", system.Transfer{Caller: alice, ToAgentID: "bob"}, events.ErrInvalidAmount},
		{"negative credits", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: -5}, events.ErrInvalidAmount},
		{"above 1e12", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: events.Credits(1_000_000_000_001)}, events.ErrInvalidAmount},
		{"more than the balance", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: events.Credits(101)}, agent.ErrInsufficientCredits},
		{"to self", system.Transfer{Caller: alice, ToAgentID: "alice", AmountMicros: 1}, agent.ErrTransferToSelf},
		{"to nobody", system.Transfer{Caller: alice, ToAgentID: "nobody", AmountMicros: 1}, agent.ErrUnknownAgent},
		{"a malformed recipient", system.Transfer{Caller: alice, ToAgentID: "Bob!", AmountMicros: 1}, events.ErrInvalidID},
		{"a memo too long", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: 1, Memo: string(make([]byte, system.MemoLengthMax+1))}, system.ErrInvalidCall},
		{"a bad key", system.Transfer{Caller: alice, Key: "a key", ToAgentID: "bob", AmountMicros: 1}, system.ErrInvalidIdempotencyKey},
		{"a limit too large", system.GetHistory{Caller: alice, Limit: system.HistoryLimitMax + 1}, system.ErrInvalidCall},
		{"a negative limit", system.ListAgents{Caller: alice, Limit: -1}, system.ErrInvalidCall},
		{"a bad cursor", system.ListBids{Caller: alice, Cursor: "zzz"}, bidbook.ErrInvalidCursor},
		{"an empty bundle", system.PlaceBid{Caller: alice, Terms: events.BidTerms{}, AmountMicros: 1}, system.ErrInvalidCall},
		{"an unknown resource", system.PlaceBid{Caller: alice, Terms: events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": 1, "memory_mb": 1, "gpu": 1}}, AmountMicros: events.Credits(10)}, clearing.ErrUnknownResource},
		{"below the reserve", system.PlaceBid{Caller: alice, Terms: cpuMemTerms(), AmountMicros: 1}, clearing.ErrBelowReserve},
		{"another agent's bid", system.WithdrawBid{Caller: alice, BidID: open.BidID}, clearing.ErrNotYourBid},
		{"a made-up bid", system.RaiseBid{Caller: alice, BidID: "b-none", AmountMicros: events.Credits(50)}, nil},
		{"no upstream", system.Infer{Caller: alice, Request: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}, system.ErrNoInference},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ask[any](t, e, c.call)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatalf("bad calls wrote to the log: %d -> %d", seq, e.lastSeq())
	}
	if a := e.account("alice"); a.BalanceMicros != events.Credits(100) || a.HeldMicros != 0 {
		t.Fatalf("alice %s held %s", a.BalanceMicros, a.HeldMicros)
	}
}

// TestGoAgentAsAnActor: an agent written as a protoactor actor sends the
// service a call from its own Receive and gets the Reply as a message, the
// way actors talk; a message that is not a call is answered with
// ErrUnknownCall, not dropped.
func TestGoAgentAsAnActor(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	token := e.issue("alice", 0, time.Now().Add(time.Minute))
	replies := make(chan system.Reply, 2)
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(e.service.PID(), system.GetBalance{Caller: system.Caller{Token: token}})
			ctx.Request(e.service.PID(), "what is my balance?")
		case system.Reply:
			replies <- m
		}
	})
	root := e.service.Root()
	pid := root.Spawn(props)
	defer func() { _ = root.PoisonFuture(pid).Wait() }()
	var got []system.Reply
	for range 2 {
		select {
		case r := <-replies:
			got = append(got, r)
		case <-time.After(20 * time.Second):
			t.Fatal("the service did not answer the agent's actor")
		}
	}
	var balance, unknown bool
	for _, r := range got {
		switch {
		case r.Err == nil:
			b, ok := r.Value.(system.Balance)
			balance = ok && b.AgentID == "alice" && b.Balance == credits(100)
		case errors.Is(r.Err, system.ErrUnknownCall):
			unknown = true
		}
	}
	if !balance || !unknown {
		t.Fatalf("replies %+v: want alice's balance and ErrUnknownCall", got)
	}
}
