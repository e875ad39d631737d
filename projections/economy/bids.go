package economy

import (
	"slices"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// bidLedger ties together the actors a bid goes through: the bidder's hold,
// the listing in a book, the allocation, its payment and the leases each
// market records. Every entry lives only while something is pending;
// settled only keeps ids.
type bidLedger struct {
	// holds are the open holds placed for bids: agent/hold -> pool.
	holds map[string]string
	// listings are bid holds placed and not yet listed or rejected by
	// their book: bid id -> what the hold carries.
	listings map[string]listing
	// allocations are won bids not yet paid or refused: bid id ->
	// allocation.
	allocations map[string]allocation
	// settled holds the ids of the bids whose allocation was paid or
	// refused: all that catching a second outcome needs.
	settled map[string]struct{}
	// refused are executions whose payment was refused and which their
	// book still runs: execution id -> pool.
	refused map[string]string
	// cycles are, per resource, the cycles that market has not recorded
	// yet, oldest first.
	cycles map[string][]*pendingCycle
}

type listing struct {
	agent  string
	amount events.Micros
	terms  events.BidTerms
}

type allocation struct {
	pool, agent, execution string
	amount                 events.Micros
	// runner and resources are what its execution must start with.
	runner    string
	resources map[string]events.Units
}

// pendingCycle is what one market must record of one cycle.
type pendingCycle struct {
	seq, cycle uint64
	// grants are the leases of this resource: execution id -> units.
	grants map[string]events.Units
	// expired is shared by the cycle's resources.
	expired map[string]struct{}
}

func newBidLedger() bidLedger {
	return bidLedger{holds: map[string]string{}, listings: map[string]listing{}, allocations: map[string]allocation{},
		settled: map[string]struct{}{}, refused: map[string]string{}, cycles: map[string][]*pendingCycle{}}
}

func (l *bidLedger) unrecordedCycles() int {
	seqs := map[uint64]struct{}{}
	for _, q := range l.cycles {
		for _, c := range q {
			seqs[c.seq] = struct{}{}
		}
	}
	return len(seqs)
}

func (l *bidLedger) settle(bidID string) {
	delete(l.allocations, bidID)
	l.settled[bidID] = struct{}{}
}

// bidInUse reports whether a bid id is pending, open, won or running.
func (e *Economy) bidInUse(bidID string) bool {
	if _, ok := e.bids.listings[bidID]; ok {
		return true
	}
	if _, ok := e.bids.allocations[bidID]; ok {
		return true
	}
	for _, b := range e.Books {
		if _, ok := b.Bids[bidID]; ok {
			return true
		}
		if _, ok := b.Executions[clearing.ExecutionID(bidID)]; ok {
			return true
		}
	}
	return false
}

// checkBidHold checks an account's event against the bids it pays for:
// a bid's hold is unique and stays until its bid leaves the book; a bid is
// paid (or its payment refused) only as an allocation, once, for exactly
// the allocation's amount.
func (e *Economy) checkBidHold(a agent.Account, ev events.Event, v violationFunc) error {
	switch ev := ev.(type) {
	case events.HoldPlaced:
		if ev.Purpose == events.PurposeBid && ev.Bid != nil && e.bidInUse(ev.HoldID) {
			return v("bid listed once", "agent %s places the hold of bid %s, which is already pending, open or won", a.ID, ev.HoldID)
		}
	case events.HoldPosted:
		_, isBid := e.bids.holds[a.ID+"/"+ev.HoldID]
		return e.checkPayment(a.ID, ev.HoldID, ev.ExecutionID, ev.AmountMicros, isBid, ev.EventType(), v)
	case events.PaymentRefused:
		if ev.ExecutionID == "" {
			return nil
		}
		return e.checkPayment(a.ID, ev.HoldID, ev.ExecutionID, ev.AmountMicros, true, ev.EventType(), v)
	case events.HoldVoided:
		pool, isBid := e.bids.holds[a.ID+"/"+ev.HoldID]
		if !isBid {
			return nil
		}
		if l, pending := e.bids.listings[ev.HoldID]; pending && l.agent == a.ID {
			return v("a bid keeps its hold", "hold of bid %s voided before the bid was listed or rejected", ev.HoldID)
		}
		if _, open := e.Books[pool].Bids[ev.HoldID]; open {
			return v("a bid keeps its hold", "hold of bid %s voided while the bid is open in pool %s", ev.HoldID, pool)
		}
		if _, won := e.bids.allocations[ev.HoldID]; won {
			return v("each allocation is paid", "hold of bid %s voided after the bid won, before its payment", ev.HoldID)
		}
	}
	return nil
}

// checkPayment checks a hold_posted or payment_refused: an allocation's
// outcome, recorded once, by its bidder, for its execution and amount.
func (e *Economy) checkPayment(agentID, bidID, executionID string, amount events.Micros, bidHold bool, what string, v violationFunc) error {
	if al, ok := e.bids.allocations[bidID]; ok {
		switch {
		case al.agent != agentID:
			return v("allocation paid by its bidder", "bid %s won by %s, %s by %s", bidID, al.agent, what, agentID)
		case al.execution != executionID:
			return v("allocation paid for its execution", "bid %s won as execution %s, %s names %q", bidID, al.execution, what, executionID)
		case al.amount != amount:
			return v("allocation paid its amount", "bid %s won for %s, %s for %s", bidID, al.amount, what, amount)
		}
		return nil
	}
	if _, done := e.bids.settled[bidID]; done {
		return v("allocation paid once", "%s for bid %s, whose allocation was already paid or refused", what, bidID)
	}
	if bidHold || executionID != "" {
		return v("only allocations are paid", "%s for bid %s (execution %q), which never won", what, bidID, executionID)
	}
	return nil
}

// trackBidHold records what an account's event starts or ends.
func (e *Economy) trackBidHold(agentID string, ev events.Event) {
	l := &e.bids
	switch ev := ev.(type) {
	case events.HoldPlaced:
		if ev.Purpose != events.PurposeBid || ev.Bid == nil {
			return
		}
		l.holds[agentID+"/"+ev.HoldID] = ev.Bid.Pool
		if _, dup := l.listings[ev.HoldID]; !dup {
			l.listings[ev.HoldID] = listing{agent: agentID, amount: ev.AmountMicros, terms: *ev.Bid}
		}
	case events.HoldPosted:
		delete(l.holds, agentID+"/"+ev.HoldID)
		if al, ok := l.allocations[ev.HoldID]; ok && al.agent == agentID {
			l.settle(ev.HoldID)
			if _, running := e.Books[al.pool].Executions[al.execution]; running {
				e.execs.paid[al.execution] = paidExecution{pool: al.pool, bid: ev.HoldID, payer: agentID,
					runner: al.runner, resources: al.resources}
			}
		}
	case events.PaymentRefused:
		al, ok := l.allocations[ev.HoldID]
		if ev.ExecutionID == "" || !ok || al.agent != agentID {
			return
		}
		l.settle(ev.HoldID)
		if _, running := e.Books[al.pool].Executions[al.execution]; running {
			l.refused[al.execution] = al.pool
		}
	case events.HoldVoided:
		delete(l.holds, agentID+"/"+ev.HoldID)
	case events.AgentDied:
		for _, h := range ev.VoidedHolds {
			delete(l.holds, agentID+"/"+h)
		}
	}
}

// orphanHolds lists the open bid holds (agent/hold) whose bid is neither
// awaiting its listing, open in its book, nor won and awaiting payment.
func (l *bidLedger) orphanHolds(e *Economy) []string {
	var out []string
	for key, pool := range l.holds {
		bidID := key[strings.IndexByte(key, '/')+1:]
		_, pending := l.listings[bidID]
		_, open := e.Books[pool].Bids[bidID]
		_, won := l.allocations[bidID]
		if !pending && !open && !won {
			out = append(out, key)
		}
	}
	slices.Sort(out)
	return out
}
