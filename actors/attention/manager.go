package attention

import (
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// ManagerName names the process manager of the slot; it is the Manager of
// the triggers it sends.
const ManagerName = "attention"

// Resource is the market of the human's attention, whose one unit the
// active prompt leases.
const Resource = "attention"

// Manager carries the slot's work between actors:
//   - a prompt's hold placed -> the prompt queued (or rejected) in the
//     slot; a prompt's hold raised -> the prompt raised;
//   - a prompt queued -> the slot activates the first prompt if it is free;
//   - a prompt activated -> its hold posted (the bid paid, burned) and the
//     attention market's unit leased to it;
//   - a payment refused (the agent died, its hold is gone) -> the prompt
//     dropped as unpaid, which frees the slot, its lease released and the
//     next prompt activated;
//   - a response -> the reward minted to the agent (a dead agent gets
//     nothing), the lease released and the next prompt activated;
//   - prompts dropped (withdrawn, expired, rejected, cancelled) -> their
//     holds voided (a dead agent's are gone already: nothing happens);
//   - an agent died holding prompts -> its waiting prompts cancelled.
func Manager() runtime.Manager {
	return runtime.Manager{Name: ManagerName, Filter: events.SubjectRoot + ".>", Types: managerTypes, React: react}
}

// managerTypes are the event types react acts on.
var managerTypes = []string{
	events.HoldPlaced{}.EventType(), events.HoldIncreased{}.EventType(), events.AgentDied{}.EventType(),
	events.PaymentRefused{}.EventType(), events.PromptQueued{}.EventType(), events.PromptActivated{}.EventType(),
	events.PromptAnswered{}.EventType(), events.PromptsDropped{}.EventType(),
}

func react(r events.Record, e events.Event) []runtime.Reaction {
	kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
	if err != nil {
		return nil
	}
	t := events.Trigger{Manager: ManagerName, Seq: r.Seq}
	indexed := func(i int) events.Trigger {
		it := t
		it.Index = uint32(i)
		return it
	}
	slot := func(cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindAttention, ID: events.SlotID, Command: cmd}
	}
	toAgent := func(agentID string, cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindAgent, ID: agentID, Command: cmd}
	}
	toMarket := func(cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindMarket, ID: Resource, Command: cmd}
	}
	isPrompt := func(holdID string) bool { return strings.HasPrefix(holdID, PromptIDPrefix) }
	switch kind {
	case events.KindAgent:
		switch e := e.(type) {
		case events.HoldPlaced:
			if e.Purpose != events.PurposePrompt || e.Prompt == nil {
				return nil
			}
			return []runtime.Reaction{slot(Queue{PromptID: e.HoldID, AgentID: id, Content: e.Prompt.Content,
				AmountMicros: e.AmountMicros, PlacedAt: r.Envelope.Time, Trigger: t})}
		case events.HoldIncreased:
			if !isPrompt(e.HoldID) {
				return nil
			}
			return []runtime.Reaction{slot(Raise{PromptID: e.HoldID, AmountMicros: e.AmountMicros, Trigger: t})}
		case events.AgentDied:
			for _, h := range e.VoidedHolds {
				if isPrompt(h) {
					return []runtime.Reaction{slot(CancelAgent{AgentID: id, Trigger: t})}
				}
			}
		case events.PaymentRefused:
			if isPrompt(e.HoldID) {
				return []runtime.Reaction{slot(Unpaid{PromptID: e.HoldID, Trigger: t})}
			}
		}
	case events.KindAttention:
		if id != events.SlotID {
			return nil
		}
		switch e := e.(type) {
		case events.PromptQueued:
			return []runtime.Reaction{slot(Activate{At: r.Envelope.Time, Trigger: t})}
		case events.PromptActivated:
			return []runtime.Reaction{
				toAgent(e.AgentID, agent.PostHold{HoldID: e.PromptID, AmountMicros: e.AmountMicros, Trigger: t}),
				toMarket(market.Lease{ID: e.PromptID, Units: events.WholeUnits(1), Trigger: t}),
			}
		case events.PromptAnswered:
			var out []runtime.Reaction
			if e.RewardMicros > 0 {
				out = append(out, toAgent(e.AgentID, agent.Reward{PromptID: e.PromptID, AmountMicros: e.RewardMicros, Trigger: t}))
			}
			return append(out, toMarket(market.ReleaseLease{ExecutionID: e.PromptID, Reason: "answered", Trigger: t}),
				slot(Activate{At: r.Envelope.Time, Trigger: t}))
		case events.PromptsDropped:
			if e.Reason == events.DropUnpaid {
				var out []runtime.Reaction
				for _, p := range e.Prompts {
					out = append(out, toMarket(market.ReleaseLease{ExecutionID: p.PromptID, Reason: "unpaid", Trigger: t}))
				}
				return append(out, slot(Activate{At: r.Envelope.Time, Trigger: t}))
			}
			var out []runtime.Reaction
			for i, p := range e.Prompts {
				out = append(out, toAgent(p.AgentID, agent.VoidHold{HoldID: p.PromptID, Reason: "prompt " + e.Reason, Trigger: indexed(i + 1)}))
			}
			return out
		}
	}
	return nil
}
