// Package markets is the read model of the resource markets: each market's
// supply, leases, utilization and posted price, how many open bids name
// it, and its recent transactions (allocations and lease releases), plus
// the clearing's cycle. It folds the market events with the market actor's
// own Evolve and the clearing events with the clearing's (package books),
// whose books say which bids are open; only the transactions are its own.
// Replaying the log gives it back exactly. A Mirror keeps a JetStream key-value
// bucket in step with it, for `nats kv watch market_state`.
package markets

import (
	"encoding/json"
	"time"

	"github.com/agora-econ/agora/events"
)

// MarketsState is every market, sorted by resource, and the number of the
// last cycle that changed anything (an idle cycle writes no event and so
// does not count).
type MarketsState struct {
	Cycle   uint64        `json:"cycle"`
	Markets []MarketState `json:"markets"`
}

// MarketState is one market as readers see it. Quantities are exact
// micro-units and money exact micro-credits; the JSON form (MarshalJSON)
// speaks decimal units and credits.
type MarketState struct {
	Resource    string
	SupplyUnits events.Units
	LeasedUnits events.Units
	// UtilizationPPM is leased / supply in parts per million, as of now
	// (a lease released since the last cycle counts).
	UtilizationPPM int64
	PriceMicros    events.Micros // the posted price per unit
	ActiveBids     int           // open bids whose bundle names the resource
	// RecentTransactions are the newest allocations and releases, newest
	// first, at most the configured history length.
	RecentTransactions []Transaction
}

// Kind names what a transaction did in a market.
type Kind string

const (
	// KindAllocation is a bid that won units of this resource in a cycle.
	KindAllocation Kind = "allocation"
	// KindRelease is an execution's units of this resource freed: it ended,
	// its lease timed out in a cycle, or its payment was refused.
	KindRelease Kind = "release"
)

// Transaction is one entry of a market's history.
type Transaction struct {
	Seq           uint64
	Time          time.Time
	Kind          Kind
	Cycle         uint64 // the cycle of an allocation or of an expiry; 0 for other releases
	BidID         string
	ExecutionID   string
	AgentID       string // the bidder, who paid
	BeneficiaryID string // who runs (the bidder unless it bid for another agent)
	Units         events.Units
	// AmountMicros is what the winning bid paid for its whole bundle (every
	// resource of it); zero for a release.
	AmountMicros events.Micros
	// PriceMicros is the posted price per unit of this resource when the
	// cycle cleared (before its move); zero for a release.
	PriceMicros events.Micros
	Reason      string // why units were released
	// UsedUnits is, on a release, what the execution used of this
	// resource as its end recorded it (usage.go); Measured says whether
	// it is known: the execution ended before its units were released
	// (not on an allocation, nor on a lease that expired or was refused
	// before the end).
	UsedUnits events.Units
	Measured  bool
}

// marketJSON is a market as the API and the key-value mirror show it.
type marketJSON struct {
	Resource           string             `json:"resource"`
	Supply             events.CreditsJSON `json:"supply"`
	Leased             events.CreditsJSON `json:"leased"`
	Utilization        events.CreditsJSON `json:"utilization"`
	Price              events.CreditsJSON `json:"price"`
	ActiveBids         int                `json:"active_bids"`
	RecentTransactions []Transaction      `json:"recent_transactions"`
}

// MarshalJSON writes the market with decimal numbers:
// {"resource":"cpu_seconds","supply":100,"leased":2,"utilization":0.02,
// "price":5,"active_bids":3,"recent_transactions":[...]}. Utilization is a
// fraction with at most six decimals.
func (m MarketState) MarshalJSON() ([]byte, error) {
	txs := m.RecentTransactions
	if txs == nil {
		txs = []Transaction{}
	}
	return json.Marshal(marketJSON{Resource: m.Resource, Supply: events.CreditsJSON(m.SupplyUnits),
		Leased: events.CreditsJSON(m.LeasedUnits), Utilization: events.CreditsJSON(m.UtilizationPPM),
		Price: events.CreditsJSON(m.PriceMicros), ActiveBids: m.ActiveBids, RecentTransactions: txs})
}

// UnmarshalJSON reads what MarshalJSON writes, exactly (no float64).
func (m *MarketState) UnmarshalJSON(data []byte) error {
	var j marketJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*m = MarketState{Resource: j.Resource, SupplyUnits: events.Units(j.Supply), LeasedUnits: events.Units(j.Leased),
		UtilizationPPM: int64(j.Utilization), PriceMicros: events.Micros(j.Price), ActiveBids: j.ActiveBids,
		RecentTransactions: j.RecentTransactions}
	return nil
}

type transactionJSON struct {
	Seq           uint64              `json:"seq"`
	Time          time.Time           `json:"time"`
	Kind          Kind                `json:"kind"`
	Cycle         uint64              `json:"cycle,omitzero"`
	BidID         string              `json:"bid_id,omitempty"`
	ExecutionID   string              `json:"execution_id"`
	AgentID       string              `json:"agent_id,omitempty"`
	BeneficiaryID string              `json:"beneficiary_id,omitempty"`
	Units         events.CreditsJSON  `json:"units"`
	Amount        events.CreditsJSON  `json:"amount,omitzero"`
	Price         events.CreditsJSON  `json:"price,omitzero"`
	Reason        string              `json:"reason,omitempty"`
	Used          *events.CreditsJSON `json:"used,omitempty"`
}

// MarshalJSON writes the transaction with decimal units and credits:
// {"seq":310,"time":"...","kind":"allocation","cycle":12,"bid_id":"b-01...",
// "execution_id":"x-b-01...","agent_id":"genesis","beneficiary_id":"genesis",
// "units":2,"amount":12,"price":5}; a release whose execution ended first
// also has "used".
func (t Transaction) MarshalJSON() ([]byte, error) {
	return json.Marshal(transactionJSON{Seq: t.Seq, Time: t.Time, Kind: t.Kind, Cycle: t.Cycle, BidID: t.BidID,
		ExecutionID: t.ExecutionID, AgentID: t.AgentID, BeneficiaryID: t.BeneficiaryID, Units: events.CreditsJSON(t.Units),
		Amount: events.CreditsJSON(t.AmountMicros), Price: events.CreditsJSON(t.PriceMicros), Reason: t.Reason,
		Used: usedJSON(t)})
}

// UnmarshalJSON reads what MarshalJSON writes, exactly.
func (t *Transaction) UnmarshalJSON(data []byte) error {
	var j transactionJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*t = Transaction{Seq: j.Seq, Time: j.Time, Kind: j.Kind, Cycle: j.Cycle, BidID: j.BidID, ExecutionID: j.ExecutionID,
		AgentID: j.AgentID, BeneficiaryID: j.BeneficiaryID, Units: events.Units(j.Units),
		AmountMicros: events.Micros(j.Amount), PriceMicros: events.Micros(j.Price), Reason: j.Reason,
		Measured: j.Used != nil}
	if j.Used != nil {
		t.UsedUnits = events.Units(*j.Used)
	}
	return nil
}

// usedJSON is a release's "used", absent when not measured.
func usedJSON(t Transaction) *events.CreditsJSON {
	if !t.Measured {
		return nil
	}
	u := events.CreditsJSON(t.UsedUnits)
	return &u
}
