package history

import (
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// ring is the economy's recent-transactions buffer.
type ring = projections.Ring[Transaction]

// agentRing is an agent's recent-transactions buffer. Its entries are
// transactions without their agent, which the agent's key names already:
// most agents of a long run are dead and keep their last transactions for
// ever.
type agentRing = projections.Ring[kept]

// kept is a Transaction as an agent's history keeps it: every field but
// the agent's id, its time an instant (a third of a time.Time).
type kept struct {
	Seq                uint64
	Time               projections.Instant
	EventID            string
	Kind               Kind
	CounterpartyID     string
	AmountMicros       events.Micros
	Reference          string
	Memo               string
	BalanceAfterMicros events.Micros
}

func keptOf(t Transaction) kept {
	return kept{Seq: t.Seq, Time: projections.InstantOf(t.Time), EventID: t.EventID, Kind: t.Kind, CounterpartyID: t.CounterpartyID,
		AmountMicros: t.AmountMicros, Reference: t.Reference, Memo: t.Memo, BalanceAfterMicros: t.BalanceAfterMicros}
}

// transaction is k as agentID's transaction.
func (k kept) transaction(agentID string) Transaction {
	return Transaction{Seq: k.Seq, Time: k.Time.Time(), EventID: k.EventID, Kind: k.Kind, AgentID: agentID,
		CounterpartyID: k.CounterpartyID, AmountMicros: k.AmountMicros, Reference: k.Reference, Memo: k.Memo,
		BalanceAfterMicros: k.BalanceAfterMicros}
}

// newest is up to limit of the agent's transactions, newest first (limit
// <= 0: all).
func newest(r *agentRing, agentID string, limit int) []Transaction {
	ks := r.Newest(limit)
	out := make([]Transaction, len(ks))
	for i, k := range ks {
		out[i] = k.transaction(agentID)
	}
	return out
}
