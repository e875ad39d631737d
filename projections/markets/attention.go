package markets

import (
	"github.com/agora-econ/agora/events"
)

// The attention market is shown like the others (SPEC.md 1.5): its supply
// of 1, the active prompt's lease, its price, the prompts waiting in the
// slot's queue as its open bids, and each activation as an allocation
// among its recent transactions (its release when the human responds).

// attentionResource is the market of the human's attention
// (actors/attention.Resource).
const attentionResource = "attention"

// attention folds one event of the attention slot.
func (s *State) attention(rec events.Record, ev events.Event) {
	m := s.touch(attentionResource)
	if m.prompts == nil {
		m.prompts = map[string]struct{}{}
	}
	switch ev := ev.(type) {
	case events.PromptQueued:
		m.prompts[ev.PromptID] = struct{}{}
	case events.PromptActivated:
		delete(m.prompts, ev.PromptID)
		m.running[ev.PromptID] = execution{bidID: ev.PromptID, agentID: ev.AgentID, beneficiaryID: ev.AgentID}
		s.push(rec, m, Transaction{Kind: KindAllocation, BidID: ev.PromptID, ExecutionID: ev.PromptID, AgentID: ev.AgentID,
			BeneficiaryID: ev.AgentID, Units: events.WholeUnits(1), AmountMicros: ev.AmountMicros, PriceMicros: m.market.PriceMicros})
	case events.PromptsDropped:
		for _, p := range ev.Prompts {
			delete(m.prompts, p.PromptID)
		}
	}
}
