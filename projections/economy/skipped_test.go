package economy_test

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// TestForgedRecordsAreSkippedAndAcknowledged: records that do not decode
// and well-formed events their actors would refuse (an overspend, a hold
// for an agent never created, a cycle cleared twice) are skipped with
// their sequence and reason; the fold goes on as if they were not there,
// and an acknowledgement takes each off the unacknowledged list.
func TestForgedRecordsAreSkippedAndAcknowledged(t *testing.T) {
	facts := cat(setup(), placeBid("a", "b-1", 20, bundle(6, 10), 6), []fact{
		cycle(1, 6, 10, nil, alloc("a", "b-1", 20, bundle(6, 10))), // 8
	})
	eco := economy.New()
	seq := uint64(0)
	apply := func(r events.Record) {
		t.Helper()
		if err := eco.Apply(r); err != nil {
			t.Fatalf("seq %d: %v", r.Seq, err)
		}
	}
	record := func(f fact) events.Record {
		t.Helper()
		env, err := events.Encode(f.kind, f.id, f.event, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		seq++
		return events.Record{Seq: seq, Envelope: env}
	}
	for _, f := range facts {
		apply(record(f))
	}
	before := eco.Summary()
	seq++
	apply(events.RecordOf(seq, "events.test.x.y", []byte(`{"a":1}`)))
	forged := []struct {
		f      fact
		reason events.Reason
	}{
		{ag("b", events.TransferSent{TransferID: "t", ToAgentID: "a", AmountMicros: 1000}), events.ReasonInvariant},
		{ag("ghost", events.HoldPlaced{HoldID: "h", AmountMicros: 5}), events.ReasonInvariant},
		{cycle(1, 6, 10, nil), events.ReasonInvariant},
	}
	for _, c := range forged {
		apply(record(c.f))
	}
	after := eco.Summary()
	if after.BalanceMicros != before.BalanceMicros || after.InFlightMicros != before.InFlightMicros ||
		after.Cycles != before.Cycles || after.Agents != before.Agents || after.Events != before.Events {
		t.Fatalf("the skipped records changed the economy:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.SkippedRecords != 4 || after.UnacknowledgedRecords != 4 {
		t.Fatalf("summary counts %d skipped, %d unacknowledged; want 4 and 4", after.SkippedRecords, after.UnacknowledgedRecords)
	}
	got := eco.SkippedRecords()
	want := []events.Reason{events.ReasonUndecodable, events.ReasonInvariant, events.ReasonInvariant, events.ReasonInvariant}
	for i, s := range got {
		if s.Seq != uint64(len(facts)+1+i) || s.Reason != want[i] || s.Detail == "" || s.Acknowledged {
			t.Fatalf("skipped[%d] = %+v; want seq %d, reason %s", i, s, len(facts)+1+i, want[i])
		}
	}
	apply(record(fact{events.KindSystem, events.RecordsID, events.RecordAcknowledged{Seq: got[0].Seq, Reason: "stray"}}))
	apply(record(fact{events.KindSystem, events.RecordsID, events.RecordAcknowledged{Seq: 1}})) // not skipped: nothing
	if u := eco.Unacknowledged(); len(u) != 3 || u[0].Seq != got[1].Seq {
		t.Fatalf("unacknowledged %+v; want the three forged events", u)
	}
	if s, ok := eco.SkippedRecord(got[0].Seq); !ok || !s.Acknowledged || s.AckReason != "stray" || s.AckSeq != seq-1 {
		t.Fatalf("acknowledged record %+v", s)
	}
	// A sound event after them is folded as usual.
	if err := eco.Apply(record(ag("a", events.TransferSent{TransferID: "t2", ToAgentID: "b", AmountMicros: 1}))); err != nil &&
		!errors.Is(err, economy.ErrViolation) {
		t.Fatal(err)
	}
	if eco.Summary().InFlightMicros != before.InFlightMicros+1 {
		t.Fatal("a sound transfer after the skipped records was not folded")
	}
}
