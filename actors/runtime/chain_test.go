package runtime_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/memlog"
)

// chainOf checks agent id's history link by link: its first event names no
// predecessor and every later one names the hash of the one before it. It
// returns the number of events.
func chainOf(t *testing.T, log events.Log, id string) int {
	t.Helper()
	rs := records(t, log, events.Filter(events.KindAgent, id))
	for i, r := range rs {
		want := ""
		if i > 0 {
			h, err := chain.Hash(rs[i-1].Envelope)
			if err != nil {
				t.Fatal(err)
			}
			want = h
		}
		if r.Envelope.Prev != want {
			t.Fatalf("%s's event %d (seq %d, %s, key %q) names prev %q, want %q",
				id, i+1, r.Seq, r.Envelope.Type, r.Envelope.IdempotencyKey, r.Envelope.Prev, want)
		}
	}
	return len(rs)
}

// burn burns credits from id with key and fails the test on an error.
func burn(t *testing.T, acc *agent.Accounts, id, key string, credits int64) {
	t.Helper()
	if _, err := acc.Do(ctxT(t), id, key, agent.Burn{AmountMicros: events.Credits(credits), Reason: "test"}); err != nil {
		t.Fatalf("burn %s: %v", key, err)
	}
}

// TestChainThroughPipelineFailureAndRestart: each event an actor writes
// names the hash of the one before it in the actor's history, whatever
// happened between them. Commands decided while an append is on its way
// chain from the events not yet durable; when that append fails, the
// events decided behind it are lost and the next event chains from the
// last durable one; a restart from a snapshot (with a tail after it, at
// the very event, written before snapshots held the head) continues the
// chain from the last event in the log.
func TestChainThroughPipelineFailureAndRestart(t *testing.T) {
	log, store := newGatedLog("a"), memlog.NewStore()
	opts := runtime.Options{SnapshotEvery: 4, PipelineMin: 1}
	h, acc := newHost(t, log, store, opts)
	create(t, acc, "a", 100)
	create(t, acc, "b", 100) // another actor's events between a's

	// Pipelined: k2 and k3 are decided, and chained, while k1 is held.
	log.arm(true)
	first := burnAsync(acc, ctxT(t), "a", "k1", 1)
	<-log.arrived
	log.arm(false)
	second, third := burnAsync(acc, ctxT(t), "a", "k2", 1), burnAsync(acc, ctxT(t), "a", "k3", 1)
	waitDecided(t, h, "a", events.Credits(97))
	burn(t, acc, "b", "b1", 1)
	log.release <- nil
	for _, done := range []<-chan error{first, second, third} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := chainOf(t, log, "a"); n != 4 {
		t.Fatalf("a has %d events, want 4", n)
	}

	// A failed append: k4 is held and fails, k5 was decided (and chained)
	// behind it. Neither is written; k6 chains from k3.
	log.arm(true)
	fourth := burnAsync(acc, ctxT(t), "a", "k4", 1)
	<-log.arrived
	log.arm(false)
	fifth := burnAsync(acc, ctxT(t), "a", "k5", 1)
	waitDecided(t, h, "a", events.Credits(95))
	log.release <- errors.New("injected append failure")
	if err := <-fourth; !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("k4: %v, want ErrUnavailable", err)
	}
	if err := <-fifth; err != nil && !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("k5: %v", err)
	}
	burn(t, acc, "a", "k6", 1)
	burn(t, acc, "b", "b2", 1)
	n := chainOf(t, log, "a")
	if keys := byKey(records(t, log, "events.>")); keys["k4"] != 0 || keys["k6"] != 1 {
		t.Fatalf("keys written %v: k4 failed and must not be in the log, k6 must", keys)
	}

	// Restarts from a snapshot: with events after it, then exactly at the
	// actor's last event.
	tail := 0 // events after the snapshot
	for tail == 0 {
		burn(t, acc, "a", fmt.Sprintf("r%d", n), 1)
		n++
		rs := records(t, log, events.Filter(events.KindAgent, "a"))
		for i := len(rs) - 1; i >= 0 && rs[i].Seq != readSnapshot(t, store, "a").Seq; i-- {
			tail++
		}
	}
	h.Stop()
	h, acc = newHost(t, log, store, opts)
	checkSnapshotHead(t, log, readSnapshot(t, store, "a"))
	// A snapshot is saved after its batch's answer, in the actor's next
	// step: the host's stop waits for it, a read right after the answer
	// may not see it.
	for {
		burn(t, acc, "a", fmt.Sprintf("s%d", n), 1)
		n++
		h.Stop()
		rs := records(t, log, events.Filter(events.KindAgent, "a"))
		if readSnapshot(t, store, "a").Seq == rs[len(rs)-1].Seq {
			break
		}
		h, acc = newHost(t, log, store, opts)
	}
	snap := readSnapshot(t, store, "a")
	checkSnapshotHead(t, log, snap)
	h, acc = newHost(t, log, store, opts)
	burn(t, acc, "a", "t0", 1)
	h.Stop()

	// A snapshot written before snapshots held the head: the chain
	// continues from the event the snapshot names.
	stripHead(t, store, "a", nil)
	h, acc = newHost(t, log, store, opts)
	burn(t, acc, "a", "u0", 1)
	h.Stop()

	if got := chainOf(t, log, "a"); got != n+2 {
		t.Fatalf("a has %d events, want %d", got, n+2)
	}
	chainOf(t, log, "b")
	eco := audit(t, log)
	freshEqualsReplayed(t, log, store, opts, eco, "a", "b")
}

// TestSnapshotOfAnotherHistoryIgnored: a snapshot whose head is not the
// hash of the event at its sequence describes another history (a stream
// restored or rewritten under it); recovery ignores it and folds the log.
func TestSnapshotOfAnotherHistoryIgnored(t *testing.T) {
	log, store := memlog.New(), memlog.NewStore()
	opts := runtime.Options{SnapshotEvery: 2}
	h, acc := newHost(t, log, store, opts)
	create(t, acc, "a", 100)
	burn(t, acc, "a", "k1", 1)
	want := get(t, acc, "a")
	h.Stop()

	// The same sequence and actor, a richer state, and a head that is not
	// the event's: were it believed, a would show another balance.
	stripHead(t, store, "a", func(snap map[string]any) {
		snap["head"] = "00000000000000000000000000000000"
		snap["state"].(map[string]any)["balance_micros"] = events.Credits(1000)
	})
	h, acc = newHost(t, log, store, opts)
	sameAccount(t, get(t, acc, "a"), want)
	burn(t, acc, "a", "k2", 1)
	h.Stop()
	chainOf(t, log, "a")
	audit(t, log)
}

// checkSnapshotHead fails unless the snapshot's head is the hash of the
// event at its sequence.
func checkSnapshotHead(t *testing.T, log events.Log, snap snapshotView) {
	t.Helper()
	for _, r := range records(t, log, events.Filter(events.KindAgent, "a")) {
		if r.Seq == snap.Seq {
			h, err := chain.Hash(r.Envelope)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Head != h {
				t.Fatalf("snapshot at seq %d holds head %q; the event hashes to %q", snap.Seq, snap.Head, h)
			}
			return
		}
	}
	t.Fatalf("no event of a at the snapshot's seq %d", snap.Seq)
}

// stripHead rewrites agent id's snapshot without its head, then lets edit
// change it further.
func stripHead(t *testing.T, store events.Store, id string, edit func(map[string]any)) {
	t.Helper()
	b, ok, err := store.Get(ctxT(t), snapshotKey(id))
	if err != nil || !ok {
		t.Fatalf("snapshot of %s: %v (found %v)", id, err, ok)
	}
	var snap map[string]any
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	if _, ok := snap["head"]; !ok {
		t.Fatalf("snapshot of %s holds no head: %s", id, b)
	}
	delete(snap, "head")
	if edit != nil {
		edit(snap)
	}
	if b, err = json.Marshal(snap); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctxT(t), snapshotKey(id), b); err != nil {
		t.Fatal(err)
	}
}
