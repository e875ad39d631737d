package economy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections/economy"
)

// ReadAhead hands the fold every record in log order, each read and
// hashed as the fold would read and hash it itself, over many batches;
// the fold's first error stops it there: nothing after that record is
// folded, and that error is returned.
func TestReadAheadFoldsInOrderAndStopsAtTheFirstError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := memlog.New()
	defer log.Close()
	const n = 1300 // five batches and some
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
	// A bad record is read ahead as Read reads it, and not hashed.
	log.Publish("events.agent.a.credits_burned", []byte("not an envelope"))
	read := func(ctx context.Context, fn func(events.Record) error) error {
		return log.Read(ctx, events.SubjectRoot+".>", 1, fn)
	}
	var seen []uint64
	check := func(a *economy.Read) {
		t.Helper()
		ev, err := events.Read(a.Record)
		got, gerr := a.Digest()
		if a.Record.Bad != nil {
			if !errors.Is(a.Err, events.ErrBadRecord) || err == nil || got != (chain.Digest{}) || gerr != nil {
				t.Fatalf("bad record %d read ahead as %v %v %x %v", a.Record.Seq, a.Event, a.Err, got, gerr)
			}
		} else if d, derr := chain.DigestOf(a.Record); err != nil || a.Err != nil || ev != a.Event || derr != nil || gerr != nil || got != d {
			t.Fatalf("record %d read ahead as %v %v %x %v; reads as %v %v %x %v", a.Record.Seq, a.Event, a.Err, got, gerr, ev, err, d, derr)
		}
		seen = append(seen, a.Record.Seq)
	}
	err := economy.ReadAhead(ctx, read, func(a *economy.Read) error { check(a); return nil })
	if err != nil || len(seen) != n+1 {
		t.Fatalf("folded %d records of %d: %v", len(seen), n+1, err)
	}
	for i, seq := range seen {
		if seq != uint64(i+1) {
			t.Fatalf("record %d folded at %d", seq, i+1)
		}
	}
	stop := errors.New("violation")
	for _, at := range []uint64{1, 256, 257, 773, n, n + 1} {
		seen = nil
		err := economy.ReadAhead(ctx, read, func(a *economy.Read) error {
			check(a)
			if a.Record.Seq == at {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || uint64(len(seen)) != at {
			t.Fatalf("fold failing at %d: folded %d, returned %v", at, len(seen), err)
		}
	}
	// The read's own error, once every record it delivered is folded.
	seen = nil
	end := errors.New("read failed")
	err = economy.ReadAhead(ctx, func(ctx context.Context, fn func(events.Record) error) error {
		if err := read(ctx, func(r events.Record) error {
			if r.Seq > 300 {
				return end
			}
			return fn(r)
		}); err != nil {
			return err
		}
		return nil
	}, func(a *economy.Read) error { check(a); return nil })
	if !errors.Is(err, end) || len(seen) != 300 {
		t.Fatalf("read failing after 300: folded %d, %v", len(seen), err)
	}
}
