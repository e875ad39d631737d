package series

import (
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// MarketPoint is one market as one clearing cycle left it: what its
// market_cleared event published, folded with the market actor's Evolve.
type MarketPoint struct {
	Cycle uint64 // the market's cycle (the attention market counts its own)
	Seq   uint64 // the stream sequence of the market_cleared event
	At    time.Time
	// PriceMicros is the posted price per unit after the cycle's move:
	// what GET /admin/markets showed once the cycle had cleared.
	PriceMicros    events.Micros
	SupplyUnits    events.Units
	LeasedUnits    events.Units
	UtilizationPPM int64 // leased / supply after the cycle, parts per million
}

// EconomyPoint is the whole economy as the economy fold had it when a
// clearing cycle was recorded (the cycle_cleared event).
type EconomyPoint struct {
	Cycle uint64
	Seq   uint64
	At    time.Time
	// Alive, Dead: the agents ever created, by status; their sum is every
	// agent ever created.
	Alive, Dead    int
	MintedMicros   events.Micros
	BurnedMicros   events.Micros
	InFlightMicros events.Micros
	// BalanceMicros is what the agents hold, the sum of their balances:
	// minted - burned - in flight. HeldMicros is the part of it reserved
	// by open holds (bids placed, prompts queued).
	BalanceMicros events.Micros
	HeldMicros    events.Micros
}

// AgentPoint is one change of an agent's balance.
type AgentPoint struct {
	Seq   uint64 // the stream sequence of the event that changed it
	At    time.Time
	Cycle uint64 // the clearing's cycle when it changed (0: before the first)
	// BalanceMicros is the balance after the event; DeltaMicros what the
	// event changed it by (negative when credits left).
	BalanceMicros events.Micros
	DeltaMicros   events.Micros
	Cause         string // the event's type: hold_posted, transfer_received, ...
}

// agentPoint is an AgentPoint as an agent's line keeps it: its time an
// instant, a third of a time.Time. An agent's line outlives the agent, and
// a long run's agents are mostly dead.
type agentPoint struct {
	seq            uint64
	at             projections.Instant
	cycle          uint64
	balance, delta events.Micros
	cause          string
}

func agentPointOf(p AgentPoint) agentPoint {
	return agentPoint{seq: p.Seq, at: projections.InstantOf(p.At), cycle: p.Cycle, balance: p.BalanceMicros,
		delta: p.DeltaMicros, cause: p.Cause}
}

// AgentPoint is p as the read model answers it.
func (p agentPoint) AgentPoint() AgentPoint {
	return AgentPoint{Seq: p.seq, At: p.at.Time(), Cycle: p.cycle, BalanceMicros: p.balance, DeltaMicros: p.delta,
		Cause: p.cause}
}
