package groupcommit_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/groupcommit"
	"github.com/agora-econ/agora/events/logtest"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newNats returns a JetStream log on a server of its own.
func newNats(t *testing.T) *natslog.Log {
	t.Helper()
	_, js, _ := natstest.Start(t)
	l, err := natslog.Open(ctxT(t), js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func newGroup(t *testing.T, l events.GroupAppender, opts ...groupcommit.Option) *groupcommit.Log {
	g := groupcommit.New(l, opts...)
	t.Cleanup(g.Close)
	return g
}

func TestLogContract(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("nats %d in flight", n), func(t *testing.T) {
			logtest.Run(t, func(t *testing.T) events.Log {
				return newGroup(t, newNats(t), groupcommit.WithBatchesInFlight(n))
			})
		})
	}
	t.Run("memory", func(t *testing.T) {
		logtest.Run(t, func(t *testing.T) events.Log { return newGroup(t, memlog.New()) })
	})
}

func envelope(id, actor string) events.Envelope {
	return events.Envelope{
		ID:      id,
		Type:    "test_event",
		Subject: events.Subject(events.KindAgent, actor, "test_event"),
		Time:    time.Unix(1700000000, 0).UTC(),
		Data:    []byte(`{"n":1}`),
	}
}

// held is a JetStream log whose group appends wait at a gate until it is
// released: a batch held in flight, so that the next one gathers.
type held struct {
	*natslog.Log
	commits atomic.Int64
	open    chan struct{}
	once    sync.Once
}

func (h *held) AppendGroup(ctx context.Context, calls []events.AppendCall) []events.AppendResult {
	h.commits.Add(1)
	<-h.open
	return h.Log.AppendGroup(ctx, calls)
}

func hold(l *natslog.Log) *held { return &held{Log: l, open: make(chan struct{})} }

func (h *held) release() { h.once.Do(func() { close(h.open) }) }

// waitFor waits until cond holds, yielding to the goroutines that make it
// hold; the test's deadline bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx := ctxT(t)
	for !cond() {
		if ctx.Err() != nil {
			t.Fatal("condition never held")
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// appendAll appends one envelope to each of n agents at once, on filters
// from base on, and returns the answers.
func appendAll(ctx context.Context, l events.Log, base, n int) ([]uint64, []error) {
	seqs, errs := make([]uint64, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a := fmt.Sprintf("a%d", base+i)
			seqs[i], errs[i] = l.Append(ctx, events.Filter(events.KindAgent, a), 0, envelope("e-"+a, a))
		})
	}
	wg.Wait()
	return seqs, errs
}

// TestConcurrentAppendsShareABatch: appends that arrive while a batch is in
// flight go together as the next batch, and all are stored.
func TestConcurrentAppendsShareABatch(t *testing.T) {
	nl := newNats(t)
	gate := hold(nl)
	g := newGroup(t, gate, groupcommit.WithBatchesInFlight(1))
	ctx := ctxT(t)
	// A two-event append is a batch of its own on the idle log; held at
	// its commit, it keeps the committer busy while the others gather.
	first := make(chan error, 1)
	go func() {
		_, err := g.Append(ctx, events.Filter(events.KindAgent, "first"), 0, envelope("f1", "first"), envelope("f2", "first"))
		first <- err
	}()
	waitFor(t, func() bool { return gate.commits.Load() == 1 })
	var seqs []uint64
	var errs []error
	done := make(chan struct{})
	go func() { seqs, errs = appendAll(ctx, g, 0, 100); close(done) }()
	waitFor(t, func() bool { return groupcommit.Waiting(g) == 100 })
	gate.release()
	<-done
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := gate.commits.Load(); got != 2 {
		t.Fatalf("%d batch commits; want 2 (the first, then the 100 together)", got)
	}
	seen := map[uint64]bool{}
	for i := range seqs {
		if errs[i] != nil || seqs[i] < 3 || seqs[i] > 102 || seen[seqs[i]] {
			t.Fatalf("append %d = %d, %v", i, seqs[i], errs[i])
		}
		seen[seqs[i]] = true
	}
}

// TestLoneAppendGoesAtOnce: an append on an idle log is sent without
// waiting for company, and a single envelope keeps its message id.
func TestLoneAppendGoesAtOnce(t *testing.T) {
	nl := newNats(t)
	g := newGroup(t, nl)
	ctx := ctxT(t)
	e := envelope("lone", "a")
	seq, err := g.Append(ctx, events.Filter(events.KindAgent, "a"), 0, e)
	if err != nil || seq != 1 {
		t.Fatalf("Append = %d, %v", seq, err)
	}
	// Sent again (its answer lost), it is found, not stored twice.
	if again, err := g.Append(ctx, events.Filter(events.KindAgent, "a"), 0, e); err != nil || again != 1 {
		t.Fatalf("retry = %d, %v; want 1", again, err)
	}
	if n, _ := g.LastSeq(ctx); n != 1 {
		t.Fatalf("LastSeq = %d; want 1", n)
	}
}

// TestConflictFailsOnlyItsMember: in one batch, the append with a stale
// expectation gets ErrWrongLastSequence and the others are stored once.
func TestConflictFailsOnlyItsMember(t *testing.T) {
	nl := newNats(t)
	gate := hold(nl)
	g := newGroup(t, gate, groupcommit.WithBatchesInFlight(1))
	ctx := ctxT(t)
	if _, err := nl.Append(ctx, events.Filter(events.KindAgent, "a7"), 0, envelope("already", "a7")); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := g.Append(ctx, events.Filter(events.KindAgent, "x"), 0, envelope("x1", "x"), envelope("x2", "x"))
		first <- err
	}()
	waitFor(t, func() bool { return gate.commits.Load() == 1 })
	var errs []error
	done := make(chan struct{})
	go func() { _, errs = appendAll(ctx, g, 0, 20); close(done) }()
	waitFor(t, func() bool { return groupcommit.Waiting(g) == 20 })
	gate.release()
	<-done
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if (i == 7) != errors.Is(err, events.ErrWrongLastSequence) || (i != 7 && err != nil) {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if got := gate.commits.Load(); got != 2 {
		t.Fatalf("%d group appends; want 2 (the first, then the 20 together)", got)
	}
	if n, _ := g.LastSeq(ctx); n != 1+2+19 {
		t.Fatalf("LastSeq = %d; want %d", n, 1+2+19)
	}
}

// TestTwoProcessesNeverInterleave: two logs on two connections (as two
// processes) append to the same actors at once, each expecting what it
// last saw; for every actor and every round exactly one wins, and the
// actor's history is what the winners wrote, in order.
func TestTwoProcessesNeverInterleave(t *testing.T) {
	url, js, _ := natstest.Start(t)
	ctx := ctxT(t)
	var logs [2]*groupcommit.Log
	for p := range logs {
		if p == 0 {
			l, err := natslog.Open(ctx, js, natslog.StreamOptions{})
			if err != nil {
				t.Fatal(err)
			}
			logs[p] = newGroup(t, l)
			continue
		}
		nc, js2, err := natslog.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		l, err := natslog.New(ctx, js2, "")
		if err != nil {
			t.Fatal(err)
		}
		logs[p] = newGroup(t, l)
	}
	const actors, rounds = 20, 15
	var wins [actors][2]int
	var wg sync.WaitGroup
	for a := range actors {
		for p := range logs {
			wg.Go(func() {
				id := fmt.Sprintf("s%d", a)
				filter := events.Filter(events.KindAgent, id)
				var last uint64
				for r := range rounds {
					envs := []events.Envelope{envelope(fmt.Sprintf("%s-p%d-r%d-0", id, p, r), id), envelope(fmt.Sprintf("%s-p%d-r%d-1", id, p, r), id)}
					seq, err := logs[p].Append(ctx, filter, last, envs[:1+r%2]...)
					switch {
					case err == nil:
						wins[a][p]++
						last = seq
					case errors.Is(err, events.ErrWrongLastSequence):
						// Catch up as an actor would: read what the other wrote.
						if err := logs[p].Read(ctx, filter, last+1, func(rec events.Record) error { last = rec.Seq; return nil }); err != nil {
							t.Error(err)
							return
						}
					default:
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for a := range actors {
		id := fmt.Sprintf("s%d", a)
		// Each append's envelopes are consecutive in the actor's history
		// and come from one writer and one round.
		var prev string
		n := 0
		if err := logs[0].Read(ctx, events.Filter(events.KindAgent, id), 0, func(rec events.Record) error {
			var p, r, k int
			if _, err := fmt.Sscanf(rec.Envelope.ID[len(id):], "-p%d-r%d-%d", &p, &r, &k); err != nil {
				return err
			}
			group := fmt.Sprintf("p%d-r%d", p, r)
			if k == 1 && group != prev {
				return fmt.Errorf("%s: %s interleaved after %s", id, rec.Envelope.ID, prev)
			}
			prev = group
			if k == 0 {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != wins[a][0]+wins[a][1] {
			t.Fatalf("%s: %d appends stored; %d won", id, n, wins[a][0]+wins[a][1])
		}
	}
}

// TestCancelledCallerLeavesOthers: callers that give up, before their batch
// is sent or while it is in flight, get their context's error; the others
// of the batch are stored.
func TestCancelledCallerLeavesOthers(t *testing.T) {
	nl := newNats(t)
	gate := hold(nl)
	g := newGroup(t, gate, groupcommit.WithBatchesInFlight(1))
	ctx := ctxT(t)
	cctx, cancel := context.WithCancel(ctx)
	inFlight := make(chan error, 1)
	go func() {
		_, err := g.Append(cctx, events.Filter(events.KindAgent, "gone"), 0, envelope("g1", "gone"), envelope("g2", "gone"))
		inFlight <- err
	}()
	waitFor(t, func() bool { return gate.commits.Load() == 1 })
	queued := make(chan error, 1)
	go func() {
		_, err := g.Append(cctx, events.Filter(events.KindAgent, "never"), 0, envelope("n1", "never"))
		queued <- err
	}()
	var errs []error
	done := make(chan struct{})
	go func() { _, errs = appendAll(ctx, g, 0, 10); close(done) }()
	waitFor(t, func() bool { return groupcommit.Waiting(g) == 11 })
	cancel()
	for _, ch := range []chan error{inFlight, queued} {
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v; want context.Canceled", err)
		}
	}
	gate.release()
	<-done
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	var never int
	if err := g.Read(ctx, events.Filter(events.KindAgent, "never"), 0, func(events.Record) error { never++; return nil }); err != nil || never != 0 {
		t.Fatalf("the append given up before its batch: %d records, %v; want none", never, err)
	}
}

// TestCloseAnswersEverything: Close waits for the appends made before it,
// which are all stored; appends after it fail with ErrLogClosed.
func TestCloseAnswersEverything(t *testing.T) {
	_, js, _ := natstest.Start(t)
	nl, err := natslog.Open(ctxT(t), js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gate := hold(nl)
	g := groupcommit.New(gate, groupcommit.WithBatchesInFlight(1))
	ctx := ctxT(t)
	first := make(chan error, 1)
	go func() {
		_, err := g.Append(ctx, events.Filter(events.KindAgent, "first"), 0, envelope("f1", "first"), envelope("f2", "first"))
		first <- err
	}()
	waitFor(t, func() bool { return gate.commits.Load() == 1 })
	var errs []error
	done := make(chan struct{})
	go func() { _, errs = appendAll(ctx, g, 0, 50); close(done) }()
	waitFor(t, func() bool { return groupcommit.Waiting(g) == 50 })
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	// Close is waiting; the appends it waits for are answered once the
	// server answers.
	gate.release()
	<-closed
	<-done
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if _, err := g.Append(ctx, events.Filter(events.KindAgent, "late"), 0, envelope("late", "late")); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("Append after Close: %v; want ErrLogClosed", err)
	}
	if _, err := nl.LastSeq(ctx); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("the wrapped log after Close: %v; want ErrLogClosed", err)
	}
	reader, err := natslog.New(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := reader.LastSeq(ctx); err != nil || n != 52 {
		t.Fatalf("LastSeq = %d, %v; want 52", n, err)
	}
}
