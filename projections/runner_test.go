package projections_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a projection that remembers which sequences it applied since
// its last reset, and fails on a chosen event type.
type recorder struct {
	mu     sync.Mutex
	seqs   []uint64
	resets int
	failOn string
}

func (r *recorder) Apply(rec events.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.Envelope.Type == r.failOn {
		return errors.New("refused")
	}
	if _, err := events.Read(rec); err != nil {
		return err // a bad record: the runner skips it
	}
	r.seqs = append(r.seqs, rec.Seq)
	return nil
}

func (r *recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs, r.resets = nil, r.resets+1
}

func (r *recorder) applied() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seqs)
}

func upTo(n uint64) []uint64 {
	out := []uint64{}
	for i := uint64(1); i <= n; i++ {
		out = append(out, i)
	}
	return out
}

// appender writes burns of one agent to a log, as its actor would.
type appender struct {
	t    testing.TB
	log  events.Log
	last uint64
}

func (a *appender) burn() uint64 {
	a.t.Helper()
	return a.env(events.Encode(events.KindAgent, "a", events.CreditsBurned{AmountMicros: 1, Reason: "x"}, events.Meta{Time: time.Unix(0, 0)}))
}

func (a *appender) env(env events.Envelope, err error) uint64 {
	a.t.Helper()
	if err != nil {
		a.t.Fatal(err)
	}
	seq, err := a.log.Append(context.Background(), events.Filter(events.KindAgent, "a"), a.last, env)
	if err != nil {
		a.t.Fatal(err)
	}
	a.last = seq
	return seq
}

func newRunner(t *testing.T, log events.Log, p projections.Projection) *projections.Runner {
	t.Helper()
	r, err := projections.NewRunner(log, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run starts r.Run and returns a function that stops it and returns its
// error.
func run(t *testing.T, r *projections.Runner) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewRunnerRefusesNil(t *testing.T) {
	if _, err := projections.NewRunner(nil, &recorder{}); !errors.Is(err, projections.ErrNilDependency) {
		t.Errorf("nil log: %v", err)
	}
	if _, err := projections.NewRunner(memlog.New(), nil); !errors.Is(err, projections.ErrNilDependency) {
		t.Errorf("nil projection: %v", err)
	}
}

func TestRunAppliesInOrderAndWaitForSeesWrites(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	for range 3 {
		a.burn()
	}
	view := &recorder{}
	r := newRunner(t, log, view)
	stop := run(t, r)

	if err := r.WaitFor(waitCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	// A write made while the runner follows is visible once WaitFor returns.
	seq := a.burn()
	if err := r.WaitFor(waitCtx(t), seq); err != nil {
		t.Fatal(err)
	}
	if got := view.applied(); !slices.Equal(got, upTo(4)) {
		t.Fatalf("applied %v, want 1..4", got)
	}
	if r.LastSeq() != 4 {
		t.Fatalf("LastSeq %d, want 4", r.LastSeq())
	}
	// A waiter that arrives before the write is woken by it.
	waited := make(chan error, 1)
	go func() { waited <- r.WaitFor(waitCtx(t), 5) }()
	a.burn()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestWaitForGivesUpWithItsContext(t *testing.T) {
	r := newRunner(t, memlog.New(), &recorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor = %v, want deadline exceeded", err)
	}
	if err := r.WaitFor(ctx, 0); err != nil {
		t.Fatalf("WaitFor(0) = %v: nothing to wait for", err)
	}
}

func TestCatchUpStopsAtTheEnd(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	for range 3 {
		a.burn()
	}
	view := &recorder{}
	r := newRunner(t, log, view)
	if err := r.CatchUp(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := view.applied(); !slices.Equal(got, upTo(3)) || r.LastSeq() != 3 {
		t.Fatalf("applied %v, LastSeq %d; want 1..3", got, r.LastSeq())
	}
	a.burn()
	a.burn()
	if got := view.applied(); len(got) != 3 {
		t.Fatalf("applied %v without being asked", got)
	}
	if err := r.CatchUp(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := view.applied(); !slices.Equal(got, upTo(5)) {
		t.Fatalf("second catch-up applied %v, want 1..5 once each", got)
	}
}

func TestRebuildStartsFromOne(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	for range 4 {
		a.burn()
	}
	view := &recorder{}
	r := newRunner(t, log, view)
	run(t, r)
	if err := r.WaitFor(waitCtx(t), 4); err != nil {
		t.Fatal(err)
	}
	if err := r.Rebuild(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if view.resets != 1 {
		t.Fatalf("resets %d, want 1", view.resets)
	}
	// The running follower carries on after the rebuild, without repeats.
	seq := a.burn()
	if err := r.WaitFor(waitCtx(t), seq); err != nil {
		t.Fatal(err)
	}
	if got := view.applied(); !slices.Equal(got, upTo(5)) {
		t.Fatalf("applied %v after rebuild, want 1..5", got)
	}
}

// TestConcurrentReadersApplyEachRecordOnce runs a follower, repeated
// catch-ups and rebuilds while records are appended: the view must always
// hold every record since its last reset, once, in order.
func TestConcurrentReadersApplyEachRecordOnce(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	view := &recorder{}
	r := newRunner(t, log, view)
	stop := run(t, r)

	const n = 300
	var wg sync.WaitGroup
	appended := make(chan struct{})
	wg.Go(func() {
		defer close(appended)
		for range n {
			a.burn()
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-appended:
				return
			default:
			}
			if err := r.CatchUp(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		for i := 0; i < 5; i++ {
			if err := r.Rebuild(context.Background()); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	wg.Wait()
	if err := r.WaitFor(waitCtx(t), n); err != nil {
		t.Fatal(err)
	}
	if got := view.applied(); !slices.Equal(got, upTo(n)) {
		t.Fatalf("applied %d records (%v...), want 1..%d once each", len(got), got[:min(len(got), 10)], n)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestBadRecordsAreSkipped: a record that is not a sound event (it does
// not decode, its type or schema is unknown, its data is not its type's),
// or that the view or the admission says is not a fact, is passed over:
// the view goes on with the records after it, and never sees it.
func TestBadRecordsAreSkipped(t *testing.T) {
	known := func(a *appender) uint64 { return a.burn() }
	publish := func(subject, data string) func(*appender) uint64 {
		return func(a *appender) uint64 {
			seq := a.log.(*memlog.Log).Publish(subject, []byte(data))
			if events.Match(events.Filter(events.KindAgent, "a"), subject) {
				a.last = seq
			}
			return seq
		}
	}
	unknownType := func(a *appender) uint64 {
		return a.env(events.Envelope{ID: "x", Type: "credits_minted", Schema: 1,
			Subject: "events.agent.a.credits_minted", Data: []byte(`{}`)}, nil)
	}
	newerSchema := func(a *appender) uint64 {
		env, err := events.Encode(events.KindAgent, "a", events.CreditsBurned{AmountMicros: 1}, events.Meta{})
		env.Schema = 99
		return a.env(env, err)
	}
	badData := func(a *appender) uint64 {
		env, err := events.Encode(events.KindAgent, "a", events.CreditsBurned{AmountMicros: 1}, events.Meta{})
		env.Data = []byte(`{"amount_micros":"lots"}`)
		return a.env(env, err)
	}
	notAdmitted := func(a *appender) uint64 {
		return a.env(events.Encode(events.KindAgent, "a", events.HoldPosted{HoldID: "forged"}, events.Meta{}))
	}
	tests := []struct {
		name string
		bad  func(*appender) uint64
	}{
		{"not json", publish("events.test.x.y", `{"a":1`)},
		{"json, no envelope", publish("events.test.x.y", `{"a":1}`)},
		{"unknown event type", unknownType},
		{"newer schema", newerSchema},
		{"data unlike its type", badData},
		{"not admitted", notAdmitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := memlog.New()
			a := &appender{t: t, log: log}
			known(a)
			bad := tt.bad(a)
			after := known(a)
			view := &recorder{}
			r := newRunner(t, log, view)
			r.AdmitWith(func(rec events.Record) error {
				if rec.Envelope.Type == "hold_posted" {
					return events.Skip(rec, events.ReasonInvariant, errors.New("no such hold"))
				}
				return nil
			})
			if err := r.CatchUp(waitCtx(t)); err != nil {
				t.Fatalf("CatchUp = %v: a bad record must not stop the view", err)
			}
			if r.LastSeq() != after || r.Err() != nil {
				t.Fatalf("LastSeq %d, Err %v; want %d and no error", r.LastSeq(), r.Err(), after)
			}
			if got := view.applied(); slices.Contains(got, bad) || !slices.Contains(got, after) {
				t.Fatalf("applied %v: want every record but %d", got, bad)
			}
		})
	}
}

// TestRefusedRecordStopsTheView: a view that cannot account for a sound
// record (an error that is not a bad record) still stops there.
func TestRefusedRecordStopsTheView(t *testing.T) {
	log := memlog.New()
	a := &appender{t: t, log: log}
	a.burn()
	bad := a.env(events.Encode(events.KindAgent, "a", events.HoldVoided{HoldID: "h"}, events.Meta{}))
	after := a.burn()
	view := &recorder{failOn: "hold_voided"}
	r := newRunner(t, log, view)
	waited := make(chan error, 1)
	go func() { waited <- r.WaitFor(waitCtx(t), after) }()
	err := r.Run(waitCtx(t))
	if err == nil || r.LastSeq() != bad-1 {
		t.Fatalf("Run = %v, LastSeq %d; want a stop before %d", err, r.LastSeq(), bad)
	}
	if werr := <-waited; werr == nil {
		t.Fatal("WaitFor returned nil for a stopped view")
	}
	if cerr := r.CatchUp(waitCtx(t)); cerr == nil || r.Err() == nil {
		t.Fatalf("CatchUp = %v, Err = %v: a stopped view stays stopped", cerr, r.Err())
	}
}

func TestRunReturnsLogErrors(t *testing.T) {
	log := memlog.New()
	log.Close()
	r := newRunner(t, log, &recorder{})
	if err := r.Run(waitCtx(t)); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("Run = %v, want ErrLogClosed", err)
	}
	if r.Err() != nil {
		t.Fatalf("Err = %v: a log failure does not stop the view", r.Err())
	}
}

func ExampleRunner_WaitFor() {
	log := memlog.New()
	view := &recorder{}
	r, _ := projections.NewRunner(log, view)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)

	env, _ := events.Encode(events.KindAgent, "a", events.AgentCreated{GrantMicros: events.Credits(5)}, events.Meta{})
	seq, _ := log.Append(ctx, events.Filter(events.KindAgent, "a"), 0, env)
	_ = r.WaitFor(ctx, seq) // the view now includes the write
	fmt.Println(view.applied())
	// Output: [1]
}
