package clearing_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestReactionTriggers: every command the clearing and transfer managers
// send is of its target's kind and carries the manager's name and the
// record's sequence, and the commands one record obliges of one actor
// carry strictly increasing triggers in the order they are sent. The
// shell takes a trigger at or below the actor's mark for a redelivery, so
// a second command of the same record to the same actor with the same
// (or a lower) index would be answered as applied and never applied.
func TestReactionTriggers(t *testing.T) {
	const pool = "main"
	cpu := map[string]events.Units{clearing.ResourceCPU: 1, clearing.ResourceMemory: 2}
	alloc := func(bid, agentID string) events.Allocation {
		return events.Allocation{BidID: bid, ExecutionID: clearing.ExecutionID(bid), AgentID: agentID, BeneficiaryID: agentID,
			Resources: cpu, AmountMicros: 5}
	}
	cases := []struct {
		kind events.Kind
		id   string
		e    events.Event
	}{
		{events.KindAgent, "a", events.HoldPlaced{HoldID: "b-1", AmountMicros: 5, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: pool, Resources: cpu}}},
		{events.KindAgent, "a", events.HoldIncreased{HoldID: "b-1", AmountMicros: 6, DeltaMicros: 1}},
		{events.KindAgent, "a", events.AgentDied{Reason: "broke"}},
		{events.KindAgent, "a", events.PaymentRefused{HoldID: "b-1", ExecutionID: "x-b-1", Reason: "hold not open"}},
		{events.KindAgent, "a", events.ExecutionEnded{ExecutionID: "x-b-1", Pool: pool, Cause: events.CauseExited}},
		{events.KindAgent, "a", events.TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: 1}},
		{events.KindAgent, "b", events.TransferBounced{TransferID: "t1", FromAgentID: "a", AmountMicros: 1}},
		{events.KindClearing, pool, events.BidRejected{BidID: "b-1", AgentID: "a", AmountMicros: 5}},
		{events.KindClearing, pool, events.BidWithdrawn{BidID: "b-1", AgentID: "a", AmountMicros: 5}},
		{events.KindClearing, pool, events.BidsCancelled{AgentID: "d", BidIDs: []string{"b-0"},
			Sponsored: []events.BidRef{{BidID: "b-1", AgentID: "s"}, {BidID: "b-2", AgentID: "t"}, {BidID: "b-3", AgentID: "s"}}}},
		{events.KindClearing, pool, events.CycleCleared{Cycle: 3, At: time.Unix(30, 0).UTC(), Expired: []string{"x-b-0"},
			Allocations: []events.Allocation{alloc("b-1", "a"), alloc("b-2", "b"), alloc("b-3", "a")},
			Markets: map[string]events.MarketOutcome{
				clearing.ResourceCPU:    {LeasedUnits: 3, PriceMicros: 5, NewPriceMicros: 6},
				clearing.ResourceMemory: {LeasedUnits: 6, PriceMicros: 5, NewPriceMicros: 5},
			}}},
		{events.KindClearing, pool, events.ExecutionReleased{ExecutionID: "x-b-1", BidID: "b-1", Resources: cpu, Reason: "exited"}},
	}
	managers := []runtime.Manager{clearing.Manager(pool), agent.TransferManager()}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%T", c.e), func(t *testing.T) {
			env, err := events.Encode(c.kind, c.id, c.e, events.Meta{Time: time.Unix(1, 0).UTC()})
			if err != nil {
				t.Fatal(err)
			}
			r := events.Record{Seq: uint64(100 + i), Envelope: env}
			reactions := 0
			for _, m := range managers {
				last := map[string]events.Trigger{}
				for _, re := range m.React(r, c.e) {
					reactions++
					if !ofKind(re) {
						t.Fatalf("%s sends %T to a %s actor", m.Name, re.Command, re.Kind)
					}
					tr := re.Command.Triggered()
					if tr.Manager != m.Name || tr.Seq != r.Seq {
						t.Fatalf("%s sends %T with trigger %+v, want manager %q and seq %d", m.Name, re.Command, tr, m.Name, r.Seq)
					}
					target := string(re.Kind) + "/" + re.ID
					if prev, ok := last[target]; ok && !tr.After(prev.Seq, prev.Index) {
						t.Fatalf("%s sends %s %+v after %+v: the second would be taken for a redelivery", m.Name, target, tr, prev)
					}
					last[target] = tr
				}
			}
			if reactions == 0 {
				t.Fatalf("no manager reacts to %T: the case tests nothing", c.e)
			}
		})
	}
}

// ofKind reports whether a reaction's command is one its target's kind
// takes.
func ofKind(re runtime.Reaction) bool {
	switch re.Kind {
	case events.KindAgent:
		_, ok := re.Command.(agent.Command)
		return ok
	case events.KindClearing:
		_, ok := re.Command.(clearing.Command)
		return ok
	case events.KindMarket:
		_, ok := re.Command.(market.Command)
		return ok
	}
	return false
}
