package bidbook

import (
	"sync"

	"github.com/agora-econ/agora/events"
)

// View is the bid book served to readers while a projections.Runner
// applies records to it. Readers take a read lock and get copies, so a slow
// reader never sees a half-applied record and holds the runner for at most
// one page.
type View struct {
	mu   sync.RWMutex
	book Book
}

// New returns an empty view.
func New() *View { return &View{} }

// Apply folds one record into the view (see the function Apply).
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Apply(&v.book, rec)
}

// Reset empties the view before a rebuild.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.book = Book{}
}

// Page returns a page of open bids in the clearing order (see Book.Page).
func (v *View) Page(resource string, limit int, cursor string) ([]Bid, string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.book.Page(resource, limit, cursor)
}

// Count is the number of open bids.
func (v *View) Count() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.book.Count()
}

// CountFor is the number of open bids whose bundle names resource.
func (v *View) CountFor(resource string) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.book.CountFor(resource)
}

// Get returns the open bid with this id, if there is one.
func (v *View) Get(id string) (Bid, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.book.Get(id)
}
