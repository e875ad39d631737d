// Package market is one resource market: its supply, the leases of running
// executions and its posted price. It mirrors, for its resource, what the
// clearing decided; its own fold is what the market state shows and what
// the audit checks (leased <= supply).
package market

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/agora-econ/agora/events"
)

// Market is the state of one market: nothing but the fold of its events.
type Market struct {
	Resource       string                  `json:"resource"`
	SupplyUnits    events.Units            `json:"supply_units"`
	LeasedUnits    events.Units            `json:"leased_units"`
	Leases         map[string]events.Units `json:"leases,omitempty"`
	PriceMicros    events.Micros           `json:"price_micros"`
	MinPriceMicros events.Micros           `json:"min_price_micros"`
	MaxPriceMicros events.Micros           `json:"max_price_micros"`
	Cycle          uint64                  `json:"cycle"`
	UtilizationPPM int64                   `json:"utilization_ppm"`
}

// New is a market before its first event.
func New(resource string) Market { return Market{Resource: resource} }

// Open reports whether the market was configured.
func (m Market) Open() bool { return m.SupplyUnits > 0 }

// Rejections of the market decider.
var (
	// ErrNotOpen: the market was never configured.
	ErrNotOpen = errors.New("market not open")
	// ErrOverSupply: applying the cycle would lease more than the supply.
	// The clearing never decides that; the market refuses it regardless.
	ErrOverSupply = errors.New("leases would exceed supply")
	// ErrInvalidTerms: supply or prices out of range.
	ErrInvalidTerms = errors.New("invalid market terms")
	// ErrUnknownCommand: a message the market does not understand.
	ErrUnknownCommand = errors.New("unknown command")
)

// Configure opens the market or changes its supply and bounds.
type Configure struct {
	Terms events.MarketTerms
}

// ApplyCycle records a cycle's outcome for this market (sent by the
// clearing manager).
type ApplyCycle struct {
	Cycle   uint64
	Expired []string
	Granted []events.Lease
	Outcome events.MarketOutcome
	Trigger events.Trigger
}

// ReleaseLease frees an execution's units (sent by the clearing manager).
type ReleaseLease struct {
	ExecutionID string
	Reason      string
	Trigger     events.Trigger
}

// Command is a command of a market: Decide takes nothing else, and the
// shell refuses any other (runtime.ErrWrongCommand).
type Command interface{ marketCommand() }

func (Configure) marketCommand()    {}
func (ApplyCycle) marketCommand()   {}
func (ReleaseLease) marketCommand() {}

// The commands the clearing manager sends carry its trigger: the shell
// answers a redelivered one as already applied (events.Triggered).

func (c ApplyCycle) Triggered() events.Trigger   { return c.Trigger }
func (c ReleaseLease) Triggered() events.Trigger { return c.Trigger }

// Decide answers a command with one event, nothing, or a rejection. A
// redelivered command of the clearing manager never reaches it: the shell
// answers that from its marks.
func Decide(m Market, cmd Command) (events.Event, error) {
	switch c := cmd.(type) {
	case Configure:
		t := c.Terms
		if t.SupplyUnits <= 0 || t.MinPriceMicros <= 0 || t.MinPriceMicros > t.PriceMicros || t.PriceMicros > t.MaxPriceMicros {
			return nil, fmt.Errorf("%w: %+v", ErrInvalidTerms, t)
		}
		if t.SupplyUnits < m.LeasedUnits {
			return nil, fmt.Errorf("%w: %s supply %s is below the %s units leased now; lower it once those executions end",
				ErrInvalidTerms, m.Resource, t.SupplyUnits, m.LeasedUnits)
		}
		price := t.PriceMicros
		if m.Open() {
			price = max(t.MinPriceMicros, min(t.MaxPriceMicros, m.PriceMicros))
		}
		if m.Open() && m.SupplyUnits == t.SupplyUnits && m.MinPriceMicros == t.MinPriceMicros &&
			m.MaxPriceMicros == t.MaxPriceMicros && m.PriceMicros == price {
			return nil, nil
		}
		return events.MarketConfigured{Resource: m.Resource, SupplyUnits: t.SupplyUnits, PriceMicros: price,
			MinPriceMicros: t.MinPriceMicros, MaxPriceMicros: t.MaxPriceMicros}, nil
	case ApplyCycle:
		if !m.Open() {
			return nil, fmt.Errorf("%w: %s", ErrNotOpen, m.Resource)
		}
		var released []events.Lease
		leased := m.LeasedUnits
		for _, id := range c.Expired {
			if u, ok := m.Leases[id]; ok {
				released = append(released, events.Lease{ExecutionID: id, Units: u})
				leased -= u
			}
		}
		for _, l := range c.Granted {
			leased += l.Units
		}
		if leased > m.SupplyUnits {
			return nil, fmt.Errorf("%w: %s would lease %s of %s", ErrOverSupply, m.Resource, leased, m.SupplyUnits)
		}
		return events.MarketCleared{Cycle: c.Cycle, Released: released, Granted: c.Granted, LeasedUnits: leased,
			SupplyUnits: m.SupplyUnits, UtilizationPPM: c.Outcome.UtilizationPPM, PriceMicros: m.PriceMicros,
			NewPriceMicros: max(m.MinPriceMicros, min(m.MaxPriceMicros, c.Outcome.NewPriceMicros)), Trigger: c.Trigger}, nil
	case Lease:
		return decideLease(m, c)
	case Reprice:
		return decideReprice(m, c)
	case ReleaseLease:
		u, ok := m.Leases[c.ExecutionID]
		if !ok {
			return nil, nil // released already (expired in a cycle)
		}
		return events.LeaseReleased{ExecutionID: c.ExecutionID, Units: u, Reason: c.Reason, Trigger: c.Trigger}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

// Evolve applies one event; it may reuse the market it is given.
func Evolve(m Market, e events.Event) Market {
	if m.Leases == nil {
		m.Leases = map[string]events.Units{}
	}
	switch e := e.(type) {
	case events.MarketConfigured:
		m.SupplyUnits, m.PriceMicros = e.SupplyUnits, e.PriceMicros
		m.MinPriceMicros, m.MaxPriceMicros = e.MinPriceMicros, e.MaxPriceMicros
	case events.MarketCleared:
		for _, l := range e.Released {
			delete(m.Leases, l.ExecutionID)
			m.LeasedUnits -= l.Units
		}
		for _, l := range e.Granted {
			m.Leases[l.ExecutionID] = l.Units
			m.LeasedUnits += l.Units
		}
		m.Cycle, m.UtilizationPPM, m.PriceMicros = e.Cycle, e.UtilizationPPM, e.NewPriceMicros
	case events.LeaseReleased:
		delete(m.Leases, e.ExecutionID)
		m.LeasedUnits -= e.Units
	case events.LeaseGranted:
		m.Leases[e.ExecutionID] = e.Units
		m.LeasedUnits += e.Units
		m.UtilizationPPM = UtilizationPPM(m.LeasedUnits, m.SupplyUnits)
	}
	return m
}

// LeaseIDs lists the executions holding leases, sorted.
func (m Market) LeaseIDs() []string { return slices.Sorted(maps.Keys(m.Leases)) }

// ErrInadmissible is what Admit wraps: the event would break the market's
// own invariants (leases beyond the supply or below zero, a lease granted
// twice or released that is not held), so it cannot be a fact of this
// market however it came to be in the log. Every follower skips it.
var ErrInadmissible = errors.New("event breaks the market's invariants")

// Admit reports whether event e may be folded into market m, checking on
// what the log holds what Decide checks before it writes such an event:
// 0 <= leased <= supply after it. It runs on records read from the log
// only (recovery, the audit). Pure.
func Admit(m Market, e events.Event) error {
	leased := m.LeasedUnits
	supply := m.SupplyUnits
	switch e := e.(type) {
	case events.MarketConfigured:
		if e.SupplyUnits <= 0 || e.MinPriceMicros <= 0 || e.MinPriceMicros > e.PriceMicros || e.PriceMicros > e.MaxPriceMicros {
			return fmt.Errorf("%w: %w", ErrInadmissible, ErrInvalidTerms)
		}
		supply = e.SupplyUnits
		if leased > supply {
			return nil // a supply cut below the leases: they end, then it holds
		}
	case events.MarketCleared:
		if !m.Open() {
			return fmt.Errorf("%w: %w", ErrInadmissible, ErrNotOpen)
		}
		released := map[string]bool{}
		for _, l := range e.Released {
			if u, ok := m.Leases[l.ExecutionID]; !ok || u != l.Units || released[l.ExecutionID] {
				return fmt.Errorf("%w: lease %s released that is not held", ErrInadmissible, l.ExecutionID)
			}
			released[l.ExecutionID] = true
			leased -= l.Units
		}
		for _, l := range e.Granted {
			if _, held := m.Leases[l.ExecutionID]; (held && !released[l.ExecutionID]) || l.Units <= 0 {
				return fmt.Errorf("%w: lease %s granted twice or empty", ErrInadmissible, l.ExecutionID)
			}
			leased += l.Units
		}
	case events.LeaseReleased:
		if u, ok := m.Leases[e.ExecutionID]; !ok || u != e.Units {
			return fmt.Errorf("%w: lease %s released that is not held", ErrInadmissible, e.ExecutionID)
		}
		leased -= e.Units
	case events.LeaseGranted:
		if !m.Open() {
			return fmt.Errorf("%w: %w", ErrInadmissible, ErrNotOpen)
		}
		if _, held := m.Leases[e.ExecutionID]; held || e.Units <= 0 {
			return fmt.Errorf("%w: lease %s granted twice or empty", ErrInadmissible, e.ExecutionID)
		}
		leased += e.Units
	default:
		return nil
	}
	if leased < 0 || leased > supply {
		return fmt.Errorf("%w: %w: %s leased of %s", ErrInadmissible, ErrOverSupply, leased, supply)
	}
	return nil
}
