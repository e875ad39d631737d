package history

import (
	"sync"

	"github.com/agora-econ/agora/events"
)

// View is the history served to readers while a projections.Runner applies
// records to it. Readers take a read lock and get copies, so a slow reader
// never sees a half-applied record and never holds the runner for long.
type View struct {
	mu    sync.RWMutex
	state State
}

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

// ForAgent returns up to limit of the agent's transactions, newest first
// (limit <= 0: all that are kept, at most the history length).
func (v *View) ForAgent(agentID string, limit int) []Transaction {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.ForAgent(agentID, limit)
}

// Recent returns up to limit of the economy's transactions, newest first
// (limit <= 0: all that are kept, at most the recent length).
func (v *View) Recent(limit int) []Transaction {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Recent(limit)
}

// Balance is the agent's balance after its last event, and whether
// the view has seen the agent.
func (v *View) Balance(agentID string) (events.Micros, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Balance(agentID)
}
