package directory

import (
	"maps"
	"slices"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/projections"
)

// snapshotFormat is the version of what Snapshot writes (see
// projections.MarshalSnapshot). Format 2 added each agent's children: a
// format 1 snapshot would restore every agent childless, so it is refused
// and the directory folded again from the log.
const snapshotFormat = 2

// snapshot is the directory as JSON: one entry per agent ever created,
// dead or alive (its record, its account as the agent actor's snapshot
// holds it, and the ids of its open bid holds), and the totals. Its size is
// bounded by the agents ever created times the size of one record (a dead
// agent has no holds left; the children lists add one id per agent).
type snapshot struct {
	Agents []agentSnapshot `json:"agents"`
	Totals Totals          `json:"totals"`
}

type agentSnapshot struct {
	Agent    Agent         `json:"agent"`
	Account  agent.Account `json:"account"`
	BidHolds []string      `json:"bid_holds,omitempty"`
}

// Snapshot is the directory as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s := snapshot{Agents: []agentSnapshot{}, Totals: v.state.totals.clone()}
	for _, id := range v.state.ids {
		e := v.state.agents[id]
		s.Agents = append(s.Agents, agentSnapshot{Agent: e.agent(), Account: e.account,
			BidHolds: slices.Sorted(maps.Keys(e.bidHolds))})
	}
	return projections.MarshalSnapshot(snapshotFormat, s)
}

// Restore replaces the directory with the one a Snapshot holds. A snapshot
// of another format is refused with projections.ErrSnapshotFormat and the
// view is unchanged.
func (v *View) Restore(data []byte) error {
	var snap snapshot
	if err := projections.UnmarshalSnapshot(data, snapshotFormat, &snap); err != nil {
		return err
	}
	var s State
	s.init()
	// Sized once for every agent, rather than grown to it: a map grown
	// one key at a time may be up to half empty.
	s.agents = make(map[string]*entry, len(snap.Agents))
	s.ids = make([]string, 0, len(snap.Agents))
	for _, a := range snap.Agents {
		// The record's id is the key, the account's and the lists'; the
		// account holds what the record shares with it.
		id := a.Agent.ID
		a.Account.ID, a.Account.Status = id, a.Account.Status.Canonical()
		o := ownOf(a.Agent)
		o.CreationReason, o.DeathReason = s.reasons.Of(o.CreationReason), s.reasons.Of(o.DeathReason)
		e := &entry{account: a.Account, own: o}
		for _, h := range a.BidHolds {
			if e.bidHolds == nil {
				e.bidHolds = map[string]struct{}{}
			}
			e.bidHolds[h] = struct{}{}
		}
		s.agents[id] = e
		s.ids = insert(s.ids, id)
		if a.Agent.Status == StatusAlive {
			s.living = insert(s.living, id)
		}
	}
	s.totals = snap.Totals
	if s.totals.ExecutionsEnded == nil {
		s.totals.ExecutionsEnded = map[string]int64{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.state = s
	return nil
}
