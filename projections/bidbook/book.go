package bidbook

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// Book is the bid book as a plain value: Apply folds records into it
// without IO, clocks or locks. It is not safe for concurrent use; View wraps
// it for that. The zero Book is empty.
//
// Every open bid is kept once, and referenced from one ordered list of the
// whole book and one per resource its bundle names, so that a page, with
// or without a resource filter, is a binary search and a walk of at most a
// page: no sort per read, and no scan past bids of other resources.
type Book struct {
	bids       map[string]*Bid
	all        *ordered[*Bid]
	byResource map[string]*ordered[*Bid]
}

func orderPtr(x, y *Bid) int { return Order(*x, *y) }

func (b *Book) init() {
	if b.bids == nil {
		b.bids = map[string]*Bid{}
		b.all = newOrdered(orderPtr)
		b.byResource = map[string]*ordered[*Bid]{}
	}
}

// Apply folds one record into b. Records of other kinds than clearing are
// ignored without being decoded. A bid enters on bid_listed (a rejected bid
// never does), moves on bid_raised, and leaves on bid_withdrawn,
// bids_cancelled (its agent died) or when a cycle allocates it: exactly the
// bids clearing.Evolve keeps. On error b is unchanged.
func Apply(b *Book, rec events.Record) error {
	// A record that is not a sound event is skipped by every follower
	// (events.Check): the error says so, and the runner passes over it.
	if err := events.Check(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	kind, pool, _ := events.ActorOf(rec)
	if kind != events.KindClearing {
		return nil
	}
	e, err := events.Read(rec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	b.init()
	switch e := e.(type) {
	case events.BidListed:
		b.list(&Bid{ID: e.BidID, Pool: pool, AgentID: e.AgentID, BeneficiaryID: e.BeneficiaryID,
			Resources: e.Resources, AmountMicros: e.AmountMicros, PlacedAt: e.PlacedAt})
	case events.BidRaised:
		if bid, ok := b.bids[e.BidID]; ok && bid.Pool == pool {
			b.unindex(bid)
			bid.AmountMicros = e.AmountMicros
			b.index(bid)
		}
	case events.BidWithdrawn:
		b.remove(pool, e.BidID)
	case events.BidsCancelled:
		for _, id := range e.BidIDs {
			b.remove(pool, id)
		}
	case events.CycleCleared:
		for _, a := range e.Allocations {
			b.remove(pool, a.BidID)
		}
	}
	return nil
}

// list adds a bid; a bid listed again replaces the first listing, as in
// the clearing's own book. Bid ids are unique across pools (ULIDs).
func (b *Book) list(bid *Bid) {
	if old, ok := b.bids[bid.ID]; ok {
		b.unindex(old)
	}
	b.bids[bid.ID] = bid
	b.index(bid)
}

func (b *Book) remove(pool, id string) {
	bid, ok := b.bids[id]
	if !ok || bid.Pool != pool {
		return
	}
	b.unindex(bid)
	delete(b.bids, id)
}

func (b *Book) index(bid *Bid) {
	b.all.insert(bid)
	for r := range bid.Resources {
		l, ok := b.byResource[r]
		if !ok {
			l = newOrdered(orderPtr)
			b.byResource[r] = l
		}
		l.insert(bid)
	}
}

func (b *Book) unindex(bid *Bid) {
	b.all.remove(bid)
	for r := range bid.Resources {
		if l, ok := b.byResource[r]; ok {
			l.remove(bid)
			if l.Len() == 0 {
				delete(b.byResource, r)
			}
		}
	}
}

// Page returns up to limit open bids in the clearing order, only those
// whose bundle names resource when it is not empty, starting after cursor
// ("" for the first page). next is the cursor of the following page, ""
// when this page reaches the end of the book. limit must be in
// [1, BidsPageMax].
func (b *Book) Page(resource string, limit int, cursor string) (bids []Bid, next string, err error) {
	if limit < 1 || limit > BidsPageMax {
		return nil, "", fmt.Errorf("%w: %d, want 1 to %d", ErrInvalidLimit, limit, BidsPageMax)
	}
	var pivot Bid
	if cursor != "" {
		if pivot, err = parseCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	if resource != "" {
		if err := events.ValidateID(resource); err != nil {
			return nil, "", fmt.Errorf("resource: %w", err)
		}
	}
	list := b.all
	if resource != "" {
		list = b.byResource[resource]
	}
	if list == nil {
		return []Bid{}, "", nil
	}
	bids = make([]Bid, 0, min(limit, list.Len()))
	more := false
	list.after(&pivot, cursor != "", func(bid *Bid) bool {
		if len(bids) == limit {
			more = true
			return false
		}
		bids = append(bids, bid.clone())
		return true
	})
	if more {
		next = Cursor(bids[len(bids)-1])
	}
	return bids, next, nil
}

// Count is the number of open bids.
func (b *Book) Count() int { return len(b.bids) }

// CountFor is the number of open bids whose bundle names resource.
func (b *Book) CountFor(resource string) int {
	if l, ok := b.byResource[resource]; ok {
		return l.Len()
	}
	return 0
}

// Get returns the open bid with this id, if there is one.
func (b *Book) Get(id string) (Bid, bool) {
	bid, ok := b.bids[id]
	if !ok {
		return Bid{}, false
	}
	return bid.clone(), true
}
