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

// foldMessage advances the economy-wide totals for a message event of
// agent id.
func (e *Economy) foldMessage(id string, ev events.Event) {
	switch ev := ev.(type) {
	case events.MessageSent:
		e.InFlightMicros += ev.CostMicros
		if _, dup := e.messages[ev.MessageID]; !dup {
			e.openMessages++
		}
		e.messages[ev.MessageID] = &transfer{from: id, to: ev.ToAgentID, amount: ev.CostMicros, state: transferInFlight}
	case events.MessageDelivered:
		e.InFlightMicros -= ev.CostMicros
		e.BurnedMicros += ev.CostMicros
		e.setMessage(ev.MessageID, transferSettled)
	case events.MessageBounced:
		e.setMessage(ev.MessageID, transferBounced)
	case events.MessageReturned:
		e.InFlightMicros -= ev.CostMicros
		if ev.Burned {
			e.BurnedMicros += ev.CostMicros
		}
		e.setMessage(ev.MessageID, transferSettled)
	}
}

func (e *Economy) setMessage(id string, s transferState) {
	m, ok := e.messages[id]
	if !ok {
		return
	}
	if m.state != transferSettled && s == transferSettled {
		e.openMessages--
	}
	m.state = s
}

// checkMessage checks one step of a message's life: sent once, then
// delivered or bounced by its recipient, a bounce returned to its sender,
// each once and for the cost sent. ok is false for any other event.
func (e *Economy) checkMessage(a agent.Account, ev events.Event, v violationFunc) (err error, ok bool) {
	switch ev := ev.(type) {
	case events.MessageSent:
		if _, dup := e.messages[ev.MessageID]; dup {
			return v("message charged once", "message id %s sent twice", ev.MessageID), true
		}
		return nil, true
	case events.MessageDelivered:
		return e.settleMessage(ev.MessageID, ev.CostMicros, a.ID, transferInFlight, true, v), true
	case events.MessageBounced:
		return e.settleMessage(ev.MessageID, ev.CostMicros, a.ID, transferInFlight, true, v), true
	case events.MessageReturned:
		return e.settleMessage(ev.MessageID, ev.CostMicros, a.ID, transferBounced, false, v), true
	}
	return nil, false
}

func (e *Economy) settleMessage(id string, cost events.Micros, agentID string, want transferState, recipientSide bool, v violationFunc) error {
	m, ok := e.messages[id]
	switch {
	case !ok:
		return v("message charged once", "message %s was never sent", id)
	case m.state != want:
		return v("message charged once", "message %s settled again", id)
	case m.amount != cost:
		return v("message settles for its cost", "message %s cost %s, settled %s", id, m.amount, cost)
	}
	side := m.from
	if recipientSide {
		side = m.to
	}
	if side != agentID {
		return v("message settles with its parties", "message %s settled by %s, expected %s", id, agentID, side)
	}
	return nil
}
