package events

import "time"

// The events of a clearing pool (the bid book and its allocation cycle), on
// events.clearing.<pool>.<type>.

// MarketTerms are what the clearing knows of one market: how much there is
// and what it costs.
type MarketTerms struct {
	SupplyUnits    Units  `json:"supply_units"`
	PriceMicros    Micros `json:"price_micros"`
	MinPriceMicros Micros `json:"min_price_micros"`
	MaxPriceMicros Micros `json:"max_price_micros"`
}

// PriceRules move a price after each cycle with its market's utilization.
// Fractions are in parts per million.
type PriceRules struct {
	HighMarkPPM int64 `json:"high_mark_ppm"`
	LowMarkPPM  int64 `json:"low_mark_ppm"`
	StepUpPPM   int64 `json:"step_up_ppm"`
	StepDownPPM int64 `json:"step_down_ppm"`
}

// BookConfigured sets the markets of the pool and its rules. On a running
// book it changes supply and bounds; posted prices stay (clamped).
type BookConfigured struct {
	Markets             map[string]MarketTerms `json:"markets"`
	Rules               PriceRules             `json:"rules"`
	LeaseTimeoutSeconds int64                  `json:"lease_timeout_seconds"`
	AllocationsMax      int                    `json:"allocations_max"`
}

// BidListed puts a bid in the book. Its credits are already held by the
// bidder's account (the hold of the same id).
type BidListed struct {
	BidID         string           `json:"bid_id"`
	AgentID       string           `json:"agent_id"`
	BeneficiaryID string           `json:"beneficiary_id,omitempty"`
	Resources     map[string]Units `json:"resources"`
	AmountMicros  Micros           `json:"amount_micros"`
	Payload       string           `json:"payload,omitempty"`
	PlacedAt      time.Time        `json:"placed_at"`
	Trigger       Trigger          `json:"trigger"`
}

// BidRejected refuses to list a bid whose hold was placed (the price rose
// past it meanwhile, say); the hold is voided.
type BidRejected struct {
	BidID        string  `json:"bid_id"`
	AgentID      string  `json:"agent_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Reason       string  `json:"reason"`
	Trigger      Trigger `json:"trigger"`
}

// BidRaised moves a bid up: a higher amount, already held.
type BidRaised struct {
	BidID        string  `json:"bid_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Trigger      Trigger `json:"trigger"`
}

// BidWithdrawn takes a bid out of the book at its bidder's request; its hold
// is voided.
type BidWithdrawn struct {
	BidID        string `json:"bid_id"`
	AgentID      string `json:"agent_id"`
	AmountMicros Micros `json:"amount_micros"`
	Reason       string `json:"reason"`
}

// BidsCancelled takes a dead agent's bids out of the book: its own (their
// holds were voided by the death itself) and those others placed for it to
// run (Sponsored: their sponsors' holds are voided).
type BidsCancelled struct {
	AgentID   string   `json:"agent_id"`
	BidIDs    []string `json:"bid_ids,omitempty"`
	Sponsored []BidRef `json:"sponsored,omitempty"`
	Trigger   Trigger  `json:"trigger"`
}

// BidRef names a bid and its bidder.
type BidRef struct {
	BidID   string `json:"bid_id"`
	AgentID string `json:"agent_id"`
}

// Allocation is a winning bid: it becomes an execution.
type Allocation struct {
	BidID         string           `json:"bid_id"`
	ExecutionID   string           `json:"execution_id"`
	AgentID       string           `json:"agent_id"`
	BeneficiaryID string           `json:"beneficiary_id"`
	Resources     map[string]Units `json:"resources"`
	AmountMicros  Micros           `json:"amount_micros"`
	Payload       string           `json:"payload,omitempty"`
}

// MarketOutcome is one market's figures after a cycle.
type MarketOutcome struct {
	LeasedUnits    Units  `json:"leased_units"`
	UtilizationPPM int64  `json:"utilization_ppm"`
	PriceMicros    Micros `json:"price_micros"`
	NewPriceMicros Micros `json:"new_price_micros"`
}

// CycleCleared is one allocation cycle: executions whose lease timed out
// are released, then the open bids are walked in order (amount, time, id)
// and every bid whose whole bundle fits in what is left of each market's
// supply wins; then each market's price moves with its utilization.
type CycleCleared struct {
	Cycle       uint64                   `json:"cycle"`
	At          time.Time                `json:"at"`
	Expired     []string                 `json:"expired,omitempty"`
	Allocations []Allocation             `json:"allocations,omitempty"`
	Markets     map[string]MarketOutcome `json:"markets"`
	OpenBids    int                      `json:"open_bids"`
}

// ExecutionReleased ends an execution's leases: it finished, timed out, or
// its payment was refused.
type ExecutionReleased struct {
	ExecutionID string           `json:"execution_id"`
	BidID       string           `json:"bid_id"`
	Resources   map[string]Units `json:"resources"`
	Reason      string           `json:"reason"`
	Trigger     Trigger          `json:"trigger,omitzero"`
}

func (BookConfigured) EventType() string    { return "book_configured" }
func (BidListed) EventType() string         { return "bid_listed" }
func (BidRejected) EventType() string       { return "bid_rejected" }
func (BidRaised) EventType() string         { return "bid_raised" }
func (BidWithdrawn) EventType() string      { return "bid_withdrawn" }
func (BidsCancelled) EventType() string     { return "bids_cancelled" }
func (CycleCleared) EventType() string      { return "cycle_cleared" }
func (ExecutionReleased) EventType() string { return "execution_released" }

func (BookConfigured) EventSchema() int    { return 1 }
func (BidListed) EventSchema() int         { return 1 }
func (BidRejected) EventSchema() int       { return 1 }
func (BidRaised) EventSchema() int         { return 1 }
func (BidWithdrawn) EventSchema() int      { return 1 }
func (BidsCancelled) EventSchema() int     { return 1 }
func (CycleCleared) EventSchema() int      { return 1 }
func (ExecutionReleased) EventSchema() int { return 1 }

func init() {
	register(BookConfigured{}, BidListed{}, BidRejected{}, BidRaised{}, BidWithdrawn{},
		BidsCancelled{}, CycleCleared{}, ExecutionReleased{})
}
