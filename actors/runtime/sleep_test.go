package runtime_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// asleep waits until every actor of h is asleep. The wait is bounded by
// ctxT against a hang; how long it takes is not under test.
func asleep(t testing.TB, h *runtime.Host) {
	t.Helper()
	ctx := ctxT(t)
	for h.Awake() > 0 {
		if ctx.Err() != nil {
			t.Fatalf("%d actors still awake", h.Awake())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSleepKeepsStateIdempotencyAndChain: an actor put to sleep and woken
// again by the next message has the same state, answers a retry of a
// command it applied before it slept with the first answer (from its
// snapshot's memory and from the events after it), continues its hash
// chain, and takes part in a transfer that the manager delivers to it
// asleep (Admitted and Peek know nothing of a sleeping actor: the manager
// asks, which wakes it).
func TestSleepKeepsStateIdempotencyAndChain(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 4, IdleTimeout: 20 * time.Millisecond}
	h, acc := newHost(t, log, store, opts)
	mgr := startManager(t, h, log, store)
	defer mgr.stop()
	create(t, acc, "a", 100)
	create(t, acc, "b", 100)
	first := map[string]runtime.Result{}
	for i := range 5 {
		key := fmt.Sprintf("burn-%d", i)
		res, err := acc.Do(ctxT(t), "a", key, agent.Burn{AmountMicros: events.Credits(1), Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		first[key] = res
	}
	before := get(t, acc, "a")
	asleep(t, h)
	woken := h.Woken()
	if v, ok := h.Peek(events.KindAgent, "a"); ok {
		t.Fatalf("a sleeping actor published %v", v)
	}
	// a's snapshot is taken at its 4th event: keys 0-2 are in its memory,
	// 3-4 in the events after it.
	for key, want := range first {
		res, err := acc.Do(ctxT(t), "a", key, agent.Burn{AmountMicros: events.Credits(1), Reason: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Replayed || res.Seq != want.Seq {
			t.Fatalf("retry of %s after a sleep: seq %d replayed %v, want seq %d replayed", key, res.Seq, res.Replayed, want.Seq)
		}
	}
	sameAccount(t, get(t, acc, "a"), before)
	if h.Woken() != woken+1 {
		t.Fatalf("woken %d times, want %d: the retries woke a once", h.Woken(), woken+1)
	}
	asleep(t, h)
	if _, err := acc.Transfer(ctxT(t), "a", "t1", agent.Transfer{TransferID: "t1", To: "b", AmountMicros: events.Credits(10)}); err != nil {
		t.Fatal(err)
	}
	mgr.settle(t, log)
	if got := get(t, acc, "b").BalanceMicros; got != events.Credits(110) {
		t.Fatalf("b's balance %s after a transfer delivered asleep, want 110", got)
	}
	asleep(t, h)
	burn(t, acc, "a", "after", 1)
	chainOf(t, log, "a")
	chainOf(t, log, "b")
	eco := settledAudit(t, log)
	sameAccount(t, get(t, acc, "a"), replayed(eco, "a"))
	sameAccount(t, get(t, acc, "b"), replayed(eco, "b"))
}

// TestBurstRacesTheIdleStop: commands and transfers sent from many
// goroutines, with pauses about as long as the idle timeout, so that
// actors are put to sleep between them and while they arrive. None is
// lost (each is answered, none times out as a dead letter would), none is
// applied twice (each key once in the log; a retry gets the first
// answer), and the log passes the audit with every transfer settled.
func TestBurstRacesTheIdleStop(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 4, IdleTimeout: time.Millisecond, AskTimeout: 20 * time.Second}
	h, acc := newHost(t, log, store, opts)
	mgr := startManager(t, h, log, store)
	defer mgr.stop()
	var ids []string
	for i := range 16 {
		ids = append(ids, fmt.Sprintf("a%d", i))
	}
	for _, id := range ids {
		create(t, acc, id, 1000)
	}
	const wakesMin, racedMin = 60, 3
	var (
		mu    sync.Mutex
		first = map[string]runtime.Result{}
		burns = map[string]int64{}
		sent  = 0
	)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := 0; (h.Woken() < wakesMin+uint64(len(ids)) || runtime.Raced(h) < racedMin) && ctx.Err() == nil; i++ {
				id := ids[rng.IntN(len(ids))]
				key := fmt.Sprintf("w%d-%d", w, i)
				var cmd func() (runtime.Result, error)
				if rng.IntN(2) == 0 {
					cmd = func() (runtime.Result, error) {
						return acc.Do(ctx, id, key, agent.Burn{AmountMicros: 1, Reason: "test"})
					}
				} else {
					to := ids[(slices.Index(ids, id)+1+rng.IntN(len(ids)-1))%len(ids)]
					cmd = func() (runtime.Result, error) {
						return acc.Transfer(ctx, id, key, agent.Transfer{TransferID: key, To: to, AmountMicros: 1})
					}
				}
				res, err := cmd()
				if err != nil {
					errs <- fmt.Errorf("%s on %s: %w", key, id, err)
					return
				}
				if rng.IntN(4) == 0 { // a retry, maybe after a sleep
					time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
					again, err := cmd()
					if err != nil {
						errs <- fmt.Errorf("retry of %s on %s: %w", key, id, err)
						return
					}
					if !again.Replayed || again.Seq != res.Seq {
						errs <- fmt.Errorf("retry of %s: seq %d replayed %v, want seq %d", key, again.Seq, again.Replayed, res.Seq)
						return
					}
				}
				mu.Lock()
				first[key], sent = res, sent+1
				if _, ok := res.Event.(events.CreditsBurned); ok {
					burns[id]++
				}
				mu.Unlock()
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	if h.Woken() < wakesMin || runtime.Raced(h) < racedMin {
		t.Fatalf("actors woken %d times, %d sends found their actor falling asleep: the burst did not race the idle stop",
			h.Woken(), runtime.Raced(h))
	}
	mgr.settle(t, log)
	written := byKey(records(t, log, events.SubjectRoot+".>"))
	for key, res := range first {
		if written[key] != 1 {
			t.Errorf("command %s (seq %d) is %d times in the log", key, res.Seq, written[key])
		}
	}
	eco := settledAudit(t, log)
	for _, id := range ids {
		sameAccount(t, get(t, acc, id), replayed(eco, id))
	}
	t.Logf("%d commands, actors woken %d times, %d sends found their actor falling asleep", sent, h.Woken(), runtime.Raced(h))
}

// TestStopWhileActorsFallAsleep: a host stopped while its actors fall
// asleep stops (waiting for those closing), and refuses what comes after.
func TestStopWhileActorsFallAsleep(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{IdleTimeout: time.Millisecond})
	for i := range 20 {
		create(t, acc, fmt.Sprintf("s%d", i), 1)
	}
	h.Stop()
	if _, err := acc.Get(ctxT(t), "s1"); !errors.Is(err, runtime.ErrStopped) {
		t.Fatalf("Get after Stop: %v, want ErrStopped", err)
	}
	if n := h.Awake(); n != 0 {
		t.Fatalf("%d actors awake after Stop", n)
	}
}

// BenchmarkActorHeap measures the live heap of idle actors: awake (each
// created and sent one keyed command, then left alone: what the host
// frees when they stop), asleep (what a host keeps of actors woken once
// and put to sleep), and what the process keeps of each agent once every
// actor is gone (the embedded server's memory for its subjects and
// snapshot, since it runs in this process). A host's fixed cost (its actor
// system's tables, a few MB) is measured apart and left out. Run it once:
// go test -run '^$' -bench ActorHeap -benchtime 1x ./actors/runtime.
func BenchmarkActorHeap(b *testing.B) {
	const agents = 2000
	for b.Loop() {
		log, store := jetStream(b)
		h, acc := newHost(b, log, store, runtime.Options{IdleTimeout: time.Hour})
		base := heapBytes()
		// One context for every call: ctxT's cleanups would be counted.
		ctx := ctxT(b)
		for i := range agents {
			id := fmt.Sprintf("h%d", i)
			if _, err := acc.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(10), Reason: "test"}); err != nil {
				b.Fatal(err)
			}
			if _, err := acc.Do(ctx, id, "k-"+id, agent.Burn{AmountMicros: 1, Reason: "test"}); err != nil {
				b.Fatal(err)
			}
		}
		awake := heapBytes()
		h.Stop()
		gone := heapBytes()
		// Another host wakes each actor once and lets it fall asleep.
		h2, acc2 := newHost(b, log, store, runtime.Options{IdleTimeout: 10 * time.Millisecond})
		empty := heapBytes()
		for i := range agents {
			if _, err := acc2.Get(ctx, fmt.Sprintf("h%d", i)); err != nil {
				b.Fatal(err)
			}
		}
		asleep(b, h2)
		sleeping := heapBytes()
		b.ReportMetric(float64(awake-gone)/agents, "bytes/awake-agent")
		b.ReportMetric(float64(sleeping-empty)/agents, "bytes/sleeping-agent")
		b.ReportMetric(float64(gone-base)/agents, "process-bytes/agent")
		h2.Stop()
	}
}

// heapBytes is the live heap after a collection.
func heapBytes() int64 {
	goruntime.GC()
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
