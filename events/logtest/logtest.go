// Package logtest is the contract suite of the event log and store ports.
// Every adapter of events.Log and events.Store runs it, so that what the
// in-memory adapter lets a test do is what JetStream does in production.
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

// quick bounds calls that must return at once (Read at the end of the log);
// a hang fails the test instead of the whole run.
const quick = 5 * time.Second

// Run runs the log contract. newLog returns a fresh, empty log for each
// subtest; the adapter's clean-up belongs in t.Cleanup.
func Run(t *testing.T, newLog func(t *testing.T) events.Log) {
	cases := []struct {
		name string
		fn   func(t *testing.T, l events.Log)
	}{
		{"SequencesStartAtOneAndIncrease", testSequences},
		{"ExpectedLastZeroOnEmptyFilter", testExpectZero},
		{"ExpectationIsPerFilter", testExpectPerFilter},
		{"ExpectationIsStreamSequenceNotCount", testExpectStreamSeq},
		{"ExpectationOnExactSubjectAndWildcard", testExpectWildcards},
		{"TwoWritersOneWins", testTwoWriters},
		{"ReadMatchingInOrder", testReadMatching},
		{"ReadFromSequence", testReadFrom},
		{"ReadStopsAtEndOfCall", testReadStopsAtEnd},
		{"ReadEmptyReturnsAtOnce", testReadEmpty},
		{"ReadCallbackErrorStops", testReadCallbackError},
		{"ReadManyAcrossBatches", testReadMany},
		{"FollowDeliversNewRecords", testFollow},
		{"FollowFromSequence", testFollowFrom},
		{"FollowCatchesUpOnABacklog", testFollowBacklog},
		{"FollowWithTypes", testFollowTypes},
		{"ReadCancelledMidway", testReadCancelled},
		{"LastSeq", testLastSeq},
		{"EnvelopeRoundTrip", testRoundTrip},
		{"RecordsAreValues", testRecordsAreValues},
		{"RejectsInvalidAppends", testRejects},
		{"CancelledContext", testCancelled},
		{"Close", testClose},
	}
	cases = append(cases, batchCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.fn(t, newLog(t))
		})
	}
}

// Actor filters used throughout: a and b are two agents, so their
// expectations must never interfere.
var (
	filterA = events.Filter(events.KindAgent, "a")
	filterB = events.Filter(events.KindAgent, "b")
)

var (
	counterMu sync.Mutex
	counter   int
)

// env returns a fresh envelope for actor id of kind agent; n is written into
// the data so that records can be told apart.
func env(id string, n int) events.Envelope {
	counterMu.Lock()
	counter++
	c := counter
	counterMu.Unlock()
	return events.Envelope{
		ID:      fmt.Sprintf("%s-%d-%d", id, n, c),
		Type:    "test_event",
		Schema:  1,
		Subject: events.Subject(events.KindAgent, id, "test_event"),
		Time:    time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC),
		Data:    json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAppend(t *testing.T, l events.Log, filter string, last uint64, e events.Envelope) uint64 {
	t.Helper()
	seq, err := l.Append(ctxT(t), filter, last, e)
	if err != nil {
		t.Fatalf("Append(%s, %d, %s): %v", filter, last, e.Subject, err)
	}
	return seq
}

// readAll reads filter from 'from' and fails if Read does not return within
// quick.
func readAll(t *testing.T, l events.Log, filter string, from uint64) []events.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), quick)
	defer cancel()
	var out []events.Record
	err := l.Read(ctx, filter, from, func(r events.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Read(%s, %d): %v", filter, from, err)
	}
	return out
}

func seqs(rs []events.Record) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func testSequences(t *testing.T, l events.Log) {
	s1 := mustAppend(t, l, filterA, 0, env("a", 1))
	s2 := mustAppend(t, l, filterB, 0, env("b", 1))
	s3 := mustAppend(t, l, filterA, s1, env("a", 2))
	if s1 != 1 || s2 != 2 || s3 != 3 {
		t.Fatalf("sequences = %d, %d, %d; want 1, 2, 3", s1, s2, s3)
	}
}

func testExpectZero(t *testing.T, l events.Log) {
	s1 := mustAppend(t, l, filterA, 0, env("a", 1))
	_, err := l.Append(ctxT(t), filterA, 0, env("a", 2))
	if !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("second Append with expectedLast 0: err = %v; want ErrWrongLastSequence", err)
	}
	// A stale expectation above the real one is refused as well.
	_, err = l.Append(ctxT(t), filterA, s1+5, env("a", 2))
	if !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("Append expecting %d: err = %v; want ErrWrongLastSequence", s1+5, err)
	}
	if s2 := mustAppend(t, l, filterA, s1, env("a", 2)); s2 != s1+1 {
		t.Fatalf("Append with the right expectation: seq %d; want %d", s2, s1+1)
	}
	if n := len(readAll(t, l, filterA, 0)); n != 2 {
		t.Fatalf("%d records of a; want 2 (refused appends must store nothing)", n)
	}
}

func testExpectPerFilter(t *testing.T, l events.Log) {
	a1 := mustAppend(t, l, filterA, 0, env("a", 1))
	// b's first append expects 0 although the log is not empty.
	b1 := mustAppend(t, l, filterB, 0, env("b", 1))
	b2 := mustAppend(t, l, filterB, b1, env("b", 2))
	// a's expectation is still a's last record: b did not disturb it.
	a2 := mustAppend(t, l, filterA, a1, env("a", 2))
	if a2 != b2+1 {
		t.Fatalf("a2 = %d; want %d", a2, b2+1)
	}
	if _, err := l.Append(ctxT(t), filterB, b1, env("b", 3)); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("b expecting its older record: err = %v; want ErrWrongLastSequence", err)
	}
}

func testExpectStreamSeq(t *testing.T, l events.Log) {
	// a's records land at 1 and 4; its expectation is then 4 (the stream
	// sequence of its last record), not 2 (how many records it has).
	mustAppend(t, l, filterA, 0, env("a", 1))
	b := mustAppend(t, l, filterB, 0, env("b", 1))
	mustAppend(t, l, filterB, b, env("b", 2))
	a2 := mustAppend(t, l, filterA, 1, env("a", 2))
	if a2 != 4 {
		t.Fatalf("a2 = %d; want 4", a2)
	}
	if _, err := l.Append(ctxT(t), filterA, 2, env("a", 3)); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("expecting the count (2): err = %v; want ErrWrongLastSequence", err)
	}
	if s := mustAppend(t, l, filterA, 4, env("a", 3)); s != 5 {
		t.Fatalf("a3 = %d; want 5", s)
	}
}

func testExpectWildcards(t *testing.T, l events.Log) {
	// An exact subject is a filter too, and '*' matches one token.
	e := env("a", 1)
	s1 := mustAppend(t, l, e.Subject, 0, e)
	all := "events.agent.*.test_event"
	b := env("b", 1)
	if _, err := l.Append(ctxT(t), all, 0, b); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("%s expecting 0 after a's record: err = %v; want ErrWrongLastSequence", all, err)
	}
	if s := mustAppend(t, l, all, s1, b); s != 2 {
		t.Fatalf("seq %d; want 2", s)
	}
}

func testTwoWriters(t *testing.T, l events.Log) {
	const rounds = 50
	var last uint64
	for round := range rounds {
		start := make(chan struct{})
		type result struct {
			seq uint64
			err error
		}
		res := make(chan result, 2)
		for w := range 2 {
			e := env("a", round*10+w)
			go func() {
				<-start
				seq, err := l.Append(context.Background(), filterA, last, e)
				res <- result{seq, err}
			}()
		}
		close(start)
		var wins, conflicts int
		var won uint64
		for range 2 {
			r := <-res
			switch {
			case r.err == nil:
				wins++
				won = r.seq
			case errors.Is(r.err, events.ErrWrongLastSequence):
				conflicts++
			default:
				t.Fatalf("round %d: unexpected error %v", round, r.err)
			}
		}
		if wins != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d winners and %d conflicts; want exactly 1 and 1", round, wins, conflicts)
		}
		if won != last+1 {
			t.Fatalf("round %d: winner at %d; want %d", round, won, last+1)
		}
		last = won
	}
	if got := len(readAll(t, l, filterA, 0)); got != rounds {
		t.Fatalf("%d records; want %d", got, rounds)
	}
}

func testReadMatching(t *testing.T, l events.Log) {
	var lastA, lastB uint64
	var want []uint64
	for i := range 10 {
		lastA = mustAppend(t, l, filterA, lastA, env("a", i))
		want = append(want, lastA)
		lastB = mustAppend(t, l, filterB, lastB, env("b", i))
	}
	got := readAll(t, l, filterA, 0)
	if !reflect.DeepEqual(seqs(got), want) {
		t.Fatalf("Read a: seqs %v; want %v", seqs(got), want)
	}
	for i, r := range got {
		if r.Envelope.Subject != events.Subject(events.KindAgent, "a", "test_event") {
			t.Fatalf("record %d has subject %s", r.Seq, r.Envelope.Subject)
		}
		assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
	}
	if got := readAll(t, l, "events.>", 0); len(got) != 20 {
		t.Fatalf("Read events.>: %d records; want 20", len(got))
	}
}

func testReadFrom(t *testing.T, l events.Log) {
	var last uint64
	for i := range 6 {
		last = mustAppend(t, l, filterA, last, env("a", i))
	}
	for _, from := range []uint64{0, 1, 4, 6} {
		got := seqs(readAll(t, l, filterA, from))
		var want []uint64
		for s := max(from, 1); s <= 6; s++ {
			want = append(want, s)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Read from %d: %v; want %v", from, got, want)
		}
	}
	if got := readAll(t, l, filterA, 7); len(got) != 0 {
		t.Fatalf("Read past the end: %v; want nothing", seqs(got))
	}
}

func testReadStopsAtEnd(t *testing.T, l events.Log) {
	var last uint64
	for i := range 3 {
		last = mustAppend(t, l, filterA, last, env("a", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), quick)
	defer cancel()
	var got []uint64
	err := l.Read(ctx, filterA, 0, func(r events.Record) error {
		got = append(got, r.Seq)
		if r.Seq == 1 {
			// Appended during the Read: not part of it.
			last = mustAppend(t, l, filterA, last, env("a", 99))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Fatalf("Read delivered %v; want [1 2 3] (the records present when it was called)", got)
	}
	if got := seqs(readAll(t, l, filterA, 0)); len(got) != 4 {
		t.Fatalf("second Read: %v; want 4 records", got)
	}
}

func testReadEmpty(t *testing.T, l events.Log) {
	if got := readAll(t, l, filterA, 0); len(got) != 0 {
		t.Fatalf("Read of an empty log: %v", seqs(got))
	}
	mustAppend(t, l, filterB, 0, env("b", 1))
	start := time.Now()
	if got := readAll(t, l, filterA, 0); len(got) != 0 {
		t.Fatalf("Read of an unmatched filter: %v", seqs(got))
	}
	if got := readAll(t, l, "events.market.>", 0); len(got) != 0 {
		t.Fatalf("Read of an unmatched kind: %v", seqs(got))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Read of an unmatched filter took %s; it must return at once", d)
	}
}

func testReadCallbackError(t *testing.T, l events.Log) {
	var last uint64
	for i := range 5 {
		last = mustAppend(t, l, filterA, last, env("a", i))
	}
	stop := errors.New("stop here")
	var n int
	err := l.Read(ctxT(t), filterA, 0, func(events.Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Read returned %v; want the callback's error", err)
	}
	if n != 2 {
		t.Fatalf("callback called %d times after its error; want 2 in all", n)
	}
}

// testReadMany reads more records than any sensible fetch batch, on two
// interleaved actors, so that an adapter reading in batches is checked
// across batch boundaries.
func testReadMany(t *testing.T, l events.Log) {
	const n = 2500
	var lastA, lastB uint64
	for i := range n {
		lastA = mustAppend(t, l, filterA, lastA, env("a", i))
		if i%2 == 0 {
			lastB = mustAppend(t, l, filterB, lastB, env("b", i))
		}
	}
	got := readAll(t, l, filterA, 0)
	if len(got) != n {
		t.Fatalf("Read: %d records; want %d", len(got), n)
	}
	for i, r := range got {
		assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
		if i > 0 && r.Seq <= got[i-1].Seq {
			t.Fatalf("records out of order: %d after %d", r.Seq, got[i-1].Seq)
		}
	}
	if got := readAll(t, l, "events.>", 0); len(got) != n+n/2 {
		t.Fatalf("Read all: %d records; want %d", len(got), n+n/2)
	}
}

// follow runs Follow in a goroutine and returns its records and its end.
func follow(l events.Log, ctx context.Context, filter string, from uint64) (<-chan events.Record, <-chan error) {
	recs := make(chan events.Record, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, filter, from, func(r events.Record) error {
			recs <- r
			return nil
		})
	}()
	return recs, done
}

func next(t *testing.T, recs <-chan events.Record) events.Record {
	t.Helper()
	select {
	case r := <-recs:
		return r
	case <-time.After(quick):
		t.Fatal("Follow delivered nothing")
		return events.Record{}
	}
}

func testFollow(t *testing.T, l events.Log) {
	a1 := mustAppend(t, l, filterA, 0, env("a", 1))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs, done := follow(l, ctx, filterA, 0)
	if r := next(t, recs); r.Seq != a1 {
		t.Fatalf("first record %d; want %d", r.Seq, a1)
	}
	mustAppend(t, l, filterB, 0, env("b", 1))
	a2 := mustAppend(t, l, filterA, a1, env("a", 2))
	if r := next(t, recs); r.Seq != a2 {
		t.Fatalf("second record %d; want %d (b's record must not be delivered)", r.Seq, a2)
	}
	a3 := mustAppend(t, l, filterA, a2, env("a", 3))
	if r := next(t, recs); r.Seq != a3 {
		t.Fatalf("third record %d; want %d", r.Seq, a3)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow returned %v; want context.Canceled", err)
		}
	case <-time.After(quick):
		t.Fatal("Follow did not stop after its context was cancelled")
	}
	select {
	case r := <-recs:
		t.Fatalf("unexpected record %d", r.Seq)
	default:
	}
}

func testFollowFrom(t *testing.T, l events.Log) {
	var last uint64
	for i := range 4 {
		last = mustAppend(t, l, filterA, last, env("a", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs, done := follow(l, ctx, filterA, 3)
	for _, want := range []uint64{3, 4} {
		if r := next(t, recs); r.Seq != want {
			t.Fatalf("record %d; want %d", r.Seq, want)
		}
	}
	// A callback error ends Follow with that error.
	stop := errors.New("stop")
	ctx2, cancel2 := context.WithTimeout(context.Background(), quick)
	defer cancel2()
	err := l.Follow(ctx2, filterA, 0, func(events.Record) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("Follow returned %v; want the callback's error", err)
	}
	cancel()
	<-done
}

// testFollowBacklog starts Follow behind a backlog larger than any batch,
// then appends while it runs: every record arrives once, in order.
func testFollowBacklog(t *testing.T, l events.Log) {
	const backlog, more = 700, 50
	var last, lastB uint64
	for i := range backlog {
		last = mustAppend(t, l, filterA, last, env("a", i))
		if i%3 == 0 {
			lastB = mustAppend(t, l, filterB, lastB, env("b", i))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs, done := follow(l, ctx, filterA, 0)
	go func() {
		for i := range more {
			var err error
			if last, err = l.Append(context.Background(), filterA, last, env("a", backlog+i)); err != nil {
				t.Errorf("append while following: %v", err)
				return
			}
		}
	}()
	var prev uint64
	for i := range backlog + more {
		r := next(t, recs)
		if r.Seq <= prev {
			t.Fatalf("record %d after %d", r.Seq, prev)
		}
		prev = r.Seq
		assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v; want context.Canceled", err)
	}
}

// typed returns env(id, n) as an event of type typ.
func typed(id string, n int, typ string) events.Envelope {
	e := env(id, n)
	e.Type, e.Subject = typ, events.Subject(events.KindAgent, id, typ)
	return e
}

// testFollowTypes follows with WithTypes over a backlog larger than any
// batch, then over records appended while it runs: every record comes once,
// in order, with no gap; those of the types asked for whole, the others with
// their sequence alone and an empty envelope. WithTypes with no type reads
// every record whole.
func testFollowTypes(t *testing.T, l events.Log) {
	const backlog, more = 600, 40
	wanted := func(i int) bool { return i%3 == 0 }
	var lastA, lastB uint64
	appendOne := func(ctx context.Context, i int) error {
		typ := "test_event"
		if wanted(i) {
			typ = "wanted_event"
		}
		var err error
		if i%2 == 0 {
			lastA, err = l.Append(ctx, filterA, lastA, typed("a", i, typ))
		} else {
			lastB, err = l.Append(ctx, filterB, lastB, typed("b", i, typ))
		}
		return err
	}
	for i := range backlog {
		if err := appendOne(ctxT(t), i); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := make(chan events.Record, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, "events.>", 0, func(r events.Record) error {
			recs <- r
			return nil
		}, events.WithTypes("wanted_event", "unused_event"))
	}()
	go func() {
		for i := backlog; i < backlog+more; i++ {
			if err := appendOne(context.Background(), i); err != nil {
				t.Errorf("append while following: %v", err)
				return
			}
		}
	}()
	for i := range backlog + more {
		r := next(t, recs)
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d delivered as %d: every record must come, in order", i+1, r.Seq)
		}
		if wanted(i) {
			if r.Envelope.Type != "wanted_event" {
				t.Fatalf("record %d of a type asked for came as %+v", r.Seq, r.Envelope)
			}
			assertJSON(t, r.Envelope.Data, fmt.Sprintf(`{"n":%d}`, i))
			continue
		}
		if r.Envelope.Type != "" || r.Envelope.Subject != "" || r.Envelope.Data != nil {
			t.Fatalf("record %d of another type came read: %+v", r.Seq, r.Envelope)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v; want context.Canceled", err)
	}
	// No type at all: every record whole.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	stop := errors.New("enough")
	n := 0
	err := l.Follow(ctx2, "events.>", 1, func(r events.Record) error {
		if r.Envelope.Type == "" {
			t.Fatalf("record %d came unread with WithTypes()", r.Seq)
		}
		if n++; n == 10 {
			return stop
		}
		return nil
	}, events.WithTypes())
	if !errors.Is(err, stop) {
		t.Fatalf("Follow returned %v; want the callback's error", err)
	}
}

// testReadCancelled cancels a Read from its callback: Read stops with the
// context's error and delivers nothing more.
func testReadCancelled(t *testing.T, l events.Log) {
	var last uint64
	for i := range 600 {
		last = mustAppend(t, l, filterA, last, env("a", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n int
	err := l.Read(ctx, filterA, 0, func(events.Record) error {
		n++
		if n == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read returned %v after %d records; want context.Canceled", err, n)
	}
	if n >= 600 {
		t.Fatalf("Read delivered all %d records after its context was cancelled", n)
	}
}

func testLastSeq(t *testing.T, l events.Log) {
	ctx := ctxT(t)
	if s, err := l.LastSeq(ctx); err != nil || s != 0 {
		t.Fatalf("LastSeq of an empty log = %d, %v; want 0", s, err)
	}
	mustAppend(t, l, filterA, 0, env("a", 1))
	s := mustAppend(t, l, filterB, 0, env("b", 1))
	if got, err := l.LastSeq(ctx); err != nil || got != s {
		t.Fatalf("LastSeq = %d, %v; want %d", got, err, s)
	}
	// A refused append does not move it.
	_, _ = l.Append(ctx, filterA, 0, env("a", 2))
	if got, err := l.LastSeq(ctx); err != nil || got != s {
		t.Fatalf("LastSeq after a refused append = %d, %v; want %d", got, err, s)
	}
}

func testRoundTrip(t *testing.T, l events.Log) {
	in := events.Envelope{
		ID:             "01jabcdefghjkmnpqrstvwxyz0",
		Type:           "test_event",
		Schema:         3,
		Subject:        events.Subject(events.KindAgent, "a", "test_event"),
		Time:           time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)),
		CausationID:    "cause-1",
		CorrelationID:  "corr-1",
		IdempotencyKey: "key with spaces & <symbols> é",
		Data:           json.RawMessage(`{ "amount_micros": 1234567, "memo": "a <b> & c", "list": [1, 2, 3], "nested": {"x": null} }`),
	}
	seq := mustAppend(t, l, filterA, 0, in)
	got := readAll(t, l, filterA, 0)
	if len(got) != 1 || got[0].Seq != seq {
		t.Fatalf("read %v; want one record at %d", seqs(got), seq)
	}
	out := got[0].Envelope
	if !out.Time.Equal(in.Time) {
		t.Fatalf("time %v; want %v", out.Time, in.Time)
	}
	assertJSON(t, out.Data, string(in.Data))
	out.Time, out.Data = in.Time, in.Data
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("envelope changed:\n got %+v\nwant %+v", out, in)
	}
}

func testRecordsAreValues(t *testing.T, l events.Log) {
	e := env("a", 1)
	mustAppend(t, l, filterA, 0, e)
	// The caller's buffer is not the log's.
	for i := range e.Data {
		e.Data[i] = ' '
	}
	got := readAll(t, l, filterA, 0)
	assertJSON(t, got[0].Envelope.Data, `{"n":1}`)
	// Nor is a reader's.
	for i := range got[0].Envelope.Data {
		got[0].Envelope.Data[i] = ' '
	}
	again := readAll(t, l, filterA, 0)
	assertJSON(t, again[0].Envelope.Data, `{"n":1}`)
}

func testRejects(t *testing.T, l events.Log) {
	ctx := ctxT(t)
	bad := env("a", 1)
	bad.Data = json.RawMessage(`{not json`)
	other := env("b", 1)
	wild := env("a", 1)
	wild.Subject = "events.agent.a.*"
	outside := env("a", 1)
	outside.Subject = "elsewhere.agent.a.test_event"
	for _, c := range []struct {
		name   string
		filter string
		e      events.Envelope
	}{
		{"data that is not JSON", filterA, bad},
		{"subject outside the filter", filterA, other},
		{"wildcard subject", filterA, wild},
		{"subject outside events.>", "elsewhere.>", outside},
		{"empty filter", "", env("a", 1)},
		{"filter with an empty token", "events..a.>", env("a", 1)},
		{"filter with '>' inside", "events.>.a", env("a", 1)},
	} {
		_, err := l.Append(ctx, c.filter, 0, c.e)
		if err == nil {
			t.Fatalf("Append with %s: no error", c.name)
		}
		if errors.Is(err, events.ErrWrongLastSequence) {
			t.Fatalf("Append with %s: %v; want an error other than a conflict", c.name, err)
		}
	}
	if err := l.Read(ctx, "", 0, func(events.Record) error { return nil }); err == nil {
		t.Fatal("Read with an empty filter: no error")
	}
	if s, err := l.LastSeq(ctx); err != nil || s != 0 {
		t.Fatalf("LastSeq after refused appends = %d, %v; want 0", s, err)
	}
}

func testCancelled(t *testing.T, l events.Log) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, filterA, 0, env("a", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context: %v; want context.Canceled", err)
	}
	if err := l.Read(ctx, filterA, 0, func(events.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read with a cancelled context: %v; want context.Canceled", err)
	}
	if err := l.Follow(ctx, filterA, 0, func(events.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow with a cancelled context: %v; want context.Canceled", err)
	}
	if s, err := l.LastSeq(context.Background()); err != nil || s != 0 {
		t.Fatalf("LastSeq = %d, %v; want 0", s, err)
	}
}

// closer is implemented by adapters that can be closed (both of ours).
type closer interface{ Close() }

func testClose(t *testing.T, l events.Log) {
	c, ok := l.(closer)
	if !ok {
		t.Skip("log has no Close")
	}
	mustAppend(t, l, filterA, 0, env("a", 1))
	recs, done := follow(l, context.Background(), filterA, 0)
	next(t, recs)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, events.ErrLogClosed) {
			t.Fatalf("Follow after Close returned %v; want ErrLogClosed", err)
		}
	case <-time.After(quick):
		t.Fatal("Follow did not stop after Close")
	}
	ctx := ctxT(t)
	if _, err := l.Append(ctx, filterA, 1, env("a", 2)); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("Append after Close: %v; want ErrLogClosed", err)
	}
	if err := l.Read(ctx, filterA, 0, func(events.Record) error { return nil }); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("Read after Close: %v; want ErrLogClosed", err)
	}
	if _, err := l.LastSeq(ctx); !errors.Is(err, events.ErrLogClosed) {
		t.Fatalf("LastSeq after Close: %v; want ErrLogClosed", err)
	}
}

// assertJSON compares JSON documents by value: an adapter may re-encode
// Data (JetStream stores the envelope as JSON), so only its meaning is
// promised, not its bytes.
func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("data %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("data %s; want %s", got, want)
	}
}
