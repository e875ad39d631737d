package operator

import (
	"time"

	"github.com/agora-econ/agora/api/system"
)

// GET /admin/history/markets, GET /admin/history/economy and GET
// /admin/agents/{id}/history are the economy over time, from the history
// read model (projections/series): each market's price, supply, leased
// units and utilization at every clearing cycle, the population and the
// credits in circulation at every cycle, and each agent's balance after
// every change. Every point within the configured window of recent
// cycles (history.window_cycles) is kept; older points are thinned
// (docs/decisions.md, "History is thinned by halving, past a window").
// Points come oldest first, at most limit of them after the since_*
// cursor; next_since_* is the cursor of the next page, absent on the last.
// `agora markets --history --json` prints the markets' answer.

// MarketsHistoryInput is GET /admin/history/markets.
type MarketsHistoryInput struct {
	Market     string `query:"market" pattern:"^[a-z0-9_-]{1,64}$" doc:"Only this market."`
	SinceCycle uint64 `query:"since_cycle" doc:"Only the points of cycles after this one (0: from the first)."`
	Limit      int    `query:"limit" minimum:"1" maximum:"5000" default:"1000" doc:"Points per market, oldest first."`
}

// MarketsHistoryOutput is GET /admin/history/markets.
type MarketsHistoryOutput struct{ Body MarketsHistory }

// MarketsHistory is every market's series (or one's), sorted by market.
type MarketsHistory struct {
	Markets []MarketHistory `json:"markets"`
}

// MarketHistory is one market's series.
type MarketHistory struct {
	Market         string               `json:"market"`
	Points         []MarketHistoryPoint `json:"points" doc:"Oldest first, one per cycle the market recorded."`
	NextSinceCycle uint64               `json:"next_since_cycle,omitempty" doc:"The since_cycle of the next page; absent on the last."`
}

// MarketHistoryPoint is one market as one clearing cycle left it: the
// figures of its market_cleared event.
type MarketHistoryPoint struct {
	Cycle       uint64       `json:"cycle"`
	Seq         uint64       `json:"seq" doc:"The stream sequence of the market_cleared event."`
	At          time.Time    `json:"at"`
	PriceMicros int64        `json:"price_micros" doc:"The posted price per unit after the cycle's move, in micro-credits."`
	Supply      system.Units `json:"supply"`
	Leased      system.Units `json:"leased" doc:"Units leased after the cycle."`
	Utilization system.Units `json:"utilization" doc:"leased / supply, a fraction with at most six decimals."`
}

// EconomyHistoryInput is GET /admin/history/economy.
type EconomyHistoryInput struct {
	SinceCycle uint64 `query:"since_cycle" doc:"Only the points of cycles after this one (0: from the first)."`
	Limit      int    `query:"limit" minimum:"1" maximum:"5000" default:"1000" doc:"Points, oldest first."`
}

// EconomyHistoryOutput is GET /admin/history/economy.
type EconomyHistoryOutput struct{ Body EconomyHistory }

// EconomyHistory is the population and the credits at every cycle.
type EconomyHistory struct {
	Points         []EconomyHistoryPoint `json:"points" doc:"Oldest first, one per clearing cycle."`
	NextSinceCycle uint64                `json:"next_since_cycle,omitempty" doc:"The since_cycle of the next page; absent on the last."`
}

// EconomyHistoryPoint is the economy when a clearing cycle was recorded,
// as the economy fold (GET /admin/status) had it then.
type EconomyHistoryPoint struct {
	Cycle          uint64    `json:"cycle"`
	Seq            uint64    `json:"seq" doc:"The stream sequence of the cycle_cleared event."`
	At             time.Time `json:"at"`
	Alive          int       `json:"alive"`
	Dead           int       `json:"dead"`
	Total          int       `json:"total" doc:"Every agent ever created: alive + dead."`
	MintedMicros   int64     `json:"minted_micros" doc:"Every credit ever minted (grants, rewards), in micro-credits."`
	BurnedMicros   int64     `json:"burned_micros"`
	InFlightMicros int64     `json:"in_flight_micros" doc:"Sent and not yet received (transfers, messages)."`
	BalanceMicros  int64     `json:"balance_micros" doc:"Held by the agents, the sum of their balances: minted - burned - in flight."`
	HeldMicros     int64     `json:"held_micros" doc:"The part of the balances reserved by open holds, as in GET /admin/status."`
}

// AgentHistoryInput is GET /admin/agents/{id}/history.
type AgentHistoryInput struct {
	ID       string `path:"id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The agent's id."`
	SinceSeq uint64 `query:"since_seq" doc:"Only the changes after this stream sequence (0: from the first)."`
	Limit    int    `query:"limit" minimum:"1" maximum:"5000" default:"1000" doc:"Points, oldest first."`
}

// AgentHistoryOutput is GET /admin/agents/{id}/history.
type AgentHistoryOutput struct{ Body AgentHistory }

// AgentHistory is one agent's balance after every change.
type AgentHistory struct {
	AgentID      string              `json:"agent_id"`
	Points       []AgentHistoryPoint `json:"points" doc:"Oldest first, one per event that changed the balance."`
	NextSinceSeq uint64              `json:"next_since_seq,omitempty" doc:"The since_seq of the next page; absent on the last."`
}

// AgentHistoryPoint is one change of an agent's balance and its cause.
type AgentHistoryPoint struct {
	Seq           uint64    `json:"seq" doc:"The stream sequence of the event that changed the balance."`
	At            time.Time `json:"at"`
	Cycle         uint64    `json:"cycle" doc:"The clearing's cycle when it changed (0: before the first cycle)."`
	BalanceMicros int64     `json:"balance_micros" doc:"The balance after the event, in micro-credits."`
	DeltaMicros   int64     `json:"delta_micros" doc:"What the event changed it by: negative when credits left."`
	Cause         string    `json:"cause" doc:"The event's type: credits_granted, hold_posted, transfer_received, agent_died, ..."`
}
