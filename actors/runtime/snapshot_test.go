package runtime_test

import (
	"fmt"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// busy writes n varied commands for each of ids, interleaved, so that an
// actor's events are not consecutive in the stream. Transfers go to an
// agent that no manager serves: they stay in flight, which the accounts
// do not mind.
func busy(t *testing.T, acc *agent.Accounts, ids []string, n int, tag string) {
	t.Helper()
	for i := range n {
		for _, id := range ids {
			hold := fmt.Sprintf("%s-%s-%d", tag, id, i/3)
			var cmd agent.Command
			switch i % 6 {
			case 0:
				cmd = agent.PlaceHold{HoldID: hold, AmountMicros: events.Credits(2), Purpose: "bid"}
			case 1:
				cmd = agent.IncreaseHold{HoldID: hold, AmountMicros: events.Credits(3)}
			case 2:
				cmd = agent.PostHold{HoldID: hold}
			case 3:
				cmd = agent.PlaceHold{HoldID: hold, AmountMicros: 1500}
			case 4:
				cmd = agent.Burn{AmountMicros: 999, Reason: "spawn"}
			case 5:
				cmd = agent.Transfer{TransferID: fmt.Sprintf("%s-%s-%d", tag, id, i), To: "sink", AmountMicros: 7}
			}
			if _, err := acc.Do(ctxT(t), id, fmt.Sprintf("%s-%d", tag, i), cmd); err != nil {
				t.Fatalf("%s %d %T: %v", id, i, cmd, err)
			}
		}
	}
}

// foldUpTo folds agent id's events with sequence <= seq.
func foldUpTo(t *testing.T, log events.Log, id string, seq uint64) agent.Account {
	t.Helper()
	a := agent.New(id)
	for _, r := range records(t, log, events.Filter(events.KindAgent, id)) {
		if r.Seq > seq {
			break
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		a = agent.Evolve(a, e)
	}
	return a
}

// TestSnapshotRecovery: with SnapshotEvery = N, the snapshot of each actor
// sits at the sequence of its last N-th event and holds the fold up to it;
// a restart (which reads the snapshot and a short tail) recovers the same
// state as the live actor and as the full fold, and goes on correctly.
func TestSnapshotRecovery(t *testing.T) {
	const every = 5
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: every}
	h, acc := newHost(t, log, store, opts)
	ids := []string{"a", "b"}
	create(t, acc, "sink", 0)
	for _, id := range ids {
		create(t, acc, id, 1000)
	}
	busy(t, acc, ids, 38, "x") // 39 events each: the last snapshot is at the 35th

	live := map[string]agent.Account{}
	for _, id := range ids {
		live[id] = get(t, acc, id)
		rs := records(t, log, events.Filter(events.KindAgent, id))
		if len(rs) != 39 {
			t.Fatalf("%s has %d events, want 39", id, len(rs))
		}
		snap := readSnapshot(t, store, id)
		want := rs[(len(rs)/every)*every-1].Seq
		if snap.Seq != want {
			t.Fatalf("%s: snapshot at seq %d, want %d (its %dth event)", id, snap.Seq, want, (len(rs)/every)*every)
		}
		sameAccount(t, snap.State, foldUpTo(t, log, id, snap.Seq))
	}
	h.Stop()

	h, acc = newHost(t, log, store, opts)
	eco := audit(t, log)
	for _, id := range ids {
		got := get(t, acc, id)
		sameAccount(t, got, live[id])
		sameAccount(t, got, replayed(eco, id))
	}
	busy(t, acc, ids, 13, "y")
	eco = audit(t, log)
	for _, id := range ids {
		sameAccount(t, get(t, acc, id), replayed(eco, id))
	}
	h.Stop()
	freshEqualsReplayed(t, log, store, runtime.Options{SnapshotEvery: -1}, eco, ids...)
}

// TestCorruptSnapshot: a snapshot the shell cannot read costs time, not
// facts. Whatever bytes are under the snapshot key, a restarted actor
// recovers the state the log says, accepts commands, and rewrites a good
// snapshot.
func TestCorruptSnapshot(t *testing.T) {
	cases := []struct {
		name  string
		value func(good []byte) []byte
	}{
		{"garbage", func([]byte) []byte { return []byte("\x00\xff garbage {{{") }},
		{"truncated", func(good []byte) []byte { return good[:len(good)/2] }},
		{"wrong shape", func([]byte) []byte { return []byte(`{"seq":3,"state":"not an account"}`) }},
		{"empty", func([]byte) []byte { return []byte{} }},
		{"json null", func([]byte) []byte { return []byte("null") }},
		{"empty object", func([]byte) []byte { return []byte("{}") }},
		{"seq beyond the log", func([]byte) []byte { return []byte(`{"seq":1000000,"state":{"id":"a"}}`) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, store := jetStream(t)
			opts := runtime.Options{SnapshotEvery: 4}
			h, acc := newHost(t, log, store, opts)
			create(t, acc, "sink", 0)
			create(t, acc, "a", 1000)
			busy(t, acc, []string{"a"}, 10, "x")
			want := get(t, acc, "a")
			h.Stop()

			good, ok, err := store.Get(ctxT(t), snapshotKey("a"))
			if err != nil || !ok {
				t.Fatalf("no snapshot: %v", err)
			}
			if err := store.Put(ctxT(t), snapshotKey("a"), c.value(good)); err != nil {
				t.Fatal(err)
			}
			h, acc = newHost(t, log, store, opts)
			got := get(t, acc, "a")
			sameAccount(t, got, want)
			sameAccount(t, got, replayed(audit(t, log), "a"))

			// The actor still works, and its next snapshot is good.
			busy(t, acc, []string{"a"}, 6, "y")
			if _, err := acc.Do(ctxT(t), "a", "", agent.Transfer{TransferID: "self", To: "a", AmountMicros: 1}); err == nil {
				t.Fatal("a transfer to self was accepted")
			}
			eco := audit(t, log)
			sameAccount(t, get(t, acc, "a"), replayed(eco, "a"))
			snap := readSnapshot(t, store, "a")
			sameAccount(t, snap.State, foldUpTo(t, log, "a", snap.Seq))
			h.Stop()
			freshEqualsReplayed(t, log, store, opts, eco, "a")
		})
	}
}
