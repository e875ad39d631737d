// Package clearing is the bid book of a pool and its allocation cycle: the
// only writer of leases. Decide and Evolve are pure; time arrives in
// commands.
package clearing

import (
	"encoding/json"
	"time"

	"github.com/agora-econ/agora/events"
)

// Bid is an open bid.
type Bid struct {
	ID            string                  `json:"id"`
	AgentID       string                  `json:"agent_id"`
	BeneficiaryID string                  `json:"beneficiary_id,omitempty"`
	Resources     map[string]events.Units `json:"resources"`
	AmountMicros  events.Micros           `json:"amount_micros"`
	Payload       string                  `json:"payload,omitempty"`
	PlacedAt      time.Time               `json:"placed_at"`
	// units is Resources laid out for a cycle (cycleBids), set when the
	// book lists the bid or a snapshot brings it back: one small array a
	// cycle reads at once, where a map of its own per bid, spread over the
	// heap, made the cycle's lookups most of its cost. A bid made
	// otherwise has none and is read from Resources.
	units []resourceUnits
}

// UnmarshalJSON reads a bid as a snapshot holds it, its bundle laid out
// for a cycle as a listing lays it out.
func (b *Bid) UnmarshalJSON(data []byte) error {
	type fields Bid // without this method
	var f fields
	if err := json.Unmarshal(data, &f); err != nil {
		return err
	}
	*b = Bid(f)
	b.units = nil
	for r, u := range b.Resources {
		b.units = append(b.units, resourceUnits{name: r, units: u})
	}
	return nil
}

// resourceUnits is the units a bid asks of one resource.
type resourceUnits struct {
	name  string
	units events.Units
}

// Runner is who runs when the bid wins: the beneficiary, or the bidder.
func (b Bid) Runner() string {
	if b.BeneficiaryID != "" {
		return b.BeneficiaryID
	}
	return b.AgentID
}

// Execution is a won bid whose leases are held until it ends.
type Execution struct {
	ID            string                  `json:"id"`
	BidID         string                  `json:"bid_id"`
	AgentID       string                  `json:"agent_id"`
	BeneficiaryID string                  `json:"beneficiary_id"`
	Resources     map[string]events.Units `json:"resources"`
	AmountMicros  events.Micros           `json:"amount_micros"`
	// Payload is the bid's, handed to every run of the execution.
	Payload string `json:"payload,omitempty"`
	Cycle   uint64 `json:"cycle"`
	// At is when the lease began: the cycle that won it, or the last
	// renewal (a run again after a stop or a crash).
	At time.Time `json:"at"`
}

// Market is the clearing's view of one market.
type Market struct {
	events.MarketTerms
	LeasedUnits events.Units `json:"leased_units"`
	// Retired is a market the configuration no longer has but whose leases
	// are still held: it takes no bid and wins none, and leaves the book
	// when its last lease is released.
	Retired bool `json:"retired,omitempty"`
}

// Book is the state of a pool: nothing but the fold of its events.
type Book struct {
	Pool                string               `json:"pool"`
	Markets             map[string]Market    `json:"markets,omitempty"`
	Rules               events.PriceRules    `json:"rules"`
	LeaseTimeoutSeconds int64                `json:"lease_timeout_seconds"`
	AllocationsMax      int                  `json:"allocations_max"`
	Bids                map[string]Bid       `json:"bids,omitempty"`
	Executions          map[string]Execution `json:"executions,omitempty"`
	Cycle               uint64               `json:"cycle"`
}

// New is a pool before its first event.
func New(pool string) Book {
	return Book{Pool: pool, Markets: map[string]Market{}, Bids: map[string]Bid{}, Executions: map[string]Execution{}}
}

// HasOpenBid reports whether agentID has an open bid in the book, as its
// bidder or as its beneficiary: a future execution ("no bid, no future",
// SPEC.md 1.4). It walks every open bid, so callers ask it only of an agent
// about to die.
func (b Book) HasOpenBid(agentID string) bool {
	for _, bid := range b.Bids {
		if bid.AgentID == agentID || bid.BeneficiaryID == agentID {
			return true
		}
	}
	return false
}

// Lease returns the running execution id and the time its lease ends (zero
// without a lease timeout): the executor starts an execution only while
// its lease is held, and never past its end.
func (b Book) Lease(executionID string) (Execution, time.Time, bool) {
	x, ok := b.Executions[executionID]
	if !ok {
		return Execution{}, time.Time{}, false
	}
	if b.LeaseTimeoutSeconds <= 0 {
		return x, time.Time{}, true
	}
	return x, x.At.Add(time.Duration(b.LeaseTimeoutSeconds) * time.Second), true
}

// Configured reports whether the book has markets.
func (b Book) Configured() bool { return len(b.Markets) > 0 }

// open returns the market name if it takes bids.
func (b Book) open(name string) (Market, bool) {
	m, ok := b.Markets[name]
	return m, ok && !m.Retired
}

// Evolve applies one event; it may reuse the book it is given.
func Evolve(b Book, e events.Event) Book {
	if b.Markets == nil {
		b.Markets = map[string]Market{}
	}
	if b.Bids == nil {
		b.Bids = map[string]Bid{}
	}
	if b.Executions == nil {
		b.Executions = map[string]Execution{}
	}
	switch e := e.(type) {
	case events.BookConfigured:
		markets := make(map[string]Market, len(e.Markets))
		for name, terms := range e.Markets {
			m := Market{MarketTerms: terms, LeasedUnits: b.Markets[name].LeasedUnits}
			if old, ok := b.Markets[name]; ok && !old.Retired {
				m.PriceMicros = clamp(old.PriceMicros, terms.MinPriceMicros, terms.MaxPriceMicros)
			}
			markets[name] = m
		}
		for name, old := range b.Markets {
			if _, kept := markets[name]; !kept && old.LeasedUnits > 0 {
				old.Retired = true
				markets[name] = old
			}
		}
		b.Markets, b.Rules = markets, e.Rules
		b.LeaseTimeoutSeconds, b.AllocationsMax = e.LeaseTimeoutSeconds, e.AllocationsMax
	case events.BidListed:
		res, units := b.bundle(e.Resources)
		b.Bids[e.BidID] = Bid{ID: e.BidID, AgentID: e.AgentID, BeneficiaryID: e.BeneficiaryID,
			Resources: res, AmountMicros: e.AmountMicros, Payload: e.Payload, PlacedAt: e.PlacedAt, units: units}
	case events.BidRaised:
		if bid, ok := b.Bids[e.BidID]; ok {
			bid.AmountMicros = e.AmountMicros
			b.Bids[e.BidID] = bid
		}
	case events.BidWithdrawn:
		delete(b.Bids, e.BidID)
	case events.BidsCancelled:
		for _, id := range e.BidIDs {
			delete(b.Bids, id)
		}
		for _, ref := range e.Sponsored {
			delete(b.Bids, ref.BidID)
		}
	case events.CycleCleared:
		for _, id := range e.Expired {
			b = b.release(id)
		}
		for _, a := range e.Allocations {
			delete(b.Bids, a.BidID)
			b.Executions[a.ExecutionID] = Execution{ID: a.ExecutionID, BidID: a.BidID, AgentID: a.AgentID,
				BeneficiaryID: a.BeneficiaryID, Resources: a.Resources, AmountMicros: a.AmountMicros, Payload: a.Payload,
				Cycle: e.Cycle, At: e.At}
			for r, u := range a.Resources {
				m := b.Markets[r]
				m.LeasedUnits += u
				b.Markets[r] = m
			}
		}
		for r, o := range e.Markets {
			if m, ok := b.Markets[r]; ok {
				m.PriceMicros = o.NewPriceMicros
				b.Markets[r] = m
			}
		}
		b.Cycle = e.Cycle
	case events.LeaseRenewed:
		if x, ok := b.Executions[e.ExecutionID]; ok {
			x.At = e.At
			b.Executions[e.ExecutionID] = x
		}
	case events.ExecutionReleased:
		b = b.release(e.ExecutionID)
	}
	return b
}

// bundle is a listed bid's resources as the book keeps them: a map of its
// own whose keys are the book's own market names, not the decoded copies
// of each bid, and the same laid out for a cycle (Bid.units). A cycle
// compares every open bid's resource names with its markets', which
// strings that are one compare at once, where 10,000 copies spread over
// the heap made those compares most of a cycle.
func (b Book) bundle(res map[string]events.Units) (map[string]events.Units, []resourceUnits) {
	if res == nil {
		return nil, nil
	}
	out := make(map[string]events.Units, len(res))
	units := make([]resourceUnits, 0, len(res))
	for r, u := range res {
		for name := range b.Markets {
			if name == r {
				r = name
				break
			}
		}
		out[r] = u
		units = append(units, resourceUnits{name: r, units: u})
	}
	return out, units
}

func (b Book) release(executionID string) Book {
	x, ok := b.Executions[executionID]
	if !ok {
		return b
	}
	for r, u := range x.Resources {
		m := b.Markets[r]
		m.LeasedUnits -= u
		if m.Retired && m.LeasedUnits == 0 {
			delete(b.Markets, r)
			continue
		}
		b.Markets[r] = m
	}
	delete(b.Executions, executionID)
	return b
}

func clamp(p, lo, hi events.Micros) events.Micros {
	return max(lo, min(hi, p))
}
