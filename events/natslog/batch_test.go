package natslog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

func envelopes(prefix, actor string, n int) []events.Envelope {
	out := make([]events.Envelope, n)
	for i := range out {
		out[i] = envelope(fmt.Sprintf("%s-%d", prefix, i), actor)
	}
	return out
}

func count(t *testing.T, l *natslog.Log, filter string) int {
	t.Helper()
	var n int
	if err := l.Read(ctxT(t), filter, 0, func(events.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBatchRetryReturnsFirstCopy: a batch sent again with the expectation
// of its first attempt (its answer was lost) returns the first copy's last
// sequence and stores nothing; another batch with that stale expectation
// is a conflict.
func TestBatchRetryReturnsFirstCopy(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	batch := envelopes("b1", "a", 4)
	last, err := l.Append(ctx, filter, 0, batch...)
	if err != nil || last != 4 {
		t.Fatalf("Append = %d, %v; want 4", last, err)
	}
	if _, err := l.Append(ctx, events.Filter(events.KindAgent, "b"), 0, envelope("other", "b")); err != nil {
		t.Fatal(err)
	}
	if s, err := l.Append(ctx, filter, 0, batch...); err != nil || s != last {
		t.Fatalf("retry = %d, %v; want %d, nil", s, err, last)
	}
	if _, err := l.Append(ctx, filter, 0, envelopes("b2", "a", 4)...); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("other batch with the stale expectation: %v; want ErrWrongLastSequence", err)
	}
	// The same envelopes in another order are not the stored batch.
	swapped := append([]events.Envelope{batch[3]}, batch[:3]...)
	if _, err := l.Append(ctx, filter, 0, swapped...); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("reordered batch: %v; want ErrWrongLastSequence", err)
	}
	if n, err := l.LastSeq(ctx); err != nil || n != 5 {
		t.Fatalf("LastSeq = %d, %v; want 5", n, err)
	}
}

func TestBatchWrongLastSequenceWrapsServerError(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	if _, err := l.Append(ctx, filter, 0, envelopes("x", "a", 2)...); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, filter, 0, envelopes("y", "a", 2)...)
	var apiErr *jetstream.APIError
	if !errors.Is(err, events.ErrWrongLastSequence) || !errors.As(err, &apiErr) ||
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("err = %v; want ErrWrongLastSequence wrapping API error 10071", err)
	}
}

// TestBatchGapIsSentAgain: when a message of a batch is lost before its
// commit, the server refuses the commit as incomplete and stores nothing;
// the adapter sends the batch again under a new id, and it is stored once.
func TestBatchGapIsSentAgain(t *testing.T) {
	l, _ := newLog(t)
	var attempts atomic.Int32
	ids := map[string]bool{}
	natslog.SetBeforeCommit(l, func(commit *nats.Msg) {
		ids[commit.Header.Get("Nats-Batch-Id")] = true
		if attempts.Add(1) == 1 {
			// As if the message before the commit was lost.
			commit.Header.Set("Nats-Batch-Sequence", "99")
		}
	})
	filter := events.Filter(events.KindAgent, "a")
	last, err := l.Append(ctxT(t), filter, 0, envelopes("g", "a", 5)...)
	if err != nil || last != 5 {
		t.Fatalf("Append = %d, %v; want 5", last, err)
	}
	if attempts.Load() != 2 || len(ids) != 2 {
		t.Fatalf("%d attempts with %d batch ids; want 2 and 2", attempts.Load(), len(ids))
	}
	if n := count(t, l, "events.>"); n != 5 {
		t.Fatalf("%d records; want 5", n)
	}
}

// TestBatchIncompleteEveryTimeFails: a batch the server never gets whole is
// refused after a few attempts, and nothing of it is stored.
func TestBatchIncompleteEveryTimeFails(t *testing.T) {
	l, _ := newLog(t)
	natslog.SetBeforeCommit(l, func(commit *nats.Msg) { commit.Header.Set("Nats-Batch-Sequence", "99") })
	_, err := l.Append(ctxT(t), events.Filter(events.KindAgent, "a"), 0, envelopes("i", "a", 3)...)
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10176 || errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("err = %v; want the server's incomplete batch error (10176)", err)
	}
	if n := count(t, l, "events.>"); n != 0 {
		t.Fatalf("%d records stored; want none", n)
	}
}

// TestBatchCancelledBeforeCommit: a caller that gives up before the commit
// leaves nothing stored; the server drops the staged messages.
func TestBatchCancelledBeforeCommit(t *testing.T) {
	l, _ := newLog(t)
	ctx, cancel := context.WithCancel(ctxT(t))
	natslog.SetBeforeCommit(l, func(*nats.Msg) { cancel() })
	filter := events.Filter(events.KindAgent, "a")
	if _, err := l.Append(ctx, filter, 0, envelopes("c", "a", 3)...); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append = %v; want context.Canceled", err)
	}
	natslog.SetBeforeCommit(l, nil)
	if n := count(t, l, "events.>"); n != 0 {
		t.Fatalf("%d records stored; want none", n)
	}
	// The actor goes on from where it was.
	if last, err := l.Append(ctxT(t), filter, 0, envelopes("d", "a", 2)...); err != nil || last != 2 {
		t.Fatalf("next Append = %d, %v; want 2", last, err)
	}
}

// TestBatchConnectionLostMidBatch: the connection drops with the batch
// written but its commit not yet: the append fails or the batch is stored
// whole, never in part.
func TestBatchConnectionLostMidBatch(t *testing.T) {
	for _, how := range []string{"close", "reconnect"} {
		t.Run(how, func(t *testing.T) {
			url, js, _ := natstest.Start(t)
			if _, err := natslog.EnsureStream(ctxT(t), js, natslog.StreamOptions{}); err != nil {
				t.Fatal(err)
			}
			nc, wjs, err := natslog.Connect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			w, err := natslog.New(ctxT(t), wjs, "")
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			natslog.SetBeforeCommit(w, func(*nats.Msg) {
				if how == "close" {
					nc.Close()
				} else {
					_ = nc.ForceReconnect()
				}
			})
			filter := events.Filter(events.KindAgent, "a")
			_, appendErr := w.Append(ctxT(t), filter, 0, envelopes("m", "a", 10)...)
			if how == "close" && appendErr == nil {
				t.Fatal("Append on a closed connection: no error")
			}
			r, err := natslog.New(ctxT(t), js, "")
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			n := count(t, r, "events.>")
			switch {
			case appendErr == nil && n != 10:
				t.Fatalf("Append succeeded and %d records are stored; want 10", n)
			case n != 0 && n != 10:
				t.Fatalf("%d records of a batch of 10 stored (Append: %v)", n, appendErr)
			}
			t.Logf("Append: %v; %d stored", appendErr, n)
		})
	}
}

// TestUncommittedBatchIsInvisible checks the server behaviour the adapter
// relies on: messages of a batch without its commit are not stored, do not
// move the filter's last sequence, and do not block another batch.
func TestUncommittedBatchIsInvisible(t *testing.T) {
	l, js := newLog(t)
	nc := js.Conn()
	filter := events.Filter(events.KindAgent, "a")
	data, err := events.Marshal(envelope("u", "a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		m := nats.NewMsg(events.Subject(events.KindAgent, "a", "test_event"))
		m.Data = data
		m.Header.Set("Nats-Batch-Id", "abandoned")
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, l, "events.>"); n != 0 {
		t.Fatalf("%d records visible from an uncommitted batch", n)
	}
	if last, err := l.Append(ctxT(t), filter, 0, envelopes("v", "a", 2)...); err != nil || last != 2 {
		t.Fatalf("Append = %d, %v; want 2", last, err)
	}
}

// TestConcurrentBatchWriters: many actors append batches at once, more
// than the 50 batches a stream the server stages at a time.
func TestConcurrentBatchWriters(t *testing.T) {
	l, _ := newLog(t)
	const writers, batches, size = 60, 2, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			actor := "w" + strconv.Itoa(w)
			filter := events.Filter(events.KindAgent, actor)
			var last uint64
			for i := range batches {
				var err error
				if last, err = l.Append(ctxT(t), filter, last, envelopes(actor+"-"+strconv.Itoa(i), actor, size)...); err != nil {
					t.Errorf("writer %d batch %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := count(t, l, "events.>"); n != writers*batches*size {
		t.Fatalf("%d records; want %d", n, writers*batches*size)
	}
}

// TestManyConcurrentReads: 2000 actors recover at once. Reads use no
// consumer, so the server's limit of 1000 consumers a stream does not
// apply, and none is left behind.
func TestManyConcurrentReads(t *testing.T) {
	l, js := newLog(t)
	ctx := ctxT(t)
	const actors, each = 2000, 5
	// Written as fast as possible. Each actor's events are together, and
	// each is read by its exact subject: with alternating events or
	// wildcard filters the server walks the messages between an actor's
	// (BenchmarkReadTails measures it), which is not what this test is
	// about and takes long under the race detector.
	for a := range actors {
		actor := "r" + strconv.Itoa(a)
		for i := range each {
			data, err := events.Marshal(envelope(actor+"-"+strconv.Itoa(i), actor))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.PublishAsync(events.Subject(events.KindAgent, actor, "test_event"), data); err != nil {
				t.Fatal(err)
			}
		}
		if a%200 == 199 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	t0 := time.Now()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for a := range actors {
		wg.Go(func() {
			<-start
			filter := events.Subject(events.KindAgent, "r"+strconv.Itoa(a), "test_event")
			var n int
			err := l.Read(ctx, filter, 0, func(r events.Record) error { n++; return nil })
			if err != nil || n != each {
				if failed.Add(1) <= 5 {
					t.Errorf("Read(%s) = %d records, %v; want %d", filter, n, err, each)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d concurrent reads failed", f, actors)
	}
	t.Logf("%d concurrent reads in %v", actors, time.Since(t0))
	s, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers on the stream; want 0", info.State.Consumers)
	}
}

// TestNewNeedsDirectGets: reads rely on direct gets, so a stream made
// without them (by someone else than EnsureStream) is refused.
func TestNewNeedsDirectGets(t *testing.T) {
	_, js, _ := natstest.Start(t)
	cfg := natslog.StreamConfig(natslog.StreamOptions{})
	cfg.AllowDirect = false
	if _, err := js.CreateStream(ctxT(t), cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := natslog.New(ctxT(t), js, ""); err == nil || !strings.Contains(err.Error(), "direct gets") {
		t.Fatalf("New on a stream without direct gets: %v; want a refusal that says why", err)
	}
	// EnsureStream turns them on, and the log opens.
	if _, err := natslog.Open(ctxT(t), js, natslog.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestReadConnectionLost: the connection is replaced during a Read. The
// Read delivers every record or fails; it never ends short without an
// error, and the log reads normally afterwards.
func TestReadConnectionLost(t *testing.T) {
	url, js, _ := natstest.Start(t)
	ctx := ctxT(t)
	if _, err := natslog.EnsureStream(ctx, js, natslog.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	const total = 5000
	data, err := events.Marshal(envelope("x", "a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range total {
		if _, err := js.PublishAsync(events.Subject(events.KindAgent, "a", "test_event"), data); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	nc, rjs, err := natslog.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	r, err := natslog.New(ctx, rjs, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, at := range []int{1, 10, 1500} {
		var n int
		err := r.Read(ctx, events.Filter(events.KindAgent, "a"), 0, func(events.Record) error {
			if n++; n == at {
				if err := nc.ForceReconnect(); err != nil {
					t.Error(err)
				}
			}
			return nil
		})
		if err == nil && n != total {
			t.Fatalf("reconnect at record %d: Read returned no error after %d of %d records", at, n, total)
		}
		t.Logf("reconnect at record %d: %d records, %v", at, n, err)
		for deadline := time.Now().Add(10 * time.Second); !nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no reconnection")
			}
		}
	}
	if n := count(t, r, events.Filter(events.KindAgent, "a")); n != total {
		t.Fatalf("Read after the reconnections: %d records; want %d", n, total)
	}
}
