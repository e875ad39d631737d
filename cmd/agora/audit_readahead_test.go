package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/memlog"
)

// readAhead hands the fold every record in log order, each read and
// hashed as the fold would read and hash it itself, over many batches;
// the fold's first error stops it there: nothing after that record is
// folded, and that error is returned.
func TestReadAheadFoldsInOrderAndStopsAtTheFirstError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := memlog.New()
	defer log.Close()
	const n = 5*readAheadBatch + 17
	for i := range n {
		env, err := events.Encode(events.KindAgent, "a", events.CreditsBurned{AmountMicros: events.Micros(i + 1), Reason: "x"},
			events.Meta{Time: time.Unix(int64(i), 0)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(ctx, "events.agent.a.>", uint64(i), env); err != nil {
			t.Fatal(err)
		}
	}
	var seen []uint64
	check := func(a *readRecord) {
		t.Helper()
		ev, err := events.Read(a.r)
		d, derr := chain.DigestOf(a.r)
		got, gerr := a.digestOf()
		if err != nil || a.err != nil || ev != a.ev || derr != nil || gerr != nil || got != d {
			t.Fatalf("record %d read ahead as %v %v %x %v; reads as %v %v %x %v", a.r.Seq, a.ev, a.err, got, gerr, ev, err, d, derr)
		}
		seen = append(seen, a.r.Seq)
	}
	err := readAhead(ctx, log, bound{}, nil, func(a *readRecord) error { check(a); return nil })
	if err != nil || len(seen) != n {
		t.Fatalf("folded %d records of %d: %v", len(seen), n, err)
	}
	for i, seq := range seen {
		if seq != uint64(i+1) {
			t.Fatalf("record %d folded at %d", seq, i+1)
		}
	}
	stop := errors.New("violation")
	for _, at := range []uint64{1, readAheadBatch, readAheadBatch + 1, 3*readAheadBatch + 5, n} {
		seen = nil
		err := readAhead(ctx, log, bound{}, nil, func(a *readRecord) error {
			check(a)
			if a.r.Seq == at {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || uint64(len(seen)) != at {
			t.Fatalf("fold failing at %d: folded %d, returned %v", at, len(seen), err)
		}
	}
	// A sequence bound ends the fold there.
	seen = nil
	if err := readAhead(ctx, log, bound{seq: 300}, nil, func(a *readRecord) error { check(a); return nil }); err != nil || len(seen) != 300 {
		t.Fatalf("bound 300: folded %d, %v", len(seen), err)
	}
}
