package directory

import (
	"maps"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Standing is what the end-of-cycle rule (SPEC.md 1.3 step 5) reads of an
// agent: whether it lives, what it holds and has available, and its open
// holds (bids and prompts) by id with what each reserves: its account's,
// folded with agent.Evolve. The rule's candidates are checked again by each account, so
// a standing a record behind the actor costs at most a refused Die.
type Standing struct {
	ID            string
	Alive         bool
	BalanceMicros events.Micros
	HeldMicros    events.Micros
	Holds         map[string]events.Micros
	// ExecutionsRunning counts the executions it runs, started and not
	// ended.
	ExecutionsRunning int
}

// Available is what the agent may still commit: balance minus held.
func (s Standing) Available() events.Micros { return s.BalanceMicros - s.HeldMicros }

// Standings lists every agent's standing, dead or alive, in ascending order
// of id. The holds are copies the caller may keep.
func (v *View) Standings() []Standing {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.state.Standings()
}

// Standings lists every agent's standing (see View.Standings).
func (s *State) Standings() []Standing {
	out := make([]Standing, 0, len(s.ids))
	for _, id := range s.ids {
		e := s.agents[id]
		a := &e.account
		out = append(out, Standing{ID: id, Alive: a.Status == agent.StatusAlive, BalanceMicros: a.BalanceMicros,
			HeldMicros: a.HeldMicros, Holds: maps.Clone(a.Holds), ExecutionsRunning: len(a.Executions)})
	}
	return out
}
