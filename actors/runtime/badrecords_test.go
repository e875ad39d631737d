package runtime_test

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// forgedEvent is a well-formed envelope of e on actor (kind agent, id),
// as a client of the NATS port could publish it.
func forgedEvent(t testing.TB, id string, e events.Event) (string, []byte) {
	t.Helper()
	env, err := events.Encode(events.KindAgent, id, e, events.Meta{Time: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return env.Subject, b
}

// TestBadRecordsAreSkippedByActorsAndManagers publishes, on a real
// JetStream log under a running host and transfer manager, records that do
// not decode and well-formed events their actor would never write: an
// overspend, a transfer from an agent that never existed, a record whose
// data is not its type's. The actors skip them (live, after the append
// they make conflict, and at a restart), the manager acts on none of them
// (no recipient is credited), the sound traffic after them goes through,
// and Host.Admitted names each with its reason.
func TestBadRecordsAreSkippedByActorsAndManagers(t *testing.T) {
	url, js, _ := natstest.Start(t)
	log, store := openLog(t, js)
	opts := runtime.Options{SnapshotEvery: 3}
	h, acc := newHost(t, log, store, opts)
	create(t, acc, "a", 100)
	create(t, acc, "b", 0)
	m := startManager(t, h, log, store)
	send(t, acc, "a", "b", "t1", 1)

	overspendSubject, overspend := forgedEvent(t, "a", events.TransferSent{TransferID: "forged", ToAgentID: "b",
		AmountMicros: events.Credits(5000)})
	ghostSubject, ghost := forgedEvent(t, "ghost", events.TransferSent{TransferID: "ghostly", ToAgentID: "b",
		AmountMicros: events.Credits(7)})
	_, mismatched := forgedEvent(t, "a", events.CreditsBurned{AmountMicros: 1})
	forged := []struct {
		subject string
		data    []byte
		reason  events.Reason
	}{
		{"events.test.x.y", []byte(`{"a":1}`), events.ReasonUndecodable},
		{"events.agent.a.transfer_sent", []byte(`{"a":1`), events.ReasonUndecodable},
		{overspendSubject, overspend, events.ReasonInvariant},
		{ghostSubject, ghost, events.ReasonInvariant},
		{"events.agent.a.transfer_sent", mismatched, events.ReasonBadSubject},
	}
	seqs := make([]uint64, len(forged))
	for i, f := range forged {
		seqs[i] = natstest.Forge(t, url, f.subject, f.data)
	}

	// a's actor meets the forged records at its next append (a conflict),
	// reloads past them, and the transfer goes through when retried.
	for {
		_, err := acc.Transfer(ctxT(t), "a", "t2", agent.Transfer{TransferID: "t2", To: "b", AmountMicros: events.Credits(2)})
		if err == nil {
			break
		}
		if !errors.Is(err, runtime.ErrConflict) && !errors.Is(err, runtime.ErrUnavailable) {
			t.Fatalf("transfer after the forged records: %v", err)
		}
	}
	m.settle(t, log)
	if got := get(t, acc, "b").BalanceMicros; got != events.Credits(3) {
		t.Fatalf("b holds %s, want 3: only the two sound transfers reached it", got)
	}
	if got := get(t, acc, "a").BalanceMicros; got != events.Credits(97) {
		t.Fatalf("a holds %s, want 97", got)
	}
	for i, f := range forged {
		if f.subject == "events.test.x.y" {
			continue // no actor's record
		}
		err := h.Admitted(ctxT(t), record(t, log, seqs[i]))
		b, ok := events.AsBadRecord(err)
		if !ok || b.Reason != f.reason || b.Seq != seqs[i] {
			t.Errorf("Admitted(%d %s) = %v; want skipped, %s", seqs[i], f.subject, err, f.reason)
		}
	}
	if err := h.Admitted(ctxT(t), record(t, log, 1)); err != nil {
		t.Errorf("Admitted(a's creation) = %v", err)
	}
	if received := transferIDs(t, records(t, log, events.SubjectRoot+".>"), "transfer_received"); received["forged"]+received["ghostly"] != 0 {
		t.Fatalf("a forged transfer was received: %v", received)
	}
	eco := audit(t, log)
	if u := eco.Unacknowledged(); len(u) != len(forged) {
		t.Fatalf("the audit fold skipped %+v; want the %d forged records", u, len(forged))
	}
	if err := m.stop(); err != nil {
		t.Fatalf("manager: %v", err)
	}

	// A restart on this log recovers past them, snapshots or not.
	h.Stop()
	h, acc = newHost(t, log, store, opts)
	if got := get(t, acc, "a"); got.BalanceMicros != events.Credits(97) {
		t.Fatalf("after a restart a holds %s, want 97", got.BalanceMicros)
	}
	sameAccount(t, get(t, acc, "b"), replayed(eco, "b"))
	send(t, acc, "a", "b", "t3", 1)
	m = startManager(t, h, log, store)
	m.settle(t, log)
	if got := get(t, acc, "b").BalanceMicros; got != events.Credits(4) {
		t.Fatalf("b holds %s after the restart, want 4", got)
	}
}

// record reads the record at seq.
func record(t testing.TB, log events.Log, seq uint64) events.Record {
	t.Helper()
	for _, r := range records(t, log, events.SubjectRoot+".>") {
		if r.Seq == seq {
			return r
		}
	}
	t.Fatalf("no record %d", seq)
	return events.Record{}
}
