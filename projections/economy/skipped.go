package economy

import (
	"slices"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
)

// Skipped is a record every follower of the log skips (events.BadRecord):
// it does not decode, or its event would break its actor's invariants
// (the actor's own Admit). It is reported until the operator acknowledges
// it (record_acknowledged).
type Skipped struct {
	Seq     uint64        `json:"seq"`
	Subject string        `json:"subject"`
	Reason  events.Reason `json:"reason"`
	Detail  string        `json:"detail"`
	// Acknowledged is set once the operator has acknowledged the record;
	// AckSeq is the sequence of that acknowledgement, AckReason its note.
	Acknowledged bool   `json:"acknowledged"`
	AckSeq       uint64 `json:"ack_seq,omitempty"`
	AckReason    string `json:"ack_reason,omitempty"`
}

// admit takes r as read (ev, err: events.Read) and asks its actor's
// Admit, exactly as the actor does when it reads r: the fold and the
// actors skip the same records.
func (e *Economy) admit(r events.Record, ev events.Event, err error) (events.Event, *events.BadRecord) {
	if err != nil {
		b, _ := events.AsBadRecord(err)
		return nil, b
	}
	kind, id, _ := events.ActorOf(r)
	switch kind {
	case events.KindAgent:
		a, ok := e.Accounts[id]
		if !ok {
			a = agent.New(id)
		}
		err = agent.Admit(a, ev)
	case events.KindMarket:
		m, ok := e.Markets[id]
		if !ok {
			m = market.New(id)
		}
		err = market.Admit(m, ev)
	case events.KindClearing:
		b, ok := e.Books[id]
		if !ok {
			b = clearing.New(id)
		}
		err = clearing.Admit(b, ev)
	case events.KindAttention:
		err = attention.Admit(e.attention.Slot, ev)
	}
	if err != nil {
		return nil, events.Skip(r, events.ReasonInvariant, err)
	}
	return ev, nil
}

// skip records a skipped record.
func (e *Economy) skip(b *events.BadRecord) {
	s := Skipped{Seq: b.Seq, Subject: b.Subject, Reason: b.Reason}
	if b.Err != nil {
		s.Detail = b.Err.Error()
	}
	e.skippedAt[b.Seq] = len(e.Skipped)
	e.Skipped = append(e.Skipped, s)
}

// acknowledge applies the operator's acknowledgement of the record at seq.
// One of a record that is not skipped changes nothing (the operator API
// refuses it before it is written).
func (e *Economy) acknowledge(at uint64, a events.RecordAcknowledged) {
	i, ok := e.skippedAt[a.Seq]
	if !ok || e.Skipped[i].Acknowledged {
		return
	}
	e.Skipped[i].Acknowledged, e.Skipped[i].AckSeq, e.Skipped[i].AckReason = true, at, a.Reason
}

// SkippedRecord returns the skipped record at seq, if it is one.
func (e *Economy) SkippedRecord(seq uint64) (Skipped, bool) {
	i, ok := e.skippedAt[seq]
	if !ok {
		return Skipped{}, false
	}
	return e.Skipped[i], true
}

// Unacknowledged lists the skipped records the operator has not
// acknowledged, in log order.
func (e *Economy) Unacknowledged() []Skipped {
	var out []Skipped
	for _, s := range e.Skipped {
		if !s.Acknowledged {
			out = append(out, s)
		}
	}
	return out
}

// SkippedRecords lists every skipped record, in log order.
func (e *Economy) SkippedRecords() []Skipped { return slices.Clone(e.Skipped) }
