// Package bidbook is the public bid book: every open bid of the economy, in
// the order the clearing walks them (amount, highest first, then time
// placed, then id), paged with a cursor that stays valid while bids come
// and go. It folds the clearing events with clearing.Evolve, the clearing
// actor's own fold (package books), so replaying the log gives it back
// exactly, and it holds exactly the bids the clearing's own book holds.
package bidbook

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// StatusOpen is the status of every bid in the book: a bid leaves the book
// when it wins, is withdrawn, or its agent dies.
const StatusOpen = "open"

// Bid is one open bid. The bid's payload is not part of it: the payload is
// the bidder's note to its own next execution, not public.
type Bid struct {
	ID            string
	Pool          string // the clearing pool whose book lists it
	AgentID       string
	BeneficiaryID string // empty: the bidder runs when it wins
	Resources     map[string]events.Units
	AmountMicros  events.Micros
	PlacedAt      time.Time
}

// Runner is who runs when the bid wins: the beneficiary, or the bidder.
func (b Bid) Runner() string {
	if b.BeneficiaryID != "" {
		return b.BeneficiaryID
	}
	return b.AgentID
}

// Names reports whether the bid's bundle asks for resource.
func (b Bid) Names(resource string) bool {
	_, ok := b.Resources[resource]
	return ok
}

// Order is the clearing order of bids, clearing.Order itself, so that the
// book pages exactly in the order the next cycle walks.
func Order(x, y Bid) int { return clearing.Order(x.key(), y.key()) }

func (b Bid) key() clearing.Bid {
	return clearing.Bid{ID: b.ID, AmountMicros: b.AmountMicros, PlacedAt: b.PlacedAt}
}

func (b Bid) clone() Bid {
	b.Resources = maps.Clone(b.Resources)
	return b
}

// bidJSON is a bid as the API shows it: credits and units as decimal JSON
// numbers, exact.
type bidJSON struct {
	BidID         string                        `json:"bid_id"`
	Pool          string                        `json:"pool,omitempty"`
	AgentID       string                        `json:"agent_id"`
	BeneficiaryID string                        `json:"beneficiary_id,omitempty"`
	Resources     map[string]events.CreditsJSON `json:"resources"`
	Amount        events.CreditsJSON            `json:"amount"`
	PlacedAt      time.Time                     `json:"placed_at"`
	Status        string                        `json:"status"`
}

// MarshalJSON writes the bid with amounts in credits and quantities in
// units: {"bid_id":"b-01...","agent_id":"genesis","resources":
// {"cpu_seconds":2,"memory_mb":128},"amount":12.5,"placed_at":"...",
// "status":"open"}.
func (b Bid) MarshalJSON() ([]byte, error) {
	res := make(map[string]events.CreditsJSON, len(b.Resources))
	for r, u := range b.Resources {
		res[r] = events.CreditsJSON(u)
	}
	return json.Marshal(bidJSON{BidID: b.ID, Pool: b.Pool, AgentID: b.AgentID, BeneficiaryID: b.BeneficiaryID,
		Resources: res, Amount: events.CreditsJSON(b.AmountMicros), PlacedAt: b.PlacedAt, Status: StatusOpen})
}

// UnmarshalJSON reads what MarshalJSON writes, exactly (no float64).
func (b *Bid) UnmarshalJSON(data []byte) error {
	var j bidJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	res := make(map[string]events.Units, len(j.Resources))
	for r, u := range j.Resources {
		res[r] = events.Units(u)
	}
	*b = Bid{ID: j.BidID, Pool: j.Pool, AgentID: j.AgentID, BeneficiaryID: j.BeneficiaryID,
		Resources: res, AmountMicros: events.Micros(j.Amount), PlacedAt: j.PlacedAt}
	return nil
}
