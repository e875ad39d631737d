// Package books folds every clearing pool's book with clearing.Evolve, the
// clearing actor's own fold, for the read models that show what the books
// hold (the public bid book, the markets' open bids). A read model that
// re-implemented the fold drifted from it (it kept the bids of a dead
// beneficiary that the clearing had cancelled); one that folds with Evolve
// holds what the actor holds by construction.
//
// Besides the books, it reports which bids each event changed, so that a
// read model keeps its own indexes (the paging order, counts per resource)
// in step without comparing whole books.
package books

import (
	"maps"
	"slices"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// Books is every clearing pool's book. The zero value is empty. It is not
// safe for concurrent use.
type Books struct {
	pools map[string]clearing.Book
	// named and before are scratch space reused by Evolve; was and now
	// hold the two sides of the change it reports, so that the pointers
	// it passes point into s rather than each to a bid of its own on the
	// heap (two allocations per change, on the hot path of every read
	// model that folds the books).
	named    []string
	before   []entry
	was, now clearing.Bid
}

type entry struct {
	bid  clearing.Bid
	open bool
}

// Change is what one event did to one bid of a pool: Before is nil for a
// bid listed, After nil for a bid that left the book; both are set for a
// bid changed in place (raised, or listed again). The pointers are valid
// only during the call that reports them.
type Change struct {
	Pool          string
	Before, After *clearing.Bid
}

// Evolve folds e into pool's book with clearing.Evolve and calls changed
// for every bid of the pool the event changed, in the order the event
// names them.
func (s *Books) Evolve(pool string, e events.Event, changed func(Change)) {
	if s.pools == nil {
		s.pools = map[string]clearing.Book{}
	}
	b, ok := s.pools[pool]
	if !ok {
		b = clearing.New(pool)
	}
	s.named = bidsNamed(s.named[:0], e)
	s.before = s.before[:0]
	for _, id := range s.named {
		bid, open := b.Bids[id]
		s.before = append(s.before, entry{bid, open})
	}
	b = clearing.Evolve(b, e)
	s.pools[pool] = b
	for i, id := range s.named {
		was := &s.before[i]
		bid, open := b.Bids[id]
		if was.open == open && (!open || sameBid(&was.bid, &bid)) {
			continue
		}
		c := Change{Pool: pool}
		if was.open {
			s.was = was.bid
			c.Before = &s.was
		}
		if open {
			s.now = bid
			c.After = &s.now
		}
		// An id the event names twice changes once: the next time it is
		// found unchanged.
		s.before[i] = entry{bid, open}
		for j := i + 1; j < len(s.named); j++ {
			if s.named[j] == id {
				s.before[j] = entry{bid, open}
			}
		}
		changed(c)
	}
}

// bidsNamed appends the ids of the bids event e may change in its book:
// every bid id it carries. clearing.Evolve changes no bid an event does
// not name, and the read models check their counts against the books
// (Count) to catch the day it does.
func bidsNamed(out []string, e events.Event) []string {
	switch e := e.(type) {
	case events.BidListed:
		out = append(out, e.BidID)
	case events.BidRejected:
		out = append(out, e.BidID)
	case events.BidRaised:
		out = append(out, e.BidID)
	case events.BidWithdrawn:
		out = append(out, e.BidID)
	case events.BidsCancelled:
		out = append(out, e.BidIDs...)
		for _, r := range e.Sponsored {
			out = append(out, r.BidID)
		}
	case events.CycleCleared:
		for _, a := range e.Allocations {
			out = append(out, a.BidID)
		}
	case events.ExecutionReleased:
		out = append(out, e.BidID)
	}
	return out
}

func sameBid(x, y *clearing.Bid) bool {
	return x.ID == y.ID && x.AgentID == y.AgentID && x.BeneficiaryID == y.BeneficiaryID &&
		x.AmountMicros == y.AmountMicros && x.Payload == y.Payload && x.PlacedAt.Equal(y.PlacedAt) &&
		maps.Equal(x.Resources, y.Resources)
}

// Book returns pool's book as of the last event (shared: the caller must
// not change it), and whether the pool has had an event.
func (s *Books) Book(pool string) (clearing.Book, bool) {
	b, ok := s.pools[pool]
	return b, ok
}

// Pools lists the pools, sorted.
func (s *Books) Pools() []string { return slices.Sorted(maps.Keys(s.pools)) }

// Count is the number of open bids over every pool.
func (s *Books) Count() int {
	n := 0
	for _, b := range s.pools {
		n += len(b.Bids)
	}
	return n
}

// Cycle is the highest cycle any pool has cleared.
func (s *Books) Cycle() uint64 {
	var c uint64
	for _, b := range s.pools {
		c = max(c, b.Cycle)
	}
	return c
}

// All returns the books by pool, for a snapshot (shared: the caller must
// not change them).
func (s *Books) All() map[string]clearing.Book { return s.pools }

// Set replaces every book, from a snapshot; the caller rebuilds its
// indexes from them.
func (s *Books) Set(pools map[string]clearing.Book) {
	*s = Books{pools: pools}
	for name, b := range pools {
		// A book read back from JSON may lack its empty maps, which
		// clearing.Evolve fills on the first event; so do it now, for
		// readers that range over them before.
		if b.Bids == nil {
			b.Bids = map[string]clearing.Bid{}
		}
		if b.Executions == nil {
			b.Executions = map[string]clearing.Execution{}
		}
		if b.Markets == nil {
			b.Markets = map[string]clearing.Market{}
		}
		b.Pool = name
		pools[name] = b
	}
}
