package markets

import (
	"fmt"
	"maps"
	"slices"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// snapshotFormat is the version of what Snapshot writes (see
// projections.MarshalSnapshot). Format 2 added what the running
// executions that ended used: a format 1 snapshot would lose it.
//
// Format 3 added the prompts waiting in the attention slot (prompts).
const snapshotFormat = 3

// snapshot is the read model as JSON: each market's own state (as the
// market actor's snapshot holds it), its recent transactions (at most the
// history length each) and the executions holding its units, and each
// clearing pool's book (as the clearing actor's snapshot holds it). Its
// size is bounded by those: markets x (history length + running
// executions), plus the books' open bids and executions. The open-bid
// counts are counted again from the books on Restore.
type snapshot struct {
	HistoryLength int                      `json:"history_length"`
	Markets       []marketSnapshot         `json:"markets"`
	Books         map[string]clearing.Book `json:"books"`
}

type marketSnapshot struct {
	Market market.Market `json:"market"`
	// Recent are the transactions, oldest first.
	Recent  []Transaction            `json:"recent,omitempty"`
	Running map[string]executionJSON `json:"running,omitempty"`
	// Prompts are the prompts waiting in the attention slot, for the
	// attention market.
	Prompts []string `json:"prompts,omitempty"`
}

type executionJSON struct {
	BidID         string        `json:"bid_id,omitempty"`
	AgentID       string        `json:"agent_id,omitempty"`
	BeneficiaryID string        `json:"beneficiary_id,omitempty"`
	Used          *events.Units `json:"used,omitempty"`
}

// Snapshot is the read model as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	return projections.SnapshotLocked(&v.mu, snapshotFormat, v.state.snapshot)
}

// snapshot is s as its snapshot holds it.
func (s *State) snapshot() snapshot {
	length := s.historyLength
	if length == 0 {
		length = HistoryLengthDefault // the zero State's, as init sets it
	}
	out := snapshot{HistoryLength: length, Markets: []marketSnapshot{}, Books: s.books.All()}
	for _, r := range slices.Sorted(maps.Keys(s.entries)) {
		e := s.entries[r]
		recent := e.recent.Newest(0)
		slices.Reverse(recent)
		m := marketSnapshot{Market: e.market, Recent: recent, Running: map[string]executionJSON{},
			Prompts: slices.Sorted(maps.Keys(e.prompts))}
		for id, x := range e.running {
			j := executionJSON{BidID: x.bidID, AgentID: x.agentID, BeneficiaryID: x.beneficiaryID}
			if x.ended {
				used := x.used
				j.Used = &used
			}
			m.Running[id] = j
		}
		out.Markets = append(out.Markets, m)
	}
	return out
}

// Restore replaces the read model with the one a Snapshot holds. A
// snapshot of another format, or kept with another history length (the
// configuration changed), is refused with projections.ErrSnapshotFormat
// and the view is unchanged: folding the log again gives the history the
// new length.
func (v *View) Restore(data []byte) error {
	return projections.RestoreLocked(&v.mu, data, snapshotFormat, v.restore)
}

// restore replaces v's state with the one snap holds; it runs under v's lock.
func (v *View) restore(snap snapshot) error {
	length := v.state.historyLength
	if length == 0 {
		length = HistoryLengthDefault
	}
	if snap.HistoryLength != length {
		return fmt.Errorf("%w: kept %d transactions per market, this view keeps %d", projections.ErrSnapshotFormat, snap.HistoryLength, length)
	}
	// The clock goes on from where it is, so that the mirror sees every
	// market restored as changed and versions only grow.
	s := State{historyLength: length, clock: v.state.clock}
	s.init()
	for _, m := range snap.Markets {
		e := s.touch(m.Market.Resource)
		e.market = m.Market
		for _, t := range m.Recent {
			e.recent.Push(t, length)
		}
		for id, x := range m.Running {
			r := execution{bidID: x.BidID, agentID: x.AgentID, beneficiaryID: x.BeneficiaryID}
			if x.Used != nil {
				r.used, r.ended = *x.Used, true
			}
			e.running[id] = r
		}
		if len(m.Prompts) > 0 {
			e.prompts = map[string]struct{}{}
			for _, id := range m.Prompts {
				e.prompts[id] = struct{}{}
			}
		}
	}
	if snap.Books == nil {
		snap.Books = map[string]clearing.Book{}
	}
	s.books.Set(snap.Books)
	s.recount()
	v.state = s
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
	return nil
}
