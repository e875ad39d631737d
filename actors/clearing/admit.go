package clearing

import (
	"errors"
	"fmt"

	"github.com/agora-econ/agora/events"
)

// ErrInadmissible is what Admit wraps: the event would break the book's own
// invariants (a cycle cleared twice or out of order, a bid allocated that
// is not open, leases beyond the supply), so it cannot be a fact of this
// book however it came to be in the log. Every follower skips it.
var ErrInadmissible = errors.New("event breaks the book's invariants")

// Admit reports whether event e may be folded into book b: what Decide
// checks before it writes such an event, checked again on what the log
// holds. It runs on records read from the log only (recovery, the audit).
// Pure.
func Admit(b Book, e events.Event) error {
	if err := admit(b, e); err != nil {
		return fmt.Errorf("%w: %w", ErrInadmissible, err)
	}
	return nil
}

func admit(b Book, e events.Event) error {
	switch e := e.(type) {
	case events.BookConfigured:
		return nil
	case events.BidListed:
		if !b.Configured() {
			return ErrNotConfigured
		}
		if _, open := b.Bids[e.BidID]; open {
			return fmt.Errorf("bid %s listed twice", e.BidID)
		}
	case events.BidRaised:
		bid, open := b.Bids[e.BidID]
		if !open {
			return fmt.Errorf("%w: %s", ErrBidNotOpen, e.BidID)
		}
		if e.AmountMicros <= bid.AmountMicros {
			return fmt.Errorf("bid %s lowered from %s to %s", e.BidID, bid.AmountMicros, e.AmountMicros)
		}
	case events.BidWithdrawn:
		if _, open := b.Bids[e.BidID]; !open {
			return fmt.Errorf("%w: %s", ErrBidNotOpen, e.BidID)
		}
	case events.CycleCleared:
		return admitCycle(b, e)
	case events.ExecutionReleased:
		if _, running := b.Executions[e.ExecutionID]; !running {
			return fmt.Errorf("%w: %s", ErrExecutionNotRunning, e.ExecutionID)
		}
	case events.LeaseRenewed:
		x, running := b.Executions[e.ExecutionID]
		if !running {
			return fmt.Errorf("%w: %s", ErrExecutionNotRunning, e.ExecutionID)
		}
		if !e.At.After(x.At) {
			return fmt.Errorf("lease of %s renewed from %s, not after %s", e.ExecutionID, e.At, x.At)
		}
	}
	return nil
}

// admitCycle checks a cycle: the next one, its expiries running
// executions, its winners open bids allocated their own terms, and the
// leases within each market's supply.
func admitCycle(b Book, e events.CycleCleared) error {
	if !b.Configured() {
		return ErrNotConfigured
	}
	if e.Cycle != b.Cycle+1 {
		return fmt.Errorf("%w: cycle %d after %d", ErrCycleOutOfOrder, e.Cycle, b.Cycle)
	}
	leased := make(map[string]events.Units, len(b.Markets))
	for name, m := range b.Markets {
		leased[name] = m.LeasedUnits
	}
	for _, id := range e.Expired {
		x, running := b.Executions[id]
		if !running {
			return fmt.Errorf("%w: %s expires", ErrExecutionNotRunning, id)
		}
		for r, u := range x.Resources {
			leased[r] -= u
		}
	}
	seen := make(map[string]bool, len(e.Allocations))
	for _, a := range e.Allocations {
		bid, open := b.Bids[a.BidID]
		if !open || seen[a.BidID] {
			return fmt.Errorf("%w: %s allocated", ErrBidNotOpen, a.BidID)
		}
		seen[a.BidID] = true
		if _, running := b.Executions[a.ExecutionID]; running {
			return fmt.Errorf("execution %s allocated twice", a.ExecutionID)
		}
		if a.AgentID != bid.AgentID || a.BeneficiaryID != bid.Runner() || a.AmountMicros != bid.AmountMicros ||
			!sameUnits(a.Resources, bid.Resources) {
			return fmt.Errorf("allocation of bid %s does not match its terms", a.BidID)
		}
		for r, u := range a.Resources {
			m, ok := b.Markets[r]
			if !ok || m.Retired {
				return fmt.Errorf("%w: %s", ErrUnknownResource, r)
			}
			leased[r] += u
		}
	}
	for r, u := range leased {
		if u < 0 || u > b.Markets[r].SupplyUnits {
			return fmt.Errorf("%w: %s would lease %s of %s", ErrExceedsSupply, r, u, b.Markets[r].SupplyUnits)
		}
	}
	return nil
}

func sameUnits(a, b map[string]events.Units) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
