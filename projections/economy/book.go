package economy

import (
	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// applyBook checks and folds one event of a clearing pool (SPEC.md section
// 4, invariants 3 and 4, in the book's own view): each bid listed once from
// its hold, allocated at most once and only while open, for its own terms;
// leased <= supply in every market; each execution released once.
func (e *Economy) applyBook(pool string, seq uint64, ev events.Event, v violationFunc) error {
	before, ok := e.Books[pool]
	if !ok {
		before = clearing.New(pool)
	}
	err := e.checkBook(before, ev, v)
	e.trackBook(before, seq, ev) // before Evolve, which reuses the book's maps
	after := clearing.Evolve(before, ev)
	e.Books[pool] = after
	if err != nil {
		return err
	}
	return checkBookAfter(after, ev, v)
}

func (e *Economy) checkBook(b clearing.Book, ev events.Event, v violationFunc) error {
	switch ev := ev.(type) {
	case events.BidListed:
		l, ok := e.bids.listings[ev.BidID]
		switch {
		case !ok:
			return v("bid listed once, from its hold", "bid %s has no bid hold awaiting its listing (never placed, or listed already)", ev.BidID)
		case l.agent != ev.AgentID || l.amount != ev.AmountMicros:
			return v("bid listed as held", "bid %s listed for %s at %s; its hold is %s's, for %s", ev.BidID, ev.AgentID, ev.AmountMicros, l.agent, l.amount)
		case l.terms.Pool != b.Pool:
			return v("bid listed as held", "bid %s for pool %q listed in pool %q", ev.BidID, l.terms.Pool, b.Pool)
		case !sameUnits(l.terms.Resources, ev.Resources) || l.terms.BeneficiaryID != ev.BeneficiaryID || l.terms.Payload != ev.Payload:
			return v("bid listed as held", "bid %s listed with other terms than its hold carries", ev.BidID)
		}
		if _, open := b.Bids[ev.BidID]; open {
			return v("bid listed once, from its hold", "bid %s is open already", ev.BidID)
		}
	case events.BidRejected:
		l, ok := e.bids.listings[ev.BidID]
		switch {
		case !ok:
			return v("bid rejected once, from its hold", "bid %s has no bid hold awaiting its listing", ev.BidID)
		case l.agent != ev.AgentID || l.amount != ev.AmountMicros:
			return v("bid rejected as held", "bid %s rejected for %s at %s; its hold is %s's, for %s", ev.BidID, ev.AgentID, ev.AmountMicros, l.agent, l.amount)
		}
	case events.BidRaised:
		bid, open := b.Bids[ev.BidID]
		switch {
		case !open:
			return v("bid raised only while open", "bid %s is not open in pool %s", ev.BidID, b.Pool)
		case ev.AmountMicros <= bid.AmountMicros:
			return v("bid raised, never lowered", "bid %s from %s to %s", ev.BidID, bid.AmountMicros, ev.AmountMicros)
		}
		if held, ok := e.Accounts[bid.AgentID].Holds[ev.BidID]; ok && ev.AmountMicros > held {
			return v("a bid is backed by its hold", "bid %s raised to %s, its hold is %s", ev.BidID, ev.AmountMicros, held)
		}
	case events.BidWithdrawn:
		bid, open := b.Bids[ev.BidID]
		switch {
		case !open:
			return v("bid withdrawn only while open", "bid %s is not open in pool %s", ev.BidID, b.Pool)
		case bid.AgentID != ev.AgentID:
			return v("bid withdrawn by its bidder", "bid %s of %s withdrawn by %s", ev.BidID, bid.AgentID, ev.AgentID)
		case bid.AmountMicros != ev.AmountMicros:
			return v("bid withdrawn for its amount", "bid %s of %s withdrawn for %s", ev.BidID, bid.AmountMicros, ev.AmountMicros)
		}
	case events.BidsCancelled:
		if e.Accounts[ev.AgentID].Status != agent.StatusDead {
			return v("only a dead agent's bids are cancelled", "agent %s is %q", ev.AgentID, e.Accounts[ev.AgentID].Status)
		}
		for _, id := range ev.BidIDs {
			// A bid naming the dead agent as its beneficiary may go too: it
			// would make a dead agent run.
			if bid, open := b.Bids[id]; !open || bid.AgentID != ev.AgentID && bid.BeneficiaryID != ev.AgentID {
				return v("bids cancelled only while open", "bid %s is not an open bid of or for %s", id, ev.AgentID)
			}
		}
	case events.CycleCleared:
		return e.checkCycle(b, ev, v)
	case events.LeaseRenewed:
		x, running := b.Executions[ev.ExecutionID]
		switch {
		case !running:
			return v("a lease renewed only while held", "execution %s is not running in pool %s (released already, or never allocated)", ev.ExecutionID, b.Pool)
		case !ev.At.After(x.At):
			return v("a lease never moves back", "execution %s's lease from %s renewed from %s", ev.ExecutionID, x.At, ev.At)
		}
	case events.ExecutionReleased:
		x, running := b.Executions[ev.ExecutionID]
		switch {
		case !running:
			return v("each lease released once", "execution %s is not running in pool %s (released already, or never allocated)", ev.ExecutionID, b.Pool)
		case x.BidID != ev.BidID || !sameUnits(x.Resources, ev.Resources):
			return v("execution released as allocated", "execution %s of bid %s released as bid %s with other units", ev.ExecutionID, x.BidID, ev.BidID)
		}
	}
	return nil
}

// checkCycle checks a cycle against the book before it.
func (e *Economy) checkCycle(b clearing.Book, ev events.CycleCleared, v violationFunc) error {
	if ev.Cycle != b.Cycle+1 {
		return v("cycles in order", "cycle %d after cycle %d", ev.Cycle, b.Cycle)
	}
	expired := map[string]struct{}{}
	for _, x := range ev.Expired {
		if _, running := b.Executions[x]; !running {
			return v("each lease released once", "cycle %d expires execution %s, which is not running", ev.Cycle, x)
		}
		if _, dup := expired[x]; dup {
			return v("each lease released once", "cycle %d expires execution %s twice", ev.Cycle, x)
		}
		expired[x] = struct{}{}
	}
	won, started := map[string]struct{}{}, map[string]struct{}{}
	for _, a := range ev.Allocations {
		bid, open := b.Bids[a.BidID]
		if _, dup := won[a.BidID]; !open || dup {
			return v("each bid allocated at most once, only while open", "cycle %d allocates bid %s, which is not open (twice in the cycle: %v)", ev.Cycle, a.BidID, dup)
		}
		won[a.BidID] = struct{}{}
		if a.AgentID != bid.AgentID || a.AmountMicros != bid.AmountMicros || a.BeneficiaryID != bid.Runner() || !sameUnits(a.Resources, bid.Resources) {
			return v("allocation is its bid", "cycle %d allocates bid %s as %s for %s (runner %s); the bid is %s's for %s (runner %s), or its units differ",
				ev.Cycle, a.BidID, a.AgentID, a.AmountMicros, a.BeneficiaryID, bid.AgentID, bid.AmountMicros, bid.Runner())
		}
		_, running := b.Executions[a.ExecutionID]
		if _, dup := started[a.ExecutionID]; a.ExecutionID == "" || running || dup {
			return v("one execution per allocation", "cycle %d starts execution %q of bid %s, which exists already", ev.Cycle, a.ExecutionID, a.BidID)
		}
		started[a.ExecutionID] = struct{}{}
		// A dead bidder's win is refused and revoked (its hold is gone); a
		// living sponsor's win for a dead beneficiary would be paid and run
		// a dead agent (SPEC.md section 4, invariant 6).
		if e.Accounts[a.AgentID].Status == agent.StatusAlive && e.Accounts[a.BeneficiaryID].Status != agent.StatusAlive {
			return v("a dead agent never executes", "cycle %d allocates bid %s of %s to run %s, which is %q",
				ev.Cycle, a.BidID, a.AgentID, a.BeneficiaryID, e.Accounts[a.BeneficiaryID].Status)
		}
		for r := range a.Resources {
			if _, ok := b.Markets[r]; !ok {
				return v("leased <= supply", "cycle %d allocates %s of bid %s, a resource with no market in pool %s", ev.Cycle, r, a.BidID, b.Pool)
			}
		}
	}
	return nil
}

// checkBookAfter checks every market of the book after a change of its
// leases or supply: 0 <= leased <= supply, and a cycle reports the leases
// the fold finds.
func checkBookAfter(b clearing.Book, ev events.Event, v violationFunc) error {
	switch ev.(type) {
	case events.BookConfigured, events.CycleCleared, events.ExecutionReleased:
	default:
		return nil
	}
	for _, r := range sortedKeys(b.Markets) {
		m := b.Markets[r]
		if m.LeasedUnits < 0 {
			return v("leased never negative", "pool %s, market %s: leased %s", b.Pool, r, m.LeasedUnits)
		}
		if m.LeasedUnits > m.SupplyUnits {
			return v("leased <= supply", "pool %s, market %s: leased %s > supply %s (the clearing's own view)", b.Pool, r, m.LeasedUnits, m.SupplyUnits)
		}
	}
	if cc, ok := ev.(events.CycleCleared); ok {
		for _, r := range sortedKeys(cc.Markets) {
			if got, want := cc.Markets[r].LeasedUnits, b.Markets[r].LeasedUnits; got != want {
				return v("cycle reports its leases", "cycle %d reports %s leased in %s, the book holds %s", cc.Cycle, got, r, want)
			}
		}
	}
	return nil
}

// trackBook records what a book's event starts or ends elsewhere: listings
// consumed, allocations awaiting payment, what each market must record of a
// cycle. It is given the book before the event.
func (e *Economy) trackBook(b clearing.Book, seq uint64, ev events.Event) {
	l, pool := &e.bids, b.Pool
	switch ev := ev.(type) {
	case events.BidListed:
		delete(l.listings, ev.BidID)
	case events.BidRejected:
		delete(l.listings, ev.BidID)
	case events.CycleCleared:
		expired := make(map[string]struct{}, len(ev.Expired))
		for _, x := range ev.Expired {
			expired[x] = struct{}{}
			delete(l.refused, x)
		}
		for _, x := range ev.Expired {
			e.execs.released(x)
		}
		for _, a := range ev.Allocations {
			l.allocations[a.BidID] = allocation{pool: pool, agent: a.AgentID, execution: a.ExecutionID, amount: a.AmountMicros,
				runner: a.BeneficiaryID, resources: a.Resources}
		}
		// A market must record a cycle that grants or ends leases of its
		// resource or moves its price; the manager need not tell it of
		// one that changes nothing there.
		for _, r := range sortedKeys(ev.Markets) {
			grants := map[string]events.Units{}
			for _, a := range ev.Allocations {
				if u, ok := a.Resources[r]; ok {
					grants[a.ExecutionID] = u
				}
			}
			ends := false
			for _, x := range ev.Expired {
				_, leases := b.Executions[x].Resources[r]
				ends = ends || leases
			}
			if o := ev.Markets[r]; len(grants) > 0 || ends || o.NewPriceMicros != o.PriceMicros {
				l.cycles[r] = append(l.cycles[r], &pendingCycle{seq: seq, cycle: ev.Cycle, grants: grants, expired: expired})
			}
		}
	case events.ExecutionReleased:
		delete(l.refused, ev.ExecutionID)
		e.execs.released(ev.ExecutionID)
	}
}

// executionsOf lists, per resource, the units of every running execution
// of every book: what the markets must hold once the managers caught up.
func (e *Economy) executionsOf() (map[string]map[string]events.Units, map[string]events.Units) {
	leases, leased := map[string]map[string]events.Units{}, map[string]events.Units{}
	for _, b := range e.Books {
		for r, m := range b.Markets {
			leased[r] += m.LeasedUnits
			if leases[r] == nil {
				leases[r] = map[string]events.Units{}
			}
		}
		for _, x := range b.Executions {
			for r, u := range x.Resources {
				if leases[r] == nil {
					leases[r] = map[string]events.Units{}
				}
				leases[r][x.ID] = u
			}
		}
	}
	return leases, leased
}
