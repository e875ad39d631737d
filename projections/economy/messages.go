package economy

import (
	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Messages settle as transfers do (events/message.go): the cost of a
// MessageSent is in flight until the recipient's MessageDelivered burns it,
// or its MessageBounced and the sender's MessageReturned give it back. The
// fold keeps every message's id, parties, cost and state, as it keeps
// transfers, to catch a message charged twice or settled twice.

// newMessageSettlements are the messages of a fold, in the words of the
// audit's invariants for messages.
func newMessageSettlements() settlements {
	return newSettlements("message", "message charged once", "message settles for its cost", "cost")
}

// foldMessage advances the economy-wide totals for a message event of
// agent id: a delivered message's cost is burned.
func (e *Economy) foldMessage(id string, ev events.Event) {
	switch ev := ev.(type) {
	case events.MessageSent:
		e.send(&e.messages, ev.MessageID, id, ev.ToAgentID, ev.CostMicros)
	case events.MessageDelivered:
		e.settle(&e.messages, ev.MessageID, ev.CostMicros, true)
	case events.MessageBounced:
		e.messages.set(ev.MessageID, transferBounced)
	case events.MessageReturned:
		e.settle(&e.messages, ev.MessageID, ev.CostMicros, ev.Burned)
	}
}

// checkMessage checks one step of a message's life: sent once, then
// delivered or bounced by its recipient, a bounce returned to its sender,
// each once and for the cost sent. ok is false for any other event.
func (e *Economy) checkMessage(a agent.Account, ev events.Event, v violationFunc) (err error, ok bool) {
	switch ev := ev.(type) {
	case events.MessageSent:
		if _, dup := e.messages.byID[ev.MessageID]; dup {
			return v("message charged once", "message id %s sent twice", ev.MessageID), true
		}
		return nil, true
	case events.MessageDelivered:
		return e.messages.check(ev.MessageID, ev.CostMicros, a.ID, transferInFlight, true, v), true
	case events.MessageBounced:
		return e.messages.check(ev.MessageID, ev.CostMicros, a.ID, transferInFlight, true, v), true
	case events.MessageReturned:
		return e.messages.check(ev.MessageID, ev.CostMicros, a.ID, transferBounced, false, v), true
	}
	return nil, false
}
