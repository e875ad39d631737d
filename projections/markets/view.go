package markets

import (
	"sync"

	"github.com/agora-econ/agora/events"
)

// View is the markets read model served to readers while a
// projections.Runner applies records to it. Readers take a read lock and
// get copies.
type View struct {
	mu    sync.RWMutex
	state State
	// changed is closed at the next change of any market, to wake the
	// mirror; nil while no one waits. Guarded by mu.
	changed chan struct{}
}

// New returns an empty view that keeps historyLength transactions per
// market (allocation.transaction_history_length).
func New(historyLength int) (*View, error) {
	s, err := NewState(historyLength)
	if err != nil {
		return nil, err
	}
	return &View{state: *s}, nil
}

// Apply folds one record into the view (see the function Apply).
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	before := v.state.clock
	err := Apply(&v.state, rec)
	if v.state.clock != before && v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
	return err
}

// Reset empties the view before a rebuild; the history length stays.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state.reset()
}

// State returns every market, sorted by resource, and the cycle.
func (v *View) State() MarketsState {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Markets()
}

// Market returns one market, if it is open.
func (v *View) Market(resource string) (MarketState, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Market(resource)
}

// changes returns a channel closed at the next change after the call.
func (v *View) changes() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

// changedSince returns the markets changed after version and the version
// they bring the reader to (see State.changedSince).
func (v *View) changedSince(version uint64) ([]MarketState, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.changedSince(version)
}
