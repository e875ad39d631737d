package economy

import (
	"errors"
	"fmt"
	"maps"
)

// ErrUnsettled is returned by CheckSettled while the process managers still
// owe work, or when what they did disagrees once they caught up.
var ErrUnsettled = errors.New("economy not settled")

// CheckSettled checks what must hold once every process manager has caught
// up with the log (it is not an invariant of every event: a crash may stop
// a log between an event and its reactions): no transfer in flight, every
// bid hold listed or rejected, every allocation paid or refused, every
// refused execution released, every ended execution released, every cycle
// recorded by every market, every open bid hold backing a pending, open or
// won bid (a hold left behind locks credits forever), and each market's
// leases exactly the running executions of the books.
func (e *Economy) CheckSettled() error {
	s := e.Summary()
	switch {
	case s.OpenTransfers > 0:
		return fmt.Errorf("%w: %d transfers in flight (%s)", ErrUnsettled, s.OpenTransfers, s.InFlightMicros)
	case s.OpenMessages > 0:
		return fmt.Errorf("%w: %d messages in flight (%s)", ErrUnsettled, s.OpenMessages, s.InFlightMicros)
	case s.UnlistedBids > 0:
		return fmt.Errorf("%w: bid holds not listed or rejected: %v", ErrUnsettled, sortedKeys(e.bids.listings))
	case s.UnpaidAllocations > 0:
		return fmt.Errorf("%w: allocations neither paid nor refused: %v", ErrUnsettled, sortedKeys(e.bids.allocations))
	case s.UnreleasedRefusals > 0:
		return fmt.Errorf("%w: refused executions still running: %v", ErrUnsettled, sortedKeys(e.bids.refused))
	case s.UnrecordedCycles > 0:
		return fmt.Errorf("%w: cycles not recorded by every market: %v", ErrUnsettled, sortedKeys(e.bids.cycles))
	case s.UnreleasedEnds > 0:
		return fmt.Errorf("%w: ended executions still leased: %v", ErrUnsettled, sortedKeys(e.execs.endedLeased))
	}
	if orphans := e.bids.orphanHolds(e); len(orphans) > 0 {
		return fmt.Errorf("%w: bid holds whose bid is neither pending, open nor won: %v", ErrUnsettled, orphans)
	}
	leases, leased := e.executionsOf()
	for _, r := range sortedKeys(leased) {
		m := e.Markets[r]
		if m.LeasedUnits != leased[r] {
			return fmt.Errorf("%w: market %s leases %s, the books %s", ErrUnsettled, r, m.LeasedUnits, leased[r])
		}
		if !maps.Equal(m.Leases, leases[r]) {
			return fmt.Errorf("%w: market %s leases %v, the books run %v", ErrUnsettled, r, m.Leases, leases[r])
		}
	}
	return nil
}
