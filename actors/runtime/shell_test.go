package runtime_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
)

// backends are the logs the pure shell mechanics run on: the in-memory
// adapter and the real embedded JetStream server.
var backends = []struct {
	name string
	open func(t *testing.T) (events.Log, events.Store)
}{
	{"memlog", func(t *testing.T) (events.Log, events.Store) {
		l := memlog.New()
		t.Cleanup(l.Close)
		return l, memlog.NewStore()
	}},
	{"jetstream", func(t *testing.T) (events.Log, events.Store) { return jetStream(t) }},
}

func forEachBackend(t *testing.T, f func(t *testing.T, log events.Log, store events.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			log, store := b.open(t)
			f(t, log, store)
		})
	}
}

// TestAnswerOnlyWhenDurable: when Ask returns, the event it reports is in
// the log at the sequence it reports, with the command's idempotency key
// and causation; this holds for concurrent askers of several actors too.
func TestAnswerOnlyWhenDurable(t *testing.T) {
	forEachBackend(t, func(t *testing.T, log events.Log, store events.Store) {
		h, acc := newHost(t, log, store, runtime.Options{})
		ids := []string{"a", "b", "c"}
		for _, id := range ids {
			create(t, acc, id, 1000)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for _, id := range ids {
			for w := range 2 {
				wg.Go(func() {
					for i := range 10 {
						key := fmt.Sprintf("%s-%d-%d", id, w, i)
						res, err := h.Ask(ctxT(t), events.KindAgent, id, runtime.Request{
							Command: agent.Burn{AmountMicros: events.Credits(1), Reason: "test"},
							Key:     key, CausationID: "cause-" + key, CorrelationID: "corr",
						})
						if err != nil {
							errs <- err
							return
						}
						if err := readBack(t, log, id, key, res); err != nil {
							errs <- err
							return
						}
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, id := range ids {
			if got := get(t, acc, id).BalanceMicros; got != events.Credits(980) {
				t.Errorf("%s balance %s, want 980", id, got)
			}
		}
		audit(t, log)
	})
}

// readBack checks, right after Ask returned, that the log holds the event.
func readBack(t *testing.T, log events.Log, id, key string, res runtime.Result) error {
	if res.Seq == 0 || res.Event == nil || res.Replayed {
		return fmt.Errorf("%s: result %+v", key, res)
	}
	var found []events.Record
	err := log.Read(ctxT(t), events.Filter(events.KindAgent, id), res.Seq, func(r events.Record) error {
		if r.Seq == res.Seq {
			found = append(found, r)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(found) != 1 {
		return fmt.Errorf("%s: seq %d answered but not in the log of %s", key, res.Seq, id)
	}
	r := found[0]
	e, err := events.Decode(r.Envelope)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(e, res.Event) || r.Envelope.IdempotencyKey != key ||
		r.Envelope.CausationID != "cause-"+key || r.Envelope.CorrelationID != "corr" {
		return fmt.Errorf("%s: log has %+v (%+v), answer was %+v", key, e, r.Envelope, res.Event)
	}
	return nil
}

// TestRejectionWritesNothing: a rejected command appends nothing and is
// not remembered under its key, so the same key can succeed later.
func TestRejectionWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, log events.Log, store events.Store) {
		h, acc := newHost(t, log, store, runtime.Options{})
		create(t, acc, "a", 10)
		create(t, acc, "b", 0)
		before := lastSeq(t, log)
		rejections := []struct {
			id   string
			cmd  any
			want error
		}{
			{"a", agent.Transfer{TransferID: "t1", To: "b", AmountMicros: events.Credits(11)}, agent.ErrInsufficientCredits},
			{"a", agent.Burn{AmountMicros: -1, Reason: "x"}, agent.ErrInvalidAmount},
			{"a", agent.Transfer{TransferID: "t2", To: "a", AmountMicros: 1}, agent.ErrTransferToSelf},
			{"a", agent.Create{GrantMicros: 1}, agent.ErrAgentExists},
			{"a", agent.PostHold{HoldID: "nope"}, agent.ErrHoldNotOpen},
			{"a", struct{ X int }{1}, runtime.ErrWrongCommand},
			{"a", market.ReleaseLease{ExecutionID: "x", Trigger: events.Trigger{Manager: "m", Seq: 1}}, runtime.ErrWrongCommand},
			{"a", nil, runtime.ErrWrongCommand},
			{"ghost", agent.Burn{AmountMicros: 1, Reason: "x"}, agent.ErrUnknownAgent},
		}
		for i, r := range rejections {
			res, err := h.Ask(ctxT(t), events.KindAgent, r.id, runtime.Request{Command: r.cmd, Key: fmt.Sprintf("k%d", i)})
			if !errors.Is(err, r.want) {
				t.Errorf("%T: err %v, want %v", r.cmd, err, r.want)
			}
			if res != (runtime.Result{}) {
				t.Errorf("%T: rejected with a result %+v", r.cmd, res)
			}
		}
		if after := lastSeq(t, log); after != before {
			t.Fatalf("rejections wrote %d events", after-before)
		}

		// The key of the refused transfer is free: the same key, now
		// affordable, applies.
		if _, err := acc.Do(ctxT(t), "a", "k0", agent.Transfer{TransferID: "t1", To: "b", AmountMicros: events.Credits(5)}); err != nil {
			t.Fatalf("retry after a rejection: %v", err)
		}
		if after := lastSeq(t, log); after != before+1 {
			t.Fatalf("log grew by %d, want 1", after-before)
		}
	})
}

// TestIdempotentRetry: a retried command with the key of an applied one is
// answered with the first result, marked Replayed, and appends nothing:
// on the same host, after a restart that folds the log, and after a
// restart that loads the memory from a snapshot.
func TestIdempotentRetry(t *testing.T) {
	cases := []struct {
		name    string
		restart bool
		opts    runtime.Options
	}{
		{"same host", false, runtime.Options{}},
		{"restart, memory from the log", true, runtime.Options{SnapshotEvery: -1}},
		{"restart, memory from a snapshot", true, runtime.Options{SnapshotEvery: 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log, store := jetStream(t)
			h, acc := newHost(t, log, store, c.opts)
			create(t, acc, "a", 100)
			create(t, acc, "b", 0)
			transfer := agent.Transfer{TransferID: "t1", To: "b", AmountMicros: events.Credits(7), Memo: "m"}
			first, err := acc.Do(ctxT(t), "a", "key-1", transfer)
			if err != nil || first.Replayed || first.Seq == 0 {
				t.Fatalf("first: %+v, %v", first, err)
			}
			// More keyed events, so that a snapshot is taken after key-1.
			for i := range 3 {
				if _, err := acc.Do(ctxT(t), "a", fmt.Sprintf("burn-%d", i), agent.Burn{AmountMicros: 1, Reason: "x"}); err != nil {
					t.Fatal(err)
				}
			}
			want := get(t, acc, "a")
			before := lastSeq(t, log)
			if c.restart {
				h.Stop()
				h, acc = newHost(t, log, store, c.opts)
			}
			if c.opts.SnapshotEvery > 0 {
				snap := readSnapshot(t, store, "a")
				if snap.Seq < first.Seq || !snap.hasKey("key-1") {
					t.Fatalf("the snapshot (seq %d, keys %v) does not hold key-1 (seq %d)", snap.Seq, snap.Applied, first.Seq)
				}
			}
			for range 2 {
				// The retry may even carry another command: the key decides.
				again, err := acc.Do(ctxT(t), "a", "key-1", agent.Transfer{TransferID: "t9", To: "b", AmountMicros: 1})
				if err != nil {
					t.Fatal(err)
				}
				if !again.Replayed || again.Seq != first.Seq || !reflect.DeepEqual(again.Event, first.Event) {
					t.Fatalf("retry answered %+v, first was %+v", again, first)
				}
			}
			if after := lastSeq(t, log); after != before {
				t.Fatalf("retries appended %d events", after-before)
			}
			sameAccount(t, get(t, acc, "a"), want)
			audit(t, log)
		})
	}
}

// TestIdempotencyMemoryBounded: an actor remembers IdempotencyMemory keys;
// the oldest is forgotten (a retry then decides anew), the newer ones are
// still recognised, before and after a restart.
func TestIdempotencyMemoryBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, log events.Log, store events.Store) {
		opts := runtime.Options{IdempotencyMemory: 3, SnapshotEvery: -1}
		h, acc := newHost(t, log, store, opts)
		create(t, acc, "a", 100)
		burn := agent.Burn{AmountMicros: events.Credits(1), Reason: "x"}
		first := map[string]runtime.Result{}
		for i := range 4 {
			key := fmt.Sprintf("k%d", i)
			res, err := acc.Do(ctxT(t), "a", key, burn)
			if err != nil {
				t.Fatal(err)
			}
			first[key] = res
		}
		remembered := func(acc *agent.Accounts, key string) {
			t.Helper()
			before := lastSeq(t, log)
			res, err := acc.Do(ctxT(t), "a", key, burn)
			if err != nil || !res.Replayed || res.Seq != first[key].Seq {
				t.Fatalf("%s: %+v, %v; want the replay of %+v", key, res, err, first[key])
			}
			if lastSeq(t, log) != before {
				t.Fatalf("%s: a replay appended", key)
			}
		}
		forgotten := func(acc *agent.Accounts, key string) {
			t.Helper()
			before := lastSeq(t, log)
			res, err := acc.Do(ctxT(t), "a", key, burn)
			if err != nil || res.Replayed || res.Seq != before+1 {
				t.Fatalf("%s: %+v, %v; want a new event at %d", key, res, err, before+1)
			}
			first[key] = res
		}
		for _, k := range []string{"k1", "k2", "k3"} {
			remembered(acc, k)
		}
		forgotten(acc, "k0") // now the memory is k2, k3, k0
		h.Stop()
		_, acc = newHost(t, log, store, opts)
		for _, k := range []string{"k2", "k3", "k0"} {
			remembered(acc, k)
		}
		forgotten(acc, "k1")
		if got := get(t, acc, "a").BalanceMicros; got != events.Credits(94) {
			t.Fatalf("balance %s, want 94 (six burns)", got)
		}
		audit(t, log)
	})
}

// snapshotView is the stored snapshot as the shell writes it.
type snapshotView struct {
	Seq     uint64        `json:"seq"`
	Head    string        `json:"head"`
	State   agent.Account `json:"state"`
	Applied []struct {
		Key string `json:"key"`
		Seq uint64 `json:"seq"`
	} `json:"applied"`
}

func (s snapshotView) hasKey(k string) bool {
	for _, a := range s.Applied {
		if a.Key == k {
			return true
		}
	}
	return false
}

func readSnapshot(t testing.TB, store events.Store, id string) snapshotView {
	t.Helper()
	b, ok, err := store.Get(ctxT(t), snapshotKey(id))
	if err != nil || !ok {
		t.Fatalf("snapshot of %s: found %v, %v", id, ok, err)
	}
	var s snapshotView
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("snapshot of %s: %v", id, err)
	}
	return s
}
