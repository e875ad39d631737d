package attention

import (
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Aggregate is the slot as an event-sourced actor kind.
func Aggregate() runtime.Aggregate[Slot, Command] {
	return runtime.Aggregate[Slot, Command]{Kind: events.KindAttention, New: New, Decide: Decide, Evolve: Evolve, Admit: Admit,
		SnapshotBytesMin: func(s Slot) int { return len(s.Waiting) * promptBytesMin }}
}

// promptBytesMin is less than any waiting prompt takes in the slot's
// snapshot (its id twice, its agent, content, amount and time).
const promptBytesMin = 100
