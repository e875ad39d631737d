package logtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// The batch contract: Append with several envelopes stores all or none,
// consecutively and in order, under one expectation.

// batchCases are run by Run with the other cases.
var batchCases = []struct {
	name string
	fn   func(t *testing.T, l events.Log)
}{
	{"BatchStoredConsecutivelyInOrder", testBatchConsecutive},
	{"BatchSizeLimits", testBatchSize},
	{"BatchWrongExpectationStoresNothing", testBatchWrongExpectation},
	{"BatchWithASubjectOutsideTheFilterStoresNothing", testBatchOutsideFilter},
	{"BatchWithInvalidDataStoresNothing", testBatchInvalidData},
	{"BatchExpectationIsTheLastRecordOfTheBatch", testBatchThenExpect},
	{"TwoWritersRacingWithBatchesOneWins", testTwoBatchWriters},
	{"ReadNeverSeesPartOfABatch", testReadWholeBatches},
	{"FollowDeliversBatches", testFollowBatches},
}

// envs returns n fresh envelopes of actor id, numbered from first.
func envs(id string, first, n int) []events.Envelope {
	out := make([]events.Envelope, n)
	for i := range out {
		out[i] = env(id, first+i)
	}
	return out
}

func mustAppendBatch(t *testing.T, l events.Log, filter string, last uint64, es []events.Envelope) uint64 {
	t.Helper()
	seq, err := l.Append(ctxT(t), filter, last, es...)
	if err != nil {
		t.Fatalf("Append(%s, %d, %d envelopes): %v", filter, last, len(es), err)
	}
	return seq
}

// assertCount checks how many records of filter the log holds.
func assertCount(t *testing.T, l events.Log, filter string, want int) {
	t.Helper()
	if got := len(readAll(t, l, filter, 0)); got != want {
		t.Fatalf("%d records of %s; want %d", got, filter, want)
	}
}

func testBatchConsecutive(t *testing.T, l events.Log) {
	var lastA, lastB uint64
	n := 0 // records of a so far
	for _, size := range []int{1, 2, events.AppendBatchMax, 3} {
		// Another actor writes between the batches: a batch is consecutive,
		// not the whole log.
		lastB = mustAppend(t, l, filterB, lastB, env("b", size))
		before := lastB
		last := mustAppendBatch(t, l, filterA, lastA, envs("a", n, size))
		if last != before+uint64(size) {
			t.Fatalf("batch of %d after record %d: last %d; want %d", size, before, last, before+uint64(size))
		}
		got := readAll(t, l, filterA, last-uint64(size)+1)
		if len(got) != size {
			t.Fatalf("batch of %d: read %d records from its first", size, len(got))
		}
		for i, r := range got {
			if want := last - uint64(size) + 1 + uint64(i); r.Seq != want {
				t.Fatalf("batch of %d: record %d at %d; want %d", size, i, r.Seq, want)
			}
			assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, n+i))
		}
		if s, err := l.LastSeq(ctxT(t)); err != nil || s != last {
			t.Fatalf("LastSeq = %d, %v; want %d", s, err, last)
		}
		lastA, n = last, n+size
	}
	// Read after the batches sees every record, in order.
	all := readAll(t, l, filterA, 0)
	if len(all) != n {
		t.Fatalf("Read: %d records; want %d", len(all), n)
	}
	for i, r := range all {
		assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
	}
}

func testBatchSize(t *testing.T, l events.Log) {
	ctx := ctxT(t)
	if _, err := l.Append(ctx, filterA, 0); !errors.Is(err, events.ErrBatchSize) {
		t.Fatalf("Append of no envelope: %v; want ErrBatchSize", err)
	}
	if _, err := l.Append(ctx, filterA, 0, envs("a", 0, events.AppendBatchMax+1)...); !errors.Is(err, events.ErrBatchSize) {
		t.Fatalf("Append of %d envelopes: %v; want ErrBatchSize", events.AppendBatchMax+1, err)
	}
	if s, err := l.LastSeq(ctx); err != nil || s != 0 {
		t.Fatalf("LastSeq = %d, %v; want 0", s, err)
	}
}

func testBatchWrongExpectation(t *testing.T, l events.Log) {
	ctx := ctxT(t)
	last := mustAppendBatch(t, l, filterA, 0, envs("a", 0, 3))
	for _, expect := range []uint64{0, 1, last - 1, last + 1} {
		_, err := l.Append(ctx, filterA, expect, envs("a", 10, 4)...)
		if !errors.Is(err, events.ErrWrongLastSequence) {
			t.Fatalf("batch expecting %d (last is %d): %v; want ErrWrongLastSequence", expect, last, err)
		}
	}
	if s, err := l.LastSeq(ctx); err != nil || s != last {
		t.Fatalf("LastSeq after refused batches = %d, %v; want %d", s, err, last)
	}
	assertCount(t, l, filterA, 3)
}

func testBatchOutsideFilter(t *testing.T, l events.Log) {
	ctx := ctxT(t)
	last := mustAppend(t, l, filterA, 0, env("a", 0))
	for _, at := range []int{0, 2, 4} {
		es := envs("a", 1, 5)
		es[at] = env("b", 1) // matches b's filter, not a's
		_, err := l.Append(ctx, filterA, last, es...)
		if err == nil {
			t.Fatalf("batch with b's envelope at %d: no error", at)
		}
		if errors.Is(err, events.ErrWrongLastSequence) {
			t.Fatalf("batch with b's envelope at %d: %v; want an error other than a conflict", at, err)
		}
	}
	if s, err := l.LastSeq(ctx); err != nil || s != last {
		t.Fatalf("LastSeq = %d, %v; want %d (nothing stored)", s, err, last)
	}
	assertCount(t, l, "events.>", 1)
}

func testBatchInvalidData(t *testing.T, l events.Log) {
	es := envs("a", 0, 3)
	es[1].Data = json.RawMessage(`{not json`)
	if _, err := l.Append(ctxT(t), filterA, 0, es...); err == nil || errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("batch with data that is not JSON: %v; want an error other than a conflict", err)
	}
	assertCount(t, l, "events.>", 0)
}

// testBatchThenExpect: after a batch, the actor's expectation is the
// sequence of the batch's last record, for single appends and batches alike.
func testBatchThenExpect(t *testing.T, l events.Log) {
	a := mustAppendBatch(t, l, filterA, 0, envs("a", 0, 4))
	b := mustAppendBatch(t, l, filterB, 0, envs("b", 0, 2))
	if _, err := l.Append(ctxT(t), filterA, a-1, env("a", 4)); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("expecting the batch's last record but one: %v; want ErrWrongLastSequence", err)
	}
	a = mustAppend(t, l, filterA, a, env("a", 4))
	a = mustAppendBatch(t, l, filterA, a, envs("a", 5, 2))
	mustAppendBatch(t, l, filterB, b, envs("b", 2, 2))
	if want := uint64(4 + 2 + 1 + 2); a != want {
		t.Fatalf("a's last record at %d; want %d", a, want)
	}
	got := readAll(t, l, filterA, 0)
	if len(got) != 7 {
		t.Fatalf("%d records of a; want 7", len(got))
	}
	for i, r := range got {
		assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
	}
}

// testTwoBatchWriters: two writers append batches of different sizes with
// the same expectation; each round exactly one wins and the other stores
// nothing.
func testTwoBatchWriters(t *testing.T, l events.Log) {
	const rounds = 30
	sizes := [2]int{3, 5}
	var last uint64
	stored := 0
	for round := range rounds {
		start := make(chan struct{})
		type result struct {
			w   int
			seq uint64
			err error
		}
		res := make(chan result, 2)
		for w := range 2 {
			es := envs("a", round*100+w*10, sizes[w])
			go func() {
				<-start
				seq, err := l.Append(context.Background(), filterA, last, es...)
				res <- result{w, seq, err}
			}()
		}
		close(start)
		winner := -1
		var won uint64
		for range 2 {
			r := <-res
			switch {
			case r.err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both writers won", round)
				}
				winner, won = r.w, r.seq
			case errors.Is(r.err, events.ErrWrongLastSequence):
			default:
				t.Fatalf("round %d: writer %d: unexpected error %v", round, r.w, r.err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		if want := last + uint64(sizes[winner]); won != want {
			t.Fatalf("round %d: winner's last record at %d; want %d (the loser stored something?)", round, won, want)
		}
		got := readAll(t, l, filterA, last+1)
		if len(got) != sizes[winner] {
			t.Fatalf("round %d: %d records after %d; want the winner's %d", round, len(got), last, sizes[winner])
		}
		for i, r := range got {
			assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, round*100+winner*10+i))
		}
		last, stored = won, stored+sizes[winner]
	}
	assertCount(t, l, filterA, stored)
}

// testReadWholeBatches reads while batches are appended: every Read sees
// whole batches only.
func testReadWholeBatches(t *testing.T, l events.Log) {
	const batches, size = 40, 10
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		var last uint64
		for i := range batches {
			var err error
			if last, err = l.Append(context.Background(), filterA, last, envs("a", i*size, size)...); err != nil {
				t.Errorf("append: %v", err)
				return
			}
		}
	})
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		if n := len(readAll(t, l, filterA, 0)); n%size != 0 {
			t.Fatalf("Read saw %d records: part of a batch of %d", n, size)
		}
	}
	wg.Wait()
	assertCount(t, l, filterA, batches*size)
}

func testFollowBatches(t *testing.T, l events.Log) {
	first := mustAppendBatch(t, l, filterA, 0, envs("a", 0, 3))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs, done := follow(l, ctx, filterA, 0)
	mustAppend(t, l, filterB, 0, env("b", 0))
	last := mustAppendBatch(t, l, filterA, first, envs("a", 3, 4))
	var got []uint64
	for range 7 {
		got = append(got, next(t, recs).Seq)
	}
	want := []uint64{1, 2, 3, last - 3, last - 2, last - 1, last}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Follow delivered %v; want %v", got, want)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(quick):
		t.Fatal("Follow did not stop")
	}
}
