package markets_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/markets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// economy appends market and clearing events to a log the way the actors
// do: with the expected last sequence of each actor's subjects.
type economy struct {
	t    testing.TB
	log  events.Log
	last map[string]uint64
	seq  uint64
}

func newEconomy(t testing.TB, log events.Log) *economy {
	return &economy{t: t, log: log, last: map[string]uint64{}}
}

func (e *economy) append(s step) uint64 {
	e.t.Helper()
	env, err := events.Encode(s.kind, s.id, s.event, events.Meta{Time: timeOf(e.seq + 1)})
	if err != nil {
		e.t.Fatal(err)
	}
	filter := events.Filter(s.kind, s.id)
	seq, err := e.log.Append(context.Background(), filter, e.last[filter], env)
	if err != nil {
		e.t.Fatal(err)
	}
	e.last[filter], e.seq = seq, seq
	return seq
}

// open configures the markets; cycle is one busy cycle of the cpu market:
// a bid listed and allocated, its lease granted and later released, the
// price moved.
func (e *economy) open() {
	e.append(configured("cpu_seconds", 100, cr(5)))
	e.append(configured("memory_mb", 10000, 10000))
}

func (e *economy) cycle(n uint64, price events.Micros) events.Micros {
	id := fmt.Sprintf("b-%d", n)
	next := price * 9 / 10
	e.append(listed(id, "a", 2, 128))
	e.append(won(n, id, "a", 2, 128, 12, price, 10000))
	e.append(granted("cpu_seconds", n, id, 2, 2, 100, price, next))
	e.append(mkt("cpu_seconds", events.LeaseReleased{ExecutionID: "x-" + id, Units: un(2), Reason: "exited"}))
	return next
}

func newView(t testing.TB, n int) *markets.View {
	t.Helper()
	v, err := markets.New(n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func run(t testing.TB, ctx context.Context, f func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestViewUnderTheRunner feeds the view from a log while readers read it
// (the race detector checks the locking), then rebuilds it.
func TestViewUnderTheRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := memlog.New()
	defer log.Close()
	view := newView(t, 5)
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, ctx, r.Run)
	finished := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-finished:
					return
				default:
				}
				for _, m := range view.State().Markets {
					if len(m.RecentTransactions) > 5 || m.LeasedUnits > m.SupplyUnits {
						t.Errorf("market %+v", m)
						return
					}
				}
			}
		})
	}
	eco := newEconomy(t, log)
	eco.open()
	price := cr(5)
	for n := uint64(1); n <= 30; n++ {
		price = eco.cycle(n, price)
	}
	if err := r.WaitFor(ctx, eco.seq); err != nil {
		t.Fatal(err)
	}
	close(finished)
	wg.Wait()
	st := view.State()
	cpu, _ := view.Market("cpu_seconds")
	if st.Cycle != 30 || cpu.PriceMicros != price || cpu.LeasedUnits != 0 || len(cpu.RecentTransactions) != 5 ||
		cpu.RecentTransactions[0].Kind != markets.KindRelease || cpu.RecentTransactions[1].BidID != "b-30" {
		t.Fatalf("after 30 cycles: cycle %d, cpu %+v", st.Cycle, cpu)
	}
	if err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if again := view.State(); !reflect.DeepEqual(again, st) {
		t.Fatalf("rebuilt state differs:\n%+v\n%+v", again, st)
	}
	stop()
}

// puts is a bucket in memory that counts and can fail its writes.
type puts struct {
	store *memlog.Store
	n     atomic.Int64
	fail  atomic.Bool
}

func (p *puts) Put(ctx context.Context, key string, value []byte) error {
	if p.fail.Load() {
		return errors.New("bucket unavailable")
	}
	p.n.Add(1)
	return p.store.Put(ctx, key, value)
}

func (p *puts) get(t testing.TB, key string) []byte {
	t.Helper()
	v, _, err := p.store.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func marketJSON(t testing.TB, v *markets.View, resource string) []byte {
	t.Helper()
	m, ok := v.Market(resource)
	if !ok {
		t.Fatalf("no market %s", resource)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func applyAll(t testing.TB, v *markets.View, from uint64, given ...step) uint64 {
	t.Helper()
	for _, s := range given {
		from++
		if err := v.Apply(record(t, from, s)); err != nil {
			t.Fatal(err)
		}
	}
	return from
}

// TestMirrorWritesOnlyWhatChanged drives Sync by hand: every open market
// once, then only the changed ones, never a value equal to the stored one,
// and after a failed write the same market again.
func TestMirrorWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	view := newView(t, 3)
	bucket := &puts{store: memlog.NewStore()}
	m, err := markets.NewMirror(view, bucket, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := applyAll(t, view, 0, configured("cpu_seconds", 100, cr(5)), configured("memory_mb", 10000, 10000))
	sync := func(wantPuts int64) {
		t.Helper()
		before := bucket.n.Load()
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := bucket.n.Load() - before; got != wantPuts {
			t.Fatalf("%d puts, want %d", got, wantPuts)
		}
		for _, r := range []string{"cpu_seconds", "memory_mb"} {
			if got, want := bucket.get(t, r), marketJSON(t, view, r); string(got) != string(want) {
				t.Fatalf("%s holds %s, want %s", r, got, want)
			}
		}
	}
	sync(2)
	sync(0)
	seq = applyAll(t, view, seq, mkt("cpu_seconds", events.MarketCleared{Cycle: 1, SupplyUnits: un(100), PriceMicros: cr(5), NewPriceMicros: micros("4.5")}))
	sync(1)
	// A bid listed and withdrawn touches both markets but changes neither.
	seq = applyAll(t, view, seq, listed("b-1", "a", 1, 1), clr(events.BidWithdrawn{BidID: "b-1", AgentID: "a"}))
	sync(0)
	bucket.fail.Store(true)
	seq = applyAll(t, view, seq, listed("b-2", "a", 1, 1))
	if err := m.Sync(ctx); err == nil {
		t.Fatal("a failed write was not reported")
	}
	bucket.fail.Store(false)
	sync(2)
	// A rebuild from scratch writes nothing that is already there.
	view.Reset()
	applyAll(t, view, 0, configured("cpu_seconds", 100, cr(5)), configured("memory_mb", 10000, 10000),
		mkt("cpu_seconds", events.MarketCleared{Cycle: 1, SupplyUnits: un(100), PriceMicros: cr(5), NewPriceMicros: micros("4.5")}),
		listed("b-1", "a", 1, 1), clr(events.BidWithdrawn{BidID: "b-1", AgentID: "a"}), listed("b-2", "a", 1, 1))
	sync(0)
	_ = seq

	if _, err := markets.NewMirror(nil, bucket, nil); !errors.Is(err, markets.ErrNilDependency) {
		t.Fatalf("NewMirror without a view: %v", err)
	}
	if _, err := markets.NewMirror(view, nil, nil); !errors.Is(err, markets.ErrNilDependency) {
		t.Fatalf("NewMirror without a bucket: %v", err)
	}
}

// TestMirrorRetriesAFailedWrite runs the mirror against a bucket that
// fails for a while: once it works again, the bucket catches up.
func TestMirrorRetriesAFailedWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	view := newView(t, 3)
	bucket := &puts{store: memlog.NewStore()}
	bucket.fail.Store(true)
	m, err := markets.NewMirror(view, bucket, nil, markets.WithInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, ctx, m.Run)
	defer stop()
	applyAll(t, view, 0, configured("cpu_seconds", 100, cr(5)))
	time.Sleep(50 * time.Millisecond) // the first write fails
	bucket.fail.Store(false)
	waitFor(t, ctx, func() bool { return string(bucket.get(t, "cpu_seconds")) == string(marketJSON(t, view, "cpu_seconds")) })
}

func waitFor(t testing.TB, ctx context.Context, ok func() bool) {
	t.Helper()
	for !ok() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not reached in time")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestMirrorIntoJetStream is the production path: the runner follows a
// JetStream log, the mirror writes into the bucket market_state of the
// same server, and a key-value watcher sees each price the market posts.
func TestMirrorIntoJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js, _ := natstest.Start(t)
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{Bucket: markets.BucketName})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, markets.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := kv.Watch(ctx, "cpu_seconds", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Stop()

	view := newView(t, 4)
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	m, err := markets.NewMirror(view, store, nil, markets.WithInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	stopRunner := run(t, ctx, r.Run)
	defer stopRunner()
	stopMirror := run(t, ctx, m.Run)
	defer stopMirror()

	eco := newEconomy(t, log)
	// One step at a time, so that the watcher sees every posted price.
	mirrored := func() {
		t.Helper()
		if err := r.WaitFor(ctx, eco.seq); err != nil {
			t.Fatal(err)
		}
		want := marketJSON(t, view, "cpu_seconds")
		waitFor(t, ctx, func() bool {
			e, err := kv.Get(ctx, "cpu_seconds")
			return err == nil && string(e.Value()) == string(want)
		})
	}
	eco.open()
	mirrored()
	price := cr(5)
	for n := uint64(1); n <= 3; n++ {
		price = eco.cycle(n, price)
		mirrored()
	}
	// The mirror writes each market on its own: cpu_seconds mirrored says
	// nothing of memory_mb yet.
	wantMemory := marketJSON(t, view, "memory_mb")
	var e jetstream.KeyValueEntry
	waitFor(t, ctx, func() bool {
		e, err = kv.Get(ctx, "memory_mb")
		return err == nil && string(e.Value()) == string(wantMemory)
	})
	var got markets.MarketState
	if err := json.Unmarshal(e.Value(), &got); err != nil || got.Resource != "memory_mb" || got.SupplyUnits != un(10000) {
		t.Fatalf("memory_mb decodes to %+v, %v", got, err)
	}

	seen := map[events.Micros]bool{}
	for len(seen) < 4 { // 5, 4.5, 4.05, 3.645
		select {
		case u := <-watcher.Updates():
			if u == nil {
				continue
			}
			var st markets.MarketState
			if err := json.Unmarshal(u.Value(), &st); err != nil {
				t.Fatal(err)
			}
			seen[st.PriceMicros] = true
		case <-ctx.Done():
			t.Fatalf("the watcher saw prices %v, want 5, 4.5, 4.05 and 3.645", seen)
		}
	}
	if !seen[micros("3.645")] || !seen[cr(5)] {
		t.Fatalf("prices seen %v", seen)
	}
}
