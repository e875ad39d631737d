package history

import (
	"fmt"
	"slices"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// snapshotFormat is the version of what Snapshot writes (see
// projections.MarshalSnapshot). Format 2 keeps each agent's balance where
// format 1 kept its whole account: a format 1 snapshot is refused and the
// history folded again from the log.
const snapshotFormat = 2

// snapshot is the history as JSON: each agent's balance and kept
// transactions, the economy's recent transactions, and the transfers in
// flight and open holds the fold needs.
// Its size is bounded by the limits: at most the history length of
// transactions per agent seen, plus the recent length, plus what is in
// flight or held now.
type snapshot struct {
	History   int                          `json:"history_length_max"`
	Recent    int                          `json:"recent_length_max"`
	Balances  map[string]events.Micros     `json:"balances"`
	Agents    map[string][]Transaction     `json:"agents,omitempty"` // oldest first
	Economy   []Transaction                `json:"recent,omitempty"` // oldest first
	Transfers map[string]transferJSON      `json:"transfers,omitempty"`
	Holds     map[string]map[string]string `json:"holds,omitempty"` // agent -> hold -> purpose
}

type transferJSON struct {
	From         string `json:"from"`
	To           string `json:"to"`
	Memo         string `json:"memo,omitempty"`
	BounceReason string `json:"bounce_reason,omitempty"`
}

// oldestFirst is r's transactions, oldest first.
func oldestFirst(r *ring) []Transaction {
	out := r.Newest(0)
	slices.Reverse(out)
	return out
}

// Snapshot is the history as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	return projections.SnapshotLocked(&v.mu, snapshotFormat, v.state.snapshot)
}

// snapshot is s as its snapshot holds it.
func (s *State) snapshot() snapshot {
	l := s.limits
	if l == (limits{}) {
		l, _ = newLimits(nil) // the zero State's, as init sets them
	}
	out := snapshot{History: l.historyLengthMax, Recent: l.recentLengthMax,
		Balances: map[string]events.Micros{}, Agents: map[string][]Transaction{}, Economy: oldestFirst(&s.recent),
		Transfers: map[string]transferJSON{}, Holds: map[string]map[string]string{}}
	for id, h := range s.agents {
		out.Balances[id] = h.balance
		if h.txs.Len() > 0 {
			txs := newest(&h.txs, id, 0)
			slices.Reverse(txs)
			out.Agents[id] = txs
		}
	}
	for id, p := range s.transfers {
		out.Transfers[id] = transferJSON{From: p.from, To: p.to, Memo: p.memo, BounceReason: p.bounceReason}
	}
	for k, purpose := range s.holds {
		if out.Holds[k.agentID] == nil {
			out.Holds[k.agentID] = map[string]string{}
		}
		out.Holds[k.agentID][k.holdID] = purpose
	}
	return out
}

// Restore replaces the history with the one a Snapshot holds. A snapshot of
// another format, or kept with other limits (the configuration changed),
// is refused with projections.ErrSnapshotFormat and the view is unchanged.
func (v *View) Restore(data []byte) error {
	return projections.RestoreLocked(&v.mu, data, snapshotFormat, v.restore)
}

// restore replaces v's state with the one snap holds; it runs under v's lock.
func (v *View) restore(snap snapshot) error {
	s := State{limits: v.state.limits}
	s.init()
	// Sized once for every agent, rather than grown to it: a map grown
	// one key at a time may be up to half empty.
	s.agents = make(map[string]*agentHistory, len(snap.Balances))
	if snap.History != s.limits.historyLengthMax || snap.Recent != s.limits.recentLengthMax {
		return fmt.Errorf("%w: kept %d transactions per agent and %d recent, this view keeps %d and %d",
			projections.ErrSnapshotFormat, snap.History, snap.Recent, s.limits.historyLengthMax, s.limits.recentLengthMax)
	}
	for id, balance := range snap.Balances {
		s.agents[id] = &agentHistory{balance: balance}
	}
	for id, txs := range snap.Agents {
		h, ok := s.agents[id]
		if !ok {
			return fmt.Errorf("%w: transactions of agent %s, whose balance it does not hold", projections.ErrSnapshotFormat, id)
		}
		// The ring is as long as what it holds: most agents of a long run
		// are dead and hold a few transactions for ever.
		h.txs.Reserve(min(len(txs), s.limits.historyLengthMax))
		for _, t := range txs {
			t.Kind, t.Memo = t.Kind.canonical(), s.memos.Of(t.Memo)
			h.txs.Push(keptOf(t), s.limits.historyLengthMax)
		}
	}
	for _, t := range snap.Economy {
		t.Kind = t.Kind.canonical()
		s.recent.Push(t, s.limits.recentLengthMax)
	}
	for id, p := range snap.Transfers {
		s.transfers[id] = pendingTransfer{from: p.From, to: p.To, memo: p.Memo, bounceReason: p.BounceReason}
	}
	for agentID, holds := range snap.Holds {
		for holdID, purpose := range holds {
			s.holds[holdKey{agentID, holdID}] = purpose
		}
	}
	v.state = s
	return nil
}
