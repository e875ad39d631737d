package attention

import (
	"reflect"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestManagerReactions: what each event obliges of the accounts, the slot
// and the attention market, every command carrying the manager's trigger.
func TestManagerReactions(t *testing.T) {
	const seq = 42
	tr := events.Trigger{Manager: ManagerName, Seq: seq}
	at := func(i uint32) events.Trigger { x := tr; x.Index = i; return x }
	toSlot := func(cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindAttention, ID: events.SlotID, Command: cmd}
	}
	toAgent := func(id string, cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindAgent, ID: id, Command: cmd}
	}
	toMarket := func(cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindMarket, ID: Resource, Command: cmd}
	}
	tests := []struct {
		name  string
		kind  events.Kind
		id    string
		event events.Event
		want  []runtime.Reaction
	}{
		{"a prompt's hold is queued", events.KindAgent, "a", events.HoldPlaced{HoldID: "p-1", AmountMicros: 5, Purpose: events.PurposePrompt,
			Prompt: &events.PromptTerms{Content: "hi"}},
			[]runtime.Reaction{toSlot(Queue{PromptID: "p-1", AgentID: "a", Content: "hi", AmountMicros: 5, PlacedAt: t0, Trigger: tr})}},
		{"a bid's hold is not", events.KindAgent, "a", events.HoldPlaced{HoldID: "b-1", AmountMicros: 5, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: "main"}}, nil},
		{"a prompt's hold raised", events.KindAgent, "a", events.HoldIncreased{HoldID: "p-1", AmountMicros: 9, DeltaMicros: 4},
			[]runtime.Reaction{toSlot(Raise{PromptID: "p-1", AmountMicros: 9, Trigger: tr})}},
		{"a bid's hold raised", events.KindAgent, "a", events.HoldIncreased{HoldID: "b-1", AmountMicros: 9, DeltaMicros: 4}, nil},
		{"a death with prompts", events.KindAgent, "a", events.AgentDied{VoidedHolds: []string{"b-1", "p-1"}},
			[]runtime.Reaction{toSlot(CancelAgent{AgentID: "a", Trigger: tr})}},
		{"a death without prompts", events.KindAgent, "a", events.AgentDied{VoidedHolds: []string{"b-1"}}, nil},
		{"a prompt unpaid", events.KindAgent, "a", events.PaymentRefused{HoldID: "p-1", AmountMicros: 5, Reason: "agent is dead"},
			[]runtime.Reaction{toSlot(Unpaid{PromptID: "p-1", Trigger: tr})}},
		{"a bid unpaid", events.KindAgent, "a", events.PaymentRefused{HoldID: "b-1", ExecutionID: "x-b-1"}, nil},
		{"a queued prompt may activate", events.KindAttention, events.SlotID, queued("p-1", "a", 5, 0),
			[]runtime.Reaction{toSlot(Activate{At: t0, Trigger: tr})}},
		{"an activation pays and leases", events.KindAttention, events.SlotID, activated("p-1", "a", 5),
			[]runtime.Reaction{toAgent("a", agent.PostHold{HoldID: "p-1", AmountMicros: events.Credits(5), Trigger: tr}),
				toMarket(market.Lease{ID: "p-1", Units: events.WholeUnits(1), Trigger: tr})}},
		{"a response rewards, releases, activates the next", events.KindAttention, events.SlotID,
			events.PromptAnswered{PromptID: "p-1", AgentID: "a", Interesting: 1, RewardMicros: 50},
			[]runtime.Reaction{toAgent("a", agent.Reward{PromptID: "p-1", AmountMicros: 50, Trigger: tr}),
				toMarket(market.ReleaseLease{ExecutionID: "p-1", Reason: "answered", Trigger: tr}), toSlot(Activate{At: t0, Trigger: tr})}},
		{"a skip mints nothing", events.KindAttention, events.SlotID, events.PromptAnswered{PromptID: "p-1", AgentID: "a", Skipped: true},
			[]runtime.Reaction{toMarket(market.ReleaseLease{ExecutionID: "p-1", Reason: "answered", Trigger: tr}), toSlot(Activate{At: t0, Trigger: tr})}},
		{"expired prompts' holds voided", events.KindAttention, events.SlotID, events.PromptsDropped{Reason: events.DropExpired,
			Prompts: []events.DroppedPrompt{{PromptID: "p-1", AgentID: "a"}, {PromptID: "p-2", AgentID: "a"}}},
			[]runtime.Reaction{toAgent("a", agent.VoidHold{HoldID: "p-1", Reason: "prompt expired", Trigger: at(1)}),
				toAgent("a", agent.VoidHold{HoldID: "p-2", Reason: "prompt expired", Trigger: at(2)})}},
		{"an unpaid active prompt frees the slot", events.KindAttention, events.SlotID, events.PromptsDropped{Reason: events.DropUnpaid,
			Prompts: []events.DroppedPrompt{{PromptID: "p-1", AgentID: "a"}}},
			[]runtime.Reaction{toMarket(market.ReleaseLease{ExecutionID: "p-1", Reason: "unpaid", Trigger: tr}), toSlot(Activate{At: t0, Trigger: tr})}},
		{"another attention actor is ignored", events.KindAttention, "other", queued("p-1", "a", 5, 0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := events.Encode(tt.kind, tt.id, tt.event, events.Meta{ID: "e1", Time: t0})
			if err != nil {
				t.Fatal(err)
			}
			got := react(events.Record{Seq: seq, Envelope: env}, tt.event)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("react =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}
