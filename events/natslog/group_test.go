package natslog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// countCommits makes l count the batch commits it sends.
func countCommits(l *natslog.Log) *atomic.Int64 {
	var n atomic.Int64
	natslog.SetBeforeCommit(l, func(*nats.Msg) { n.Add(1) })
	return &n
}

func agentFilter(i int) string { return events.Filter(events.KindAgent, fmt.Sprintf("g%d", i)) }

// groupCalls returns n calls, call i appending size envelopes to agent gi
// on an empty filter.
func groupCalls(prefix string, n, size int) []events.AppendCall {
	calls := make([]events.AppendCall, n)
	for i := range calls {
		calls[i] = events.AppendCall{Filter: agentFilter(i), Envs: envelopes(fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("g%d", i), size)}
	}
	return calls
}

// TestAppendGroupOneBatch: calls to distinct filters are one batch, each
// answered with the last sequence of its own envelopes, stored together.
func TestAppendGroupOneBatch(t *testing.T) {
	l, _ := newLog(t)
	commits := countCommits(l)
	calls := groupCalls("one", 50, 1)
	calls[7].Envs = envelopes("seven", "g7", 3)
	results := l.AppendGroup(ctxT(t), calls)
	if got := commits.Load(); got != 1 {
		t.Fatalf("%d batch commits; want 1", got)
	}
	var seq uint64
	for i, r := range results {
		seq += uint64(len(calls[i].Envs))
		if r.Err != nil || r.Last != seq {
			t.Fatalf("call %d: %d, %v; want %d", i, r.Last, r.Err, seq)
		}
		var ids []string
		if err := l.Read(ctxT(t), calls[i].Filter, 0, func(rec events.Record) error {
			ids = append(ids, rec.Envelope.ID)
			if rec.Seq > r.Last {
				t.Errorf("call %d: record at %d after its answer %d", i, rec.Seq, r.Last)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(calls[i].Envs) || ids[0] != calls[i].Envs[0].ID {
			t.Fatalf("call %d stored %v", i, ids)
		}
	}
}

// TestAppendGroupConflictFailsAlone: a call whose expectation is wrong gets
// ErrWrongLastSequence; the others of its batch are stored once each.
func TestAppendGroupConflictFailsAlone(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	if _, err := l.Append(ctx, agentFilter(3), 0, envelope("before", "g3")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, agentFilter(12), 0, envelope("before12", "g12")); err != nil {
		t.Fatal(err)
	}
	calls := groupCalls("conflict", 20, 2)
	calls[12].ExpectedLast = 2 // right
	commits := countCommits(l)
	results := l.AppendGroup(ctx, calls)
	// The whole batch, refused, then halves down to call 3: at least one
	// commit per halving (20, 10, 5, 3 or 2), and the halves beside.
	if got := commits.Load(); got < 5 {
		t.Fatalf("%d batch commits; want the refused batch and its halves", got)
	}
	for i, r := range results {
		want := 2
		if i == 12 {
			want = 3
		}
		if i == 3 {
			if !errors.Is(r.Err, events.ErrWrongLastSequence) {
				t.Fatalf("call 3: %d, %v; want ErrWrongLastSequence", r.Last, r.Err)
			}
			want = 1
		} else if r.Err != nil {
			t.Fatalf("call %d: %v", i, r.Err)
		}
		if n := count(t, l, calls[i].Filter); n != want {
			t.Fatalf("call %d: %d records; want %d", i, n, want)
		}
	}
	if n, err := l.LastSeq(ctx); err != nil || n != 2+19*2 {
		t.Fatalf("LastSeq = %d, %v; want %d", n, err, 2+19*2)
	}
}

// TestAppendGroupRetryFindsCopy: calls sent again after their answer was
// lost (the same envelopes and expectation) are answered with their first
// copy and stored once, one envelope or several, while the new calls of
// the same batch are stored.
func TestAppendGroupRetryFindsCopy(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	first := groupCalls("lost", 6, 1)
	first[1].Envs = envelopes("lost-multi", "g1", 3)
	before := l.AppendGroup(ctx, first)
	for i, r := range before {
		if r.Err != nil {
			t.Fatalf("call %d: %v", i, r.Err)
		}
	}
	retry := append([]events.AppendCall{}, first[:2]...)
	for i := 6; i < 10; i++ {
		retry = append(retry, events.AppendCall{Filter: agentFilter(i), Envs: envelopes(fmt.Sprintf("new-%d", i), fmt.Sprintf("g%d", i), 1)})
	}
	after := l.AppendGroup(ctx, retry)
	for i, r := range after {
		if r.Err != nil {
			t.Fatalf("retried call %d: %v", i, r.Err)
		}
		if i < 2 && r.Last != before[i].Last {
			t.Fatalf("retried call %d = %d; want its first copy at %d", i, r.Last, before[i].Last)
		}
	}
	if n := count(t, l, first[1].Filter); n != 3 {
		t.Fatalf("retried batch stored %d records; want 3", n)
	}
	if n := count(t, l, first[0].Filter); n != 1 {
		t.Fatalf("retried envelope stored %d records; want 1", n)
	}
}

// TestAppendGroupSameFilterInOrder: two calls on one filter never share a
// batch: the first is stored, the second, expecting the same last
// sequence, conflicts instead of interleaving.
func TestAppendGroupSameFilterInOrder(t *testing.T) {
	l, _ := newLog(t)
	commits := countCommits(l)
	f := agentFilter(1)
	wide := events.SubjectRoot + "." + string(events.KindAgent) + ".>"
	calls := []events.AppendCall{
		{Filter: f, Envs: envelopes("x", "g1", 2)},
		{Filter: agentFilter(2), Envs: envelopes("y", "g2", 2)},
		{Filter: f, Envs: envelopes("z", "g1", 2)},
		// Overlaps both: it expects nothing of the kind yet, so it
		// conflicts once the calls before it are stored.
		{Filter: wide, Envs: envelopes("w", "g3", 2)},
	}
	results := l.AppendGroup(ctxT(t), calls)
	if results[0].Err != nil || results[1].Err != nil {
		t.Fatalf("first calls: %+v", results[:2])
	}
	for _, i := range []int{2, 3} {
		if !errors.Is(results[i].Err, events.ErrWrongLastSequence) {
			t.Fatalf("call %d: %+v; want ErrWrongLastSequence", i, results[i])
		}
	}
	if n := count(t, l, f); n != 2 {
		t.Fatalf("%d records on %s; want 2", n, f)
	}
	if commits.Load() < 2 {
		t.Fatalf("%d batch commits; the calls on one filter shared a batch", commits.Load())
	}
}

// TestAppendGroupBounds: a group beyond AppendBatchMax messages, or beyond
// the bytes a batch may carry, goes as several batches, all stored.
func TestAppendGroupBounds(t *testing.T) {
	t.Run("messages", func(t *testing.T) {
		l, _ := newLog(t)
		commits := countCommits(l)
		calls := groupCalls("many", 3, 400)
		for i, r := range l.AppendGroup(ctxT(t), calls) {
			if r.Err != nil {
				t.Fatalf("call %d: %v", i, r.Err)
			}
		}
		if got := commits.Load(); got != 2 {
			t.Fatalf("%d batch commits for 1200 messages; want 2", got)
		}
		if n, _ := l.LastSeq(ctxT(t)); n != 1200 {
			t.Fatalf("LastSeq = %d; want 1200", n)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		l, _ := newLog(t)
		commits := countCommits(l)
		calls := groupCalls("big", 6, 1)
		big, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 900<<10)})
		for i := range calls {
			calls[i].Envs[0].Data = big
		}
		for i, r := range l.AppendGroup(ctxT(t), calls) {
			if r.Err != nil {
				t.Fatalf("call %d: %v", i, r.Err)
			}
		}
		if got := commits.Load(); got < 2 {
			t.Fatalf("%d batch commits for 5.4 MB; want at least 2", got)
		}
		if n, _ := l.LastSeq(ctxT(t)); n != 6 {
			t.Fatalf("LastSeq = %d; want 6", n)
		}
	})
	t.Run("too large", func(t *testing.T) {
		l, _ := newLog(t)
		calls := groupCalls("huge", 3, 1)
		huge, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", 2<<20)})
		calls[1].Envs[0].Data = huge
		results := l.AppendGroup(ctxT(t), calls)
		if results[0].Err != nil || results[2].Err != nil {
			t.Fatalf("calls beside the large one: %+v", results)
		}
		if !errors.Is(results[1].Err, nats.ErrMaxPayload) {
			t.Fatalf("large call: %v; want nats.ErrMaxPayload", results[1].Err)
		}
	})
}

// TestAppendGroupInvalidCallFailsAlone: a call the log refuses before
// sending anything fails alone.
func TestAppendGroupInvalidCallFailsAlone(t *testing.T) {
	l, _ := newLog(t)
	calls := groupCalls("bad", 4, 1)
	calls[2].Envs[0].Subject = "events.agent.other.test_event"
	results := l.AppendGroup(ctxT(t), calls)
	for i, r := range results {
		if (r.Err != nil) != (i == 2) {
			t.Fatalf("call %d: %v", i, r.Err)
		}
	}
	if errors.Is(results[2].Err, events.ErrWrongLastSequence) {
		t.Fatalf("invalid call: %v; want an error other than a conflict", results[2].Err)
	}
}
