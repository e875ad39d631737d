package market

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// The attention market is not cleared with bundles: the slot leases its
// one unit to the prompt it activates (Lease), the lease is released when
// the human responds (ReleaseLease), and its price follows its own
// utilization at every tick of the clearing schedule (Reprice), by the
// rules the clearing applies to the other markets.

// Lease leases Units to ID outside the clearing's cycles (sent by the
// attention manager when a prompt activates).
type Lease struct {
	ID      string
	Units   events.Units
	Trigger events.Trigger
}

// Reprice moves the posted price with the market's utilization now, by
// Rules: a cycle of this market's own (its Cycle counts them).
type Reprice struct {
	Rules events.PriceRules
}

func (Lease) marketCommand()   {}
func (Reprice) marketCommand() {}

func (c Lease) Triggered() events.Trigger { return c.Trigger }

func decideLease(m Market, c Lease) (events.Event, error) {
	if !m.Open() {
		return nil, fmt.Errorf("%w: %s", ErrNotOpen, m.Resource)
	}
	if err := events.ValidateID(c.ID); err != nil {
		return nil, err
	}
	if _, held := m.Leases[c.ID]; held {
		return nil, nil // leased already
	}
	if c.Units <= 0 || m.LeasedUnits+c.Units > m.SupplyUnits {
		return nil, fmt.Errorf("%w: %s would lease %s more of %s, %s leased", ErrOverSupply, m.Resource, c.Units, m.SupplyUnits, m.LeasedUnits)
	}
	return events.LeaseGranted{ExecutionID: c.ID, Units: c.Units, Trigger: c.Trigger}, nil
}

// decideReprice writes a cycle of this market's own when its price moves,
// nothing when it stays (at a bound, or between the marks).
func decideReprice(m Market, c Reprice) (events.Event, error) {
	if !m.Open() {
		return nil, fmt.Errorf("%w: %s", ErrNotOpen, m.Resource)
	}
	util := UtilizationPPM(m.LeasedUnits, m.SupplyUnits)
	terms := events.MarketTerms{SupplyUnits: m.SupplyUnits, PriceMicros: m.PriceMicros, MinPriceMicros: m.MinPriceMicros,
		MaxPriceMicros: m.MaxPriceMicros}
	next := NextPrice(terms, c.Rules, util)
	if next == m.PriceMicros {
		return nil, nil
	}
	return events.MarketCleared{Cycle: m.Cycle + 1, LeasedUnits: m.LeasedUnits, SupplyUnits: m.SupplyUnits,
		UtilizationPPM: util, PriceMicros: m.PriceMicros, NewPriceMicros: next}, nil
}

// UtilizationPPM is leased / supply in parts per million.
func UtilizationPPM(leased, supply events.Units) int64 {
	if supply <= 0 {
		return 0
	}
	// leased <= supply <= 1e18, so leased*1e6 may overflow int64: divide
	// first when it would.
	if leased > 9_000_000_000_000 {
		return int64(leased / (supply / 1_000_000))
	}
	return int64(leased) * 1_000_000 / int64(supply)
}

// NextPrice moves a price with its market's utilization: above the high
// mark it rises by the up step, below the low mark it falls by the down
// step, always within the market's bounds and by at least one micro-credit
// so that small prices move too.
func NextPrice(m events.MarketTerms, r events.PriceRules, utilPPM int64) events.Micros {
	p := m.PriceMicros
	switch {
	case utilPPM > r.HighMarkPPM:
		up := mulPPM(p, r.StepUpPPM)
		p += max(up, 1)
	case utilPPM < r.LowMarkPPM:
		down := mulPPM(p, r.StepDownPPM)
		p -= max(down, 1)
	}
	return max(m.MinPriceMicros, min(m.MaxPriceMicros, p))
}

func mulPPM(p events.Micros, ppm int64) events.Micros {
	// p <= 1e18 and ppm <= 1e6: split to stay inside int64.
	return p/1_000_000*events.Micros(ppm) + p%1_000_000*events.Micros(ppm)/1_000_000
}
