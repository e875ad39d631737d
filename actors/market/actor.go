package market

import (
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Aggregate is the market as an event-sourced actor kind.
func Aggregate() runtime.Aggregate[Market, Command] {
	return runtime.Aggregate[Market, Command]{Kind: events.KindMarket, New: New, Decide: Decide, Evolve: Evolve, Admit: Admit}
}
