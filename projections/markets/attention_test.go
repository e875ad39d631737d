package markets_test

import (
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/markets"
)

// TestTheAttentionMarket: the attention market shows the prompts waiting
// in the slot as its open bids, each activation as an allocation of its
// one unit, the lease and its release, and its own price moves; a snapshot
// keeps the waiting prompts.
func TestTheAttentionMarket(t *testing.T) {
	v, err := markets.New(5)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	seq := uint64(0)
	apply := func(v *markets.View, kind events.Kind, id string, e events.Event) {
		t.Helper()
		seq++
		env, err := events.Encode(kind, id, e, events.Meta{ID: "e", Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Apply(events.Record{Seq: seq, Envelope: env}); err != nil {
			t.Fatal(err)
		}
	}
	market := func(v *markets.View) markets.MarketState {
		t.Helper()
		for _, m := range v.State().Markets {
			if m.Resource == "attention" {
				return m
			}
		}
		t.Fatal("no attention market")
		return markets.MarketState{}
	}
	one := events.WholeUnits(1)
	apply(v, events.KindMarket, "attention", events.MarketConfigured{Resource: "attention", SupplyUnits: one, PriceMicros: events.Credits(50),
		MinPriceMicros: 1, MaxPriceMicros: events.Credits(500)})
	for _, id := range []string{"p-1", "p-2", "p-3"} {
		apply(v, events.KindAttention, events.SlotID, events.PromptQueued{PromptID: id, AgentID: "a", Content: "c", AmountMicros: events.Credits(60)})
	}
	apply(v, events.KindAttention, events.SlotID, events.PromptActivated{PromptID: "p-1", AgentID: "a", AmountMicros: events.Credits(60)})
	apply(v, events.KindMarket, "attention", events.LeaseGranted{ExecutionID: "p-1", Units: one})
	apply(v, events.KindAttention, events.SlotID, events.PromptsDropped{Reason: events.DropWithdrawn,
		Prompts: []events.DroppedPrompt{{PromptID: "p-3", AgentID: "a"}}})
	m := market(v)
	if m.ActiveBids != 1 || m.LeasedUnits != one || m.UtilizationPPM != 1_000_000 || len(m.RecentTransactions) != 1 {
		t.Fatalf("attention market while p-1 is shown: %+v", m)
	}
	if tx := m.RecentTransactions[0]; tx.Kind != markets.KindAllocation || tx.ExecutionID != "p-1" || tx.AgentID != "a" ||
		tx.AmountMicros != events.Credits(60) || tx.Units != one || tx.PriceMicros != events.Credits(50) {
		t.Fatalf("activation: %+v", tx)
	}
	data, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, _ := markets.New(5)
	if err := back.Restore(data); err != nil {
		t.Fatal(err)
	}
	if m := market(back); m.ActiveBids != 1 || m.LeasedUnits != one {
		t.Fatalf("restored attention market: %+v", m)
	}
	apply(v, events.KindMarket, "attention", events.LeaseReleased{ExecutionID: "p-1", Units: one, Reason: "answered"})
	apply(v, events.KindMarket, "attention", events.MarketCleared{Cycle: 1, SupplyUnits: one, PriceMicros: events.Credits(50),
		NewPriceMicros: events.Credits(45)})
	m = market(v)
	if m.LeasedUnits != 0 || m.PriceMicros != events.Credits(45) || len(m.RecentTransactions) != 2 ||
		m.RecentTransactions[0].Kind != markets.KindRelease || m.RecentTransactions[0].AgentID != "a" {
		t.Fatalf("attention market after the answer: %+v", m)
	}
}
