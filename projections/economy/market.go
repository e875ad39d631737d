package economy

import (
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
)

// applyMarket checks and folds one event of a resource market (SPEC.md
// section 4, invariants 3 and 4, in the market's view): 0 <= leased <=
// supply after every event; a market records each cycle of the clearing
// once, granting exactly the cycle's leases of its resource; each lease is
// released once, and only after the clearing ended its execution.
func (e *Economy) applyMarket(resource string, ev events.Event, v violationFunc) error {
	before, ok := e.Markets[resource]
	if !ok {
		before = market.New(resource)
	}
	err := e.checkMarket(before, ev, v)
	after := market.Evolve(before, ev)
	e.Markets[resource] = after
	if err != nil {
		return err
	}
	return checkMarketAfter(after, ev, v)
}

func (e *Economy) checkMarket(m market.Market, ev events.Event, v violationFunc) error {
	switch ev := ev.(type) {
	case events.MarketCleared:
		c, err := e.bids.popCycle(m.Resource, ev.Trigger, v)
		if err != nil {
			return err
		}
		if c == nil {
			// A cycle that changed nothing in this market, or none at all:
			// harmless as long as it leases and frees nothing.
			if len(ev.Granted) > 0 || len(ev.Released) > 0 {
				return v("markets record each cycle once", "market %s records a cycle of seq %d with leases, which is not awaiting it (never cleared, recorded already, or not this market's)", m.Resource, ev.Trigger.Seq)
			}
			return nil
		}
		if ev.Cycle != c.cycle {
			return v("markets record the clearing's cycles", "market %s records cycle %d for the cycle %d of seq %d", m.Resource, ev.Cycle, c.cycle, c.seq)
		}
		return checkLeases(m, ev, c, v)
	case events.LeaseReleased:
		u, leased := m.Leases[ev.ExecutionID]
		switch {
		case !leased:
			return v("each lease released once", "execution %s holds no lease of %s (released already, or never granted)", ev.ExecutionID, m.Resource)
		case u != ev.Units:
			return v("lease released for its units", "execution %s leases %s of %s, released %s", ev.ExecutionID, u, m.Resource, ev.Units)
		}
		for _, pool := range sortedKeys(e.Books) {
			if _, running := e.Books[pool].Executions[ev.ExecutionID]; running {
				return v("leases end only when the clearing ends them", "market %s frees execution %s, which pool %s still runs", m.Resource, ev.ExecutionID, pool)
			}
		}
	}
	return nil
}

// checkLeases checks a market's cycle against what the clearing decided.
func checkLeases(m market.Market, ev events.MarketCleared, c *pendingCycle, v violationFunc) error {
	granted := map[string]struct{}{}
	for _, l := range ev.Granted {
		want, ok := c.grants[l.ExecutionID]
		switch {
		case !ok:
			return v("markets lease what the clearing allocated", "cycle %d: market %s grants execution %s, which the cycle did not allocate %s",
				ev.Cycle, m.Resource, l.ExecutionID, m.Resource)
		case want != l.Units:
			return v("markets lease what the clearing allocated", "cycle %d: market %s grants execution %s %s units; the clearing allocated %s",
				ev.Cycle, m.Resource, l.ExecutionID, l.Units, want)
		}
		if _, dup := granted[l.ExecutionID]; dup {
			return v("each lease granted once", "cycle %d: market %s grants execution %s twice", ev.Cycle, m.Resource, l.ExecutionID)
		}
		if _, leased := m.Leases[l.ExecutionID]; leased {
			return v("each lease granted once", "cycle %d: market %s grants execution %s, which holds a lease already", ev.Cycle, m.Resource, l.ExecutionID)
		}
		granted[l.ExecutionID] = struct{}{}
	}
	if len(granted) != len(c.grants) {
		for _, x := range sortedKeys(c.grants) {
			if _, ok := granted[x]; !ok {
				return v("markets lease what the clearing allocated", "cycle %d: market %s does not grant execution %s its %s units", ev.Cycle, m.Resource, x, c.grants[x])
			}
		}
	}
	released := map[string]struct{}{}
	for _, l := range ev.Released {
		u, leased := m.Leases[l.ExecutionID]
		_, expired := c.expired[l.ExecutionID]
		_, dup := released[l.ExecutionID]
		switch {
		case !leased || dup:
			return v("each lease released once", "cycle %d: market %s releases execution %s, which holds no lease", ev.Cycle, m.Resource, l.ExecutionID)
		case u != l.Units:
			return v("lease released for its units", "cycle %d: execution %s leases %s of %s, released %s", ev.Cycle, l.ExecutionID, u, m.Resource, l.Units)
		case !expired:
			return v("leases end only when the clearing ends them", "cycle %d: market %s releases execution %s, which the cycle did not expire", ev.Cycle, m.Resource, l.ExecutionID)
		}
		released[l.ExecutionID] = struct{}{}
	}
	for _, x := range sortedKeys(c.expired) {
		_, leased := m.Leases[x]
		if _, ok := released[x]; leased && !ok {
			return v("expired leases are released", "cycle %d expired execution %s; market %s keeps its lease", ev.Cycle, x, m.Resource)
		}
	}
	return nil
}

// popCycle takes the cycle a market records off that market's queue (nil
// when that cycle is not awaited there). The clearing manager delivers to
// each market in stream order, so a market records cycles in the order they
// were cleared: one it passes over was refused by the market (the book and
// the market disagree).
func (l *bidLedger) popCycle(resource string, t events.Trigger, v violationFunc) (*pendingCycle, error) {
	if t.Manager != clearing.ManagerName {
		return nil, v("markets record the clearing's cycles", "market %s clears with trigger %+v, not the clearing's", resource, t)
	}
	q := l.cycles[resource]
	var skipped []uint64
	for len(q) > 0 && q[0].seq < t.Seq {
		skipped = append(skipped, q[0].seq)
		q = q[1:]
	}
	var c *pendingCycle
	if len(q) > 0 && q[0].seq == t.Seq {
		c, q = q[0], q[1:]
	}
	if len(q) == 0 {
		delete(l.cycles, resource)
	} else {
		l.cycles[resource] = q
	}
	if len(skipped) > 0 {
		return nil, v("every cycle reaches every market", "market %s records the cycle of seq %d but never recorded the cycle(s) of seq %v", resource, t.Seq, skipped)
	}
	return c, nil
}

// checkMarketAfter checks 0 <= leased <= supply after every market event,
// and that a cycle reports what the market holds.
func checkMarketAfter(m market.Market, ev events.Event, v violationFunc) error {
	switch {
	case m.LeasedUnits < 0:
		return v("leased never negative", "market %s: leased %s", m.Resource, m.LeasedUnits)
	case m.LeasedUnits > m.SupplyUnits:
		return v("leased <= supply", "market %s: leased %s > supply %s", m.Resource, m.LeasedUnits, m.SupplyUnits)
	}
	if mc, ok := ev.(events.MarketCleared); ok && (mc.LeasedUnits != m.LeasedUnits || mc.SupplyUnits != m.SupplyUnits) {
		return v("market reports its leases", "cycle %d: market %s reports %s of %s leased, holds %s of %s",
			mc.Cycle, m.Resource, mc.LeasedUnits, mc.SupplyUnits, m.LeasedUnits, m.SupplyUnits)
	}
	return nil
}
