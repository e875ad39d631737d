package bidbook_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/bidbook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appendClearing appends clearing events of the main pool as the clearing
// actor does, with the expected last sequence of its subjects.
func appendClearing(t testing.TB, log events.Log, last *uint64, es ...events.Event) {
	t.Helper()
	for _, e := range es {
		env, err := events.Encode(events.KindClearing, pool, e, events.Meta{Time: t0})
		if err != nil {
			t.Fatal(err)
		}
		seq, err := log.Append(context.Background(), events.Filter(events.KindClearing, pool), *last, env)
		if err != nil {
			t.Fatal(err)
		}
		*last = seq
	}
}

// TestViewUnderTheRunner feeds the view from a log while readers page
// through it (the race detector checks the locking), then rebuilds it.
func TestViewUnderTheRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	log := memlog.New()
	defer log.Close()
	view := bidbook.New()
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

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
				cursor := ""
				for {
					page, next, err := view.Page("", 7, cursor)
					if err != nil {
						t.Error(err)
						return
					}
					for i := 1; i < len(page); i++ {
						if bidbook.Order(page[i-1], page[i]) >= 0 {
							t.Error("a page out of order")
							return
						}
					}
					if next == "" {
						break
					}
					cursor = next
				}
				_ = view.CountFor("tokens")
			}
		})
	}
	var last uint64
	for round := range 50 {
		a, b := fmt.Sprintf("b-%03d-a", round), fmt.Sprintf("b-%03d-b", round)
		appendClearing(t, log, &last,
			listed(a, "x", int64(round%7+1), round),
			withTokens(listed(b, "y", int64(round%5+1), round)),
			events.BidRaised{BidID: a, AmountMicros: cr(10)},
		)
		if round%3 == 0 {
			appendClearing(t, log, &last, events.BidWithdrawn{BidID: b, AgentID: "y"})
		}
	}
	if err := r.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	close(finished)
	wg.Wait()
	if view.Count() != 100-17 || view.CountFor("tokens") != 50-17 {
		t.Fatalf("Count %d, CountFor(tokens) %d", view.Count(), view.CountFor("tokens"))
	}
	first, _, _ := view.Page("", 1, "")
	if len(first) != 1 || first[0].ID != "b-000-a" || first[0].AmountMicros != cr(10) {
		t.Fatalf("head of the book %+v, want the first raised bid", first)
	}
	if _, ok := view.Get("b-000-b"); ok {
		t.Fatal("a withdrawn bid is still there")
	}

	before, _, _ := view.Page("", bidbook.BidsPageMax, "")
	if err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	after, _, _ := view.Page("", bidbook.BidsPageMax, "")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("the rebuilt book differs")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	view.Reset()
	if view.Count() != 0 {
		t.Fatal("Reset left bids")
	}
}

// BenchmarkBook100k measures the steady state of a book of 100,000 bids:
// one bid listed and one allocated per operation, and a page read deep in
// the book with and without a resource filter.
func BenchmarkBook100k(b *testing.B) {
	const n = 100_000
	var book bidbook.Book
	var seq uint64
	apply := func(e events.Event) {
		seq++
		if err := bidbook.Apply(&book, record(b, seq, clearingStep(e))); err != nil {
			b.Fatal(err)
		}
	}
	bid := func(i int) events.BidListed {
		l := listed(fmt.Sprintf("b-%07d", i), "a", int64(i%1000+1), i)
		if i%10 == 0 {
			l = withTokens(l)
		}
		return l
	}
	for i := range n {
		apply(bid(i))
	}
	_, mid, _ := book.Page("", bidbook.BidsPageMax, "")
	for range n / 2 / bidbook.BidsPageMax {
		_, mid, _ = book.Page("", bidbook.BidsPageMax, mid)
	}
	b.Run("list+allocate", func(b *testing.B) {
		i := n
		for b.Loop() {
			apply(bid(i))
			apply(events.CycleCleared{Cycle: uint64(i), Allocations: []events.Allocation{{BidID: fmt.Sprintf("b-%07d", i-n)}}})
			i++
		}
	})
	b.Run("page", func(b *testing.B) {
		for b.Loop() {
			if page, _, err := book.Page("", 50, mid); err != nil || len(page) != 50 {
				b.Fatal(len(page), err)
			}
		}
	})
	b.Run("page tokens", func(b *testing.B) {
		for b.Loop() {
			if page, _, err := book.Page("tokens", 50, mid); err != nil || len(page) != 50 {
				b.Fatal(len(page), err)
			}
		}
	})
}
