package directory

import (
	"sync"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// View is the directory served to readers while a projections.Runner
// applies records to it. Readers take a read lock and get copies, so a
// slow reader never sees a half-applied record and holds the runner for at
// most one page.
type View struct {
	mu    sync.RWMutex
	state State
}

// New returns an empty view.
func New() *View { return &View{} }

// Apply folds one record into the view (see the function Apply).
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Apply(&v.state, rec)
}

// Reset empties the view before a rebuild.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state.reset()
}

// Get returns agent id's record, if the agent was created.
func (v *View) Get(id string) (Agent, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Get(id)
}

// Exists reports whether agent id was ever created, dead or alive.
func (v *View) Exists(id string) bool {
	_, ok := v.Get(id)
	return ok
}

// Living returns up to limit ids of living agents, in ascending order,
// strictly after after ("" for the first page); limit <= 0 means all.
func (v *View) Living(after string, limit int) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Living(after, limit)
}

// LivingAgents is Living under the name the System Service's Directory
// port asks for (GET /social/agents), so that the view serves it as is.
func (v *View) LivingAgents(after string, limit int) []string { return v.Living(after, limit) }

// List returns up to limit agents, dead or alive, in ascending order of
// id, strictly after after ("" for the first page); limit <= 0 means all.
func (v *View) List(after string, limit int) []Summary {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.List(after, limit)
}

// Count is the number of agents ever created, dead or alive.
func (v *View) Count() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Count()
}

// Totals returns the economy's figures over every agent.
func (v *View) Totals() Totals {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Totals()
}

// Accounts returns the ids of the agents, dead or alive, whose account (as
// the directory folded it, with the agent actor's own Evolve) keep
// accepts, in ascending order: how a start-up finds the few actors with
// work pending among every agent ever created without loading them.
func (v *View) Accounts(keep func(agent.Account) bool) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var ids []string
	for _, id := range v.state.ids {
		if keep(v.state.agents[id].account) {
			ids = append(ids, id)
		}
	}
	return ids
}
