package series

import (
	"sync"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// View is the history served to readers while a projections.Runner
// applies records to it. Readers take a read lock and get copies.
type View struct {
	mu    sync.RWMutex
	state State
}

var _ projections.Durable = (*View)(nil)

// New returns an empty view with the given limits.
func New(opts ...Option) (*View, error) {
	s, err := NewState(opts...)
	if err != nil {
		return nil, err
	}
	return &View{state: *s}, nil
}

// Apply folds one record into the view (see the function Apply).
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Apply(&v.state, rec)
}

// Reset empties the view before a rebuild; the limits stay.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state.reset()
}

// Markets is State.Markets.
func (v *View) Markets(market string, since uint64, limit int) ([]MarketSeries, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Markets(market, since, limit)
}

// Economy is State.Economy.
func (v *View) Economy(since uint64, limit int) EconomySeries {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Economy(since, limit)
}

// Agent is State.Agent.
func (v *View) Agent(id string, since uint64, limit int) (AgentSeries, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Agent(id, since, limit)
}

// Points is State.Points.
func (v *View) Points() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Points()
}

// Skip folds a record the runner skips (it is not a sound event) into the
// view's economy fold, which lists it as the live fold does, so that the
// view equals one that folded the log directly; it adds no point
// (projections.Skipper).
func (v *View) Skip(rec events.Record, _ error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	_ = Apply(&v.state, rec) // the fold skips it and returns no error
}
