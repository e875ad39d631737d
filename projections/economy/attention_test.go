package economy_test

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// on is one record of any actor.
type on struct {
	kind  events.Kind
	id    string
	event events.Event
}

// foldAll applies the records in order and returns the first violation's
// or unacknowledged skipped record's sequence (0 when none) and what it
// says.
func foldAll(t *testing.T, recs []on) (uint64, string, *economy.Economy) {
	t.Helper()
	eco := economy.New()
	for i, r := range recs {
		env, err := events.Encode(r.kind, r.id, r.event, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := eco.Apply(events.Record{Seq: uint64(i + 1), Envelope: env}); err != nil {
			var v *economy.Violation
			if !errors.As(err, &v) {
				t.Fatalf("non-violation error %v", err)
			}
			return v.Seq, v.Invariant, eco
		}
		if k := eco.Unacknowledged(); len(k) > 0 {
			return k[0].Seq, "skipped: " + k[0].Detail, eco
		}
	}
	return 0, "", eco
}

func slotOn(e events.Event) on             { return on{events.KindAttention, events.SlotID, e} }
func agentOn(id string, e events.Event) on { return on{events.KindAgent, id, e} }

// shown is a prompt's life up to its payment: hold, queue, activation,
// payment, lease.
func shown(agentID, id string, amount events.Micros) []on {
	return []on{
		agentOn(agentID, events.HoldPlaced{HoldID: id, AmountMicros: amount, Purpose: events.PurposePrompt, Prompt: &events.PromptTerms{Content: "c"}}),
		slotOn(events.PromptQueued{PromptID: id, AgentID: agentID, Content: "c", AmountMicros: amount}),
		slotOn(events.PromptActivated{PromptID: id, AgentID: agentID, AmountMicros: amount}),
		agentOn(agentID, events.HoldPosted{HoldID: id, AmountMicros: amount}),
		{events.KindMarket, "attention", events.LeaseGranted{ExecutionID: id, Units: events.WholeUnits(1)}},
	}
}

func attentionBase() []on {
	return []on{
		agentOn("a", events.AgentCreated{AgentID: "a", GrantMicros: events.Credits(100)}),
		{events.KindMarket, "attention", events.MarketConfigured{Resource: "attention", SupplyUnits: events.WholeUnits(1),
			PriceMicros: events.Credits(50), MinPriceMicros: 1, MaxPriceMicros: events.Credits(500)}},
	}
}

// TestAuditFollowsThePrompts: a prompt's bid is burned when it is shown,
// its reward minted once; conservation holds and the slot's figures add up.
func TestAuditFollowsThePrompts(t *testing.T) {
	recs := append(attentionBase(), shown("a", "p-1", events.Credits(50))...)
	recs = append(recs,
		slotOn(events.PromptAnswered{PromptID: "p-1", AgentID: "a", Interesting: 2, RewardMicros: events.Credits(100)}),
		agentOn("a", events.HumanRewarded{PromptID: "p-1", AmountMicros: events.Credits(100)}),
		on{events.KindMarket, "attention", events.LeaseReleased{ExecutionID: "p-1", Units: events.WholeUnits(1), Reason: "answered"}},
		on{events.KindMarket, "attention", events.MarketCleared{Cycle: 1, SupplyUnits: events.WholeUnits(1), PriceMicros: events.Credits(50),
			NewPriceMicros: events.Credits(45)}},
	)
	seq, inv, eco := foldAll(t, recs)
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.MintedMicros != events.Credits(200) || s.BurnedMicros != events.Credits(50) || s.BalanceMicros != events.Credits(150) ||
		s.Attention.Activations != 1 || s.Attention.Responses != 1 || s.Attention.RewardedMicros != events.Credits(100) ||
		s.Attention.UnpaidPrompts != 0 || s.Attention.UnmintedRewards != 0 || s.Markets["attention"].PriceMicros != events.Credits(45) {
		t.Fatalf("summary %+v", s)
	}
}

// TestAuditCatchesPromptViolations: each case breaks invariant 5 or the
// prompts' money at its last record; the audit names that record.
func TestAuditCatchesPromptViolations(t *testing.T) {
	answered := slotOn(events.PromptAnswered{PromptID: "p-1", AgentID: "a", RewardMicros: events.Credits(100)})
	reward := agentOn("a", events.HumanRewarded{PromptID: "p-1", AmountMicros: events.Credits(100)})
	cases := map[string][]on{
		"two prompts active": append(shown("a", "p-1", events.Credits(10)),
			agentOn("a", events.HoldPlaced{HoldID: "p-2", AmountMicros: 5, Purpose: events.PurposePrompt, Prompt: &events.PromptTerms{Content: "c"}}),
			slotOn(events.PromptQueued{PromptID: "p-2", AgentID: "a", Content: "c", AmountMicros: 5}),
			slotOn(events.PromptActivated{PromptID: "p-2", AgentID: "a", AmountMicros: 5})),
		"a response to a prompt not active": {slotOn(events.PromptAnswered{PromptID: "p-9", AgentID: "a"})},
		"rewarded twice":                    append(shown("a", "p-1", events.Credits(10)), answered, reward, reward),
		"a reward no response earned":       {reward},
		"a reward above the response's": append(shown("a", "p-1", events.Credits(10)), answered,
			agentOn("a", events.HumanRewarded{PromptID: "p-1", AmountMicros: events.Credits(101)})),
		"a reward to another agent": append(append([]on{agentOn("b", events.AgentCreated{AgentID: "b", GrantMicros: 1})},
			shown("a", "p-1", events.Credits(10))...), answered, agentOn("b", events.HumanRewarded{PromptID: "p-1", AmountMicros: events.Credits(100)})),
		"a prompt queued that no account holds": {slotOn(events.PromptQueued{PromptID: "p-1", AgentID: "a", Content: "c", AmountMicros: 5})},
		"a prompt paid before it is shown": {
			agentOn("a", events.HoldPlaced{HoldID: "p-1", AmountMicros: 5, Purpose: events.PurposePrompt, Prompt: &events.PromptTerms{Content: "c"}}),
			agentOn("a", events.HoldPosted{HoldID: "p-1", AmountMicros: 5}),
		},
		"attention leased to a prompt not shown": {{events.KindMarket, "attention", events.LeaseGranted{ExecutionID: "p-1", Units: events.WholeUnits(1)}}},
		"attention leased twice to one activation": append(shown("a", "p-1", events.Credits(10)),
			on{events.KindMarket, "attention", events.LeaseReleased{ExecutionID: "p-1", Units: events.WholeUnits(1), Reason: "x"}},
			on{events.KindMarket, "attention", events.LeaseGranted{ExecutionID: "p-1", Units: events.WholeUnits(1)}}),
		"a reward to a dead agent": append(shown("a", "p-1", events.Credits(10)), answered,
			agentOn("a", events.AgentDied{Reason: "x", BurnedMicros: events.Credits(90)}), reward),
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			recs := append(attentionBase(), extra...)
			seq, inv, _ := foldAll(t, recs)
			if seq != uint64(len(recs)) {
				t.Fatalf("violation at %d (%q); want at %d", seq, inv, len(recs))
			}
		})
	}
}

// TestAuditTakesALeaseThatLandsLate: the manager pays an activated prompt
// and leases it the unit at once, to two actors; the payment refused and
// the prompt dropped unpaid, or the human's answer, may be written before
// the lease. The lease is its activation's, once: the audit passes, and
// the market ends with nothing leased.
func TestAuditTakesALeaseThatLandsLate(t *testing.T) {
	hold := func(agentID, id string) on {
		return agentOn(agentID, events.HoldPlaced{HoldID: id, AmountMicros: events.Credits(10), Purpose: events.PurposePrompt,
			Prompt: &events.PromptTerms{Content: "c"}})
	}
	lease := func(id string) on {
		return on{events.KindMarket, "attention", events.LeaseGranted{ExecutionID: id, Units: events.WholeUnits(1)}}
	}
	release := func(id string) on {
		return on{events.KindMarket, "attention", events.LeaseReleased{ExecutionID: id, Units: events.WholeUnits(1), Reason: "x"}}
	}
	recs := append(attentionBase(),
		agentOn("d", events.AgentCreated{AgentID: "d", GrantMicros: events.Credits(10)}),
		hold("d", "p-1"), hold("a", "p-2"),
		slotOn(events.PromptQueued{PromptID: "p-1", AgentID: "d", Content: "c", AmountMicros: events.Credits(10)}),
		slotOn(events.PromptQueued{PromptID: "p-2", AgentID: "a", Content: "c", AmountMicros: events.Credits(10)}),
		// d's p-1 shown; d dies, its payment is refused and the prompt
		// dropped before its lease.
		slotOn(events.PromptActivated{PromptID: "p-1", AgentID: "d", AmountMicros: events.Credits(10)}),
		agentOn("d", events.AgentDied{Reason: "x", VoidedHolds: []string{"p-1"}, BurnedMicros: events.Credits(10)}),
		agentOn("d", events.PaymentRefused{HoldID: "p-1", AmountMicros: events.Credits(10), Reason: "x"}),
		slotOn(events.PromptsDropped{Reason: events.DropUnpaid, Prompts: []events.DroppedPrompt{{PromptID: "p-1", AgentID: "d",
			AmountMicros: events.Credits(10)}}}),
		lease("p-1"), release("p-1"),
		// p-2 shown, paid and answered before its lease.
		slotOn(events.PromptActivated{PromptID: "p-2", AgentID: "a", AmountMicros: events.Credits(10)}),
		agentOn("a", events.HoldPosted{HoldID: "p-2", AmountMicros: events.Credits(10)}),
		slotOn(events.PromptAnswered{PromptID: "p-2", AgentID: "a", Skipped: true}),
		lease("p-2"), release("p-2"),
	)
	seq, inv, eco := foldAll(t, recs)
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if s := eco.Summary(); s.Markets["attention"].LeasedUnits != 0 || s.Attention.Activations != 2 || s.Attention.UnpaidPrompts != 0 {
		t.Fatalf("summary %+v", s)
	}
}
