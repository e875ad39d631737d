package events

import (
	"errors"
	"testing"
	"time"
)

// TestReadSkipsWhatNoFollowerMayActOn: every way a record can fail to be an
// event comes back as a *BadRecord with its reason, and a sound one reads.
func TestReadSkipsWhatNoFollowerMayActOn(t *testing.T) {
	good, err := Encode(KindAgent, "a1", TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: 5}, Meta{Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Envelope)) []byte {
		env := good
		f(&env)
		b, err := Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name    string
		subject string
		data    []byte
		reason  Reason // "" when the record reads
	}{
		{"sound", good.Subject, raw, ""},
		{"not json", "events.test.x.y", []byte(`{"a":1`), ReasonUndecodable},
		{"json but no envelope", "events.test.x.y", []byte(`{"a":1}`), ReasonUndecodable},
		{"not an envelope at all", good.Subject, []byte(`[1,2]`), ReasonUndecodable},
		{"stored under another subject", "events.agent.a2.transfer_sent", raw, ReasonBadSubject},
		{"unknown kind", "events.bank.a1.transfer_sent", with(func(e *Envelope) { e.Subject = "events.bank.a1.transfer_sent" }), ReasonBadSubject},
		{"id not subject-safe", "events.agent.A1.transfer_sent", with(func(e *Envelope) { e.Subject = "events.agent.A1.transfer_sent" }), ReasonBadSubject},
		{"type unlike the subject's", good.Subject, with(func(e *Envelope) { e.Type = "transfer_received" }), ReasonBadSubject},
		{"too many tokens", "events.agent.a1.x.transfer_sent", with(func(e *Envelope) { e.Subject = "events.agent.a1.x.transfer_sent" }), ReasonBadSubject},
		{"unknown type", "events.agent.a1.money_printed", with(func(e *Envelope) {
			e.Type, e.Subject = "money_printed", "events.agent.a1.money_printed"
		}), ReasonUnknownType},
		{"newer schema", good.Subject, with(func(e *Envelope) { e.Schema = 99 }), ReasonUnknownSchema},
		{"data unlike its type", good.Subject, with(func(e *Envelope) { e.Data = []byte(`{"amount_micros":"lots"}`) }), ReasonBadData},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := RecordOf(uint64(i+1), c.subject, c.data)
			e, err := Read(r)
			if c.reason == "" {
				if err != nil || e == nil {
					t.Fatalf("Read = %v, %v; want the event", e, err)
				}
				return
			}
			b, ok := AsBadRecord(err)
			if !ok || !errors.Is(err, ErrBadRecord) {
				t.Fatalf("Read = %v, %v; want a *BadRecord", e, err)
			}
			if b.Reason != c.reason || b.Seq != uint64(i+1) || b.Subject != c.subject {
				t.Fatalf("bad record %+v; want reason %s, seq %d, subject %s", b, c.reason, i+1, c.subject)
			}
		})
	}
}

// TestCheckPassesUnreadRecords: a record a follower asked not to read (its
// sequence alone) is not bad.
func TestCheckPassesUnreadRecords(t *testing.T) {
	if err := Check(Record{Seq: 7}); err != nil {
		t.Fatal(err)
	}
}
