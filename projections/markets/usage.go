package markets

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// The units an execution used, as its end records them, in the units its
// markets lease: the release of its leases then says, beside what was
// leased, what was used (SPEC.md 1.4: a bundle is paid whole, used or
// not; the markets show how much of it served).

// The resources whose use an execution's end records.
const (
	resourceTokens = "tokens"
	resourceCPU    = "cpu_seconds"
	resourceMemory = "memory_mb"
)

// usedUnits is what an ended execution used of each resource it records:
// its inference tokens (whole tokens, as metered), its CPU time (a
// millisecond is a thousandth of a cpu_seconds unit) and its memory peak
// (KiB, in megabytes of 1024 KiB as the sandbox's limit counts them).
func usedUnits(e events.ExecutionEnded) map[string]events.Units {
	return map[string]events.Units{
		resourceTokens: events.WholeUnits(e.TokensUsed),
		resourceCPU:    events.Units(e.CPUMillis) * (events.MicroUnitsPerUnit / 1000),
		resourceMemory: events.Units(e.MemoryPeakKB) * events.MicroUnitsPerUnit / 1024,
	}
}

// ended records what an execution used in each market that holds its
// units, for the release that follows its end. An execution whose units
// were released already (its lease expired while it ran) is in no
// market's running executions: nothing to record. The end changes no
// market as readers see it until the release, so no version moves.
func (s *State) ended(rec events.Record) error {
	e, err := events.Read(rec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	end, ok := e.(events.ExecutionEnded)
	if !ok {
		return nil
	}
	s.init()
	for resource, units := range usedUnits(end) {
		m, ok := s.entries[resource]
		if !ok {
			continue
		}
		x, running := m.running[end.ExecutionID]
		if !running || units < 0 {
			continue
		}
		x.used, x.ended = units, true
		m.running[end.ExecutionID] = x
	}
	return nil
}
