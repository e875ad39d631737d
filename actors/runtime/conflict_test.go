package runtime_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestTwoHostsStaleWriter: two hosts over one JetStream log act on the
// same agent in turn. Each host's actor is stale after the other wrote:
// its append is refused with ErrConflict, nothing is written, and the
// retry (same key) applies once on the recovered state. A key applied by
// one host is recognised by the other after its recovery.
func TestTwoHostsStaleWriter(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 3}
	hA, accA := newHost(t, log, store, opts)
	hB, accB := newHost(t, log, store, opts)
	create(t, accA, "a", 1000)
	hosts := []*agent.Accounts{accA, accB}

	conflicts := 0
	for i := range 12 {
		acc := hosts[i%2]
		key := fmt.Sprintf("burn-%d", i)
		cmd := agent.Burn{AmountMicros: events.Credits(int64(i + 1)), Reason: "x"}
		before := lastSeq(t, log)
		res, err := acc.Do(ctxT(t), "a", key, cmd)
		if err != nil {
			if !errors.Is(err, runtime.ErrConflict) {
				t.Fatalf("%s: %v, want ErrConflict or success", key, err)
			}
			conflicts++
			if lastSeq(t, log) != before {
				t.Fatalf("%s: a refused append wrote to the log", key)
			}
			if res, err = acc.Do(ctxT(t), "a", key, cmd); err != nil {
				t.Fatalf("%s: retry after recovery: %v", key, err)
			}
		}
		if res.Replayed || res.Seq != before+1 {
			t.Fatalf("%s: %+v, want a new event at %d", key, res, before+1)
		}
	}
	if conflicts == 0 {
		t.Fatal("alternating hosts never conflicted: the expected-last-sequence check is not in force")
	}

	// burn-11 was applied through B. A, stale, does not know the key yet:
	// its attempt conflicts, and its retry is the replay of B's event.
	first, err := accB.Do(ctxT(t), "a", "burn-11", agent.Burn{AmountMicros: 1, Reason: "x"})
	if err != nil || !first.Replayed {
		t.Fatalf("B's own retry: %+v, %v", first, err)
	}
	if _, err := accA.Do(ctxT(t), "a", "burn-11", agent.Burn{AmountMicros: 1, Reason: "x"}); !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("stale A: %v, want ErrConflict", err)
	}
	again, err := accA.Do(ctxT(t), "a", "burn-11", agent.Burn{AmountMicros: 1, Reason: "x"})
	if err != nil || !again.Replayed || again.Seq != first.Seq {
		t.Fatalf("A after recovery: %+v, %v; want the replay of seq %d", again, err, first.Seq)
	}

	rs := records(t, log, events.Filter(events.KindAgent, "a"))
	for key, n := range byKey(rs) {
		if n != 1 {
			t.Errorf("key %s written %d times", key, n)
		}
	}
	if len(rs) != 13 {
		t.Fatalf("%d events, want 13", len(rs))
	}
	eco := audit(t, log)
	if got, want := replayed(eco, "a").BalanceMicros, events.Credits(1000-78); got != want {
		t.Fatalf("balance %s, want %s", got, want)
	}
	// A recovered last, after B's last write: its view is current.
	sameAccount(t, get(t, accA, "a"), replayed(eco, "a"))
	hA.Stop()
	hB.Stop()
	freshEqualsReplayed(t, log, store, opts, eco, "a")
}

// TestTwoHostsConcurrent: two hosts, each with two writers, hammer the same
// agents at once (burns, and transfers settled by a manager on host A that
// itself conflicts with host B's writes to the recipients). Every command
// is retried with its key until accepted; every accepted command is in the
// log exactly once, the audit passes, and a fresh host recovers the state
// the log says.
func TestTwoHostsConcurrent(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 4}
	hA, accA := newHost(t, log, store, opts)
	hB, accB := newHost(t, log, store, opts)
	for _, id := range []string{"a", "b", "c"} {
		create(t, accA, id, 10_000)
	}
	m := startManager(t, hA, log, store)

	type writer struct {
		name string
		acc  *agent.Accounts
	}
	writers := []writer{{"a1", accA}, {"a2", accA}, {"b1", accB}, {"b2", accB}}
	const perWriter = 30
	var (
		mu        sync.Mutex
		accepted  = map[string]runtime.Result{}
		conflicts int
		wg        sync.WaitGroup
		errs      = make(chan error, len(writers))
	)
	for _, w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				key := fmt.Sprintf("%s-%d", w.name, i)
				from, to := "a", []string{"b", "c"}[i%2]
				if i%3 == 2 {
					from = to // the recipients are written from both hosts too
				}
				var do func() (runtime.Result, error)
				if i%2 == 0 {
					do = func() (runtime.Result, error) {
						return w.acc.Do(ctxT(t), from, key, agent.Burn{AmountMicros: events.Credits(1), Reason: "x"})
					}
				} else {
					if from == to {
						to = "a"
					}
					do = func() (runtime.Result, error) {
						return w.acc.Transfer(ctxT(t), from, key, agent.Transfer{TransferID: key, To: to, AmountMicros: events.Credits(2)})
					}
				}
				for attempt := 0; ; attempt++ {
					res, err := do()
					if err == nil {
						mu.Lock()
						accepted[key] = res
						mu.Unlock()
						break
					}
					if !errors.Is(err, runtime.ErrConflict) || attempt == 100 {
						errs <- fmt.Errorf("%s attempt %d: %w", key, attempt, err)
						return
					}
					mu.Lock()
					conflicts++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d commands accepted after %d conflicts", len(accepted), conflicts)
	m.settle(t, log)

	rs := records(t, log, events.SubjectRoot+".>")
	keys := byKey(rs)
	if len(keys) != len(accepted) {
		t.Errorf("%d keys in the log, %d commands accepted", len(keys), len(accepted))
	}
	bySeq := map[uint64]events.Record{}
	for _, r := range rs {
		bySeq[r.Seq] = r
	}
	for key, res := range accepted {
		if keys[key] != 1 {
			t.Errorf("accepted command %s is in the log %d times", key, keys[key])
		}
		if r := bySeq[res.Seq]; r.Envelope.IdempotencyKey != key {
			t.Errorf("%s answered seq %d, which holds key %q", key, res.Seq, r.Envelope.IdempotencyKey)
		}
	}
	sent, received := transferIDs(t, rs, "transfer_sent"), transferIDs(t, rs, "transfer_received")
	for id := range sent {
		if received[id] != 1 {
			t.Errorf("transfer %s received %d times", id, received[id])
		}
	}
	eco := settledAudit(t, log)
	if err := m.stop(); err != nil {
		t.Fatalf("manager: %v", err)
	}
	hA.Stop()
	hB.Stop()
	freshEqualsReplayed(t, log, store, opts, eco, "a", "b", "c")
}
