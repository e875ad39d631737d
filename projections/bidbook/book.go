package bidbook

import (
	"fmt"
	"strings"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/books"
)

// Book is the bid book as a plain value: Apply folds records into it
// without IO, clocks or locks. It is not safe for concurrent use; View wraps
// it for that. The zero Book is empty.
//
// The bids are those of each pool's clearing.Book, folded with
// clearing.Evolve (the clearing actor's own fold, see package books), so
// the bid book holds exactly the bids the clearing holds. Each open bid is
// also referenced from one ordered list of the whole book and one per
// resource its bundle names, kept in step with the books' changes, so that
// a page, with or without a resource filter, is a binary search and a walk
// of at most a page: no sort per read, and no scan past bids of other
// resources. A bid that leaves is found in the lists by its place in the
// order, which the books' change gives, so the book keeps no map of its
// own beside the books' (a second map of every bid cost memory and time
// on every listing).
type Book struct {
	books      books.Books
	all        *ordered[*Bid]
	byResource map[string]*ordered[*Bid]
	// probe is scratch space for remove: the bid to find, by its order.
	probe Bid
	// spare holds bids that left every list, cleared, for the next ones
	// indexed: a bid listed as another leaves (the steady state of a busy
	// book) then costs no allocation. Bids never leave the Book (Page and
	// Get copy them), so one that left is no one else's.
	spare []*Bid
}

// spareMax bounds the bids kept for reuse: the memory a book keeps after
// a cycle that cleared many bids.
const spareMax = 1024

// orderPtr is the clearing order, then the pool: a total order even should
// two pools list bids of one id.
func orderPtr(x, y *Bid) int {
	if c := Order(*x, *y); c != 0 {
		return c
	}
	return strings.Compare(x.Pool, y.Pool)
}

func (b *Book) init() {
	if b.all == nil {
		b.all = newOrdered(orderPtr)
		b.byResource = map[string]*ordered[*Bid]{}
	}
}

// Apply folds one record into b. Records of other kinds than clearing are
// ignored without being decoded. Each clearing event is folded into its
// pool's book with clearing.Evolve; the bids it changed are indexed again.
// On error b is unchanged.
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
	b.books.Evolve(pool, e, b.change)
	if b.all.Len() != b.books.Count() {
		// The event changed a bid it does not name (books.Evolve reports
		// only those): index the books again rather than show a book the
		// clearing does not hold.
		b.reindex()
	}
	return nil
}

// change indexes one bid the books changed.
func (b *Book) change(c books.Change) {
	if c.Before != nil {
		b.remove(c.Pool, c.Before)
	}
	if c.After != nil {
		b.index(b.newBid(c.Pool, c.After))
	}
}

func fromClearing(pool string, c *clearing.Bid) Bid {
	return Bid{ID: c.ID, Pool: pool, AgentID: c.AgentID, BeneficiaryID: c.BeneficiaryID,
		Resources: c.Resources, AmountMicros: c.AmountMicros, PlacedAt: c.PlacedAt}
}

// newBid is c of pool as a bid to index, in a spare one when there is one.
func (b *Book) newBid(pool string, c *clearing.Bid) *Bid {
	n := len(b.spare)
	if n == 0 {
		bid := fromClearing(pool, c)
		return &bid
	}
	bid := b.spare[n-1]
	b.spare[n-1] = nil
	b.spare = b.spare[:n-1]
	*bid = fromClearing(pool, c)
	return bid
}

// reindex builds every index again from the books.
func (b *Book) reindex() {
	b.all, b.byResource = nil, nil
	b.init()
	for _, pool := range b.books.Pools() {
		book, _ := b.books.Book(pool)
		for _, c := range book.Bids {
			b.index(b.newBid(pool, &c))
		}
	}
}

// remove takes out of the lists the bid indexed for was, the bid as the
// books held it before the change: the lists hold it under the same
// place in the order and the same resources. Should they not (a bug),
// the count no longer matches the books' and Apply indexes them again.
func (b *Book) remove(pool string, was *clearing.Bid) {
	b.probe = Bid{ID: was.ID, Pool: pool, AmountMicros: was.AmountMicros, PlacedAt: was.PlacedAt}
	bid, gone := b.all.take(&b.probe)
	for r := range was.Resources {
		l, ok := b.byResource[r]
		// Only a bid out of every list may be reused: one a list still
		// holds (a bug) must not change under it.
		gone = ok && l.remove(&b.probe) && gone
		if ok && l.Len() == 0 {
			delete(b.byResource, r)
		}
	}
	if gone && len(b.spare) < spareMax {
		*bid = Bid{} // no strings or maps of a bid gone kept alive
		b.spare = append(b.spare, bid)
	}
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
func (b *Book) Count() int {
	if b.all == nil {
		return 0
	}
	return b.all.Len()
}

// CountFor is the number of open bids whose bundle names resource.
func (b *Book) CountFor(resource string) int {
	if l, ok := b.byResource[resource]; ok {
		return l.Len()
	}
	return 0
}

// Get returns the open bid with this id, if there is one (the first pool's,
// in the order of their names, should two pools list one id).
func (b *Book) Get(id string) (Bid, bool) {
	for _, pool := range b.books.Pools() {
		book, _ := b.books.Book(pool)
		if c, ok := book.Bids[id]; ok {
			return fromClearing(pool, &c).clone(), true
		}
	}
	return Bid{}, false
}
