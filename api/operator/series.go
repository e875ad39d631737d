package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/projections/series"
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

// Series is the history read model. *series.View satisfies it.
type Series interface {
	Markets(market string, sinceCycle uint64, limit int) ([]series.MarketSeries, bool)
	Economy(sinceCycle uint64, limit int) series.EconomySeries
	Agent(id string, sinceSeq uint64, limit int) (series.AgentSeries, bool)
}

// HistoryPointsMax is the most points one answer gives a series (limit).
const HistoryPointsMax = 5000

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

func (s *service) registerSeries(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-markets-history", Method: http.MethodGet, Path: "/admin/history/markets", Tags: []string{"history"},
		Summary: "Each market's price, supply, leased units and utilization at every clearing cycle",
	}, http.StatusNotFound), s.marketsHistory)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-economy-history", Method: http.MethodGet, Path: "/admin/history/economy", Tags: []string{"history"},
		Summary: "The population and the credits in circulation at every clearing cycle",
	}), s.economyHistory)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-agent-history", Method: http.MethodGet, Path: "/admin/agents/{id}/history", Tags: []string{"history", "agents"},
		Summary: "An agent's balance after every change, with its cause",
	}, http.StatusNotFound), s.agentHistory)
}

func (s *service) marketsHistory(ctx context.Context, in *MarketsHistoryInput) (*MarketsHistoryOutput, error) {
	s.settle(ctx)
	ms, ok := s.deps.Series.Markets(in.Market, in.SinceCycle, in.Limit)
	if !ok {
		return nil, huma.Error404NotFound(fmt.Sprintf("no market %s", in.Market))
	}
	return &MarketsHistoryOutput{Body: MarketsHistoryOf(ms)}, nil
}

func (s *service) economyHistory(ctx context.Context, in *EconomyHistoryInput) (*EconomyHistoryOutput, error) {
	s.settle(ctx)
	return &EconomyHistoryOutput{Body: EconomyHistoryOf(s.deps.Series.Economy(in.SinceCycle, in.Limit))}, nil
}

func (s *service) agentHistory(ctx context.Context, in *AgentHistoryInput) (*AgentHistoryOutput, error) {
	s.settle(ctx)
	a, ok := s.deps.Series.Agent(in.ID, in.SinceSeq, in.Limit)
	if !ok {
		return nil, s.Problem(fmt.Errorf("%w: %s", agent.ErrUnknownAgent, in.ID))
	}
	return &AgentHistoryOutput{Body: AgentHistoryOf(a)}, nil
}

// MarketsHistoryOf is the answer of GET /admin/history/markets for the
// read model's series; `agora markets --history` prints the same from the
// log when no economy runs.
func MarketsHistoryOf(ms []series.MarketSeries) MarketsHistory {
	out := MarketsHistory{Markets: make([]MarketHistory, len(ms))}
	for i, m := range ms {
		h := MarketHistory{Market: m.Market, Points: make([]MarketHistoryPoint, len(m.Points)), NextSinceCycle: m.NextSinceCycle}
		for j, p := range m.Points {
			h.Points[j] = MarketHistoryPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, PriceMicros: int64(p.PriceMicros),
				Supply: system.Units(p.SupplyUnits), Leased: system.Units(p.LeasedUnits), Utilization: system.Units(p.UtilizationPPM)}
		}
		out.Markets[i] = h
	}
	return out
}

// EconomyHistoryOf is the answer of GET /admin/history/economy for the
// read model's series.
func EconomyHistoryOf(e series.EconomySeries) EconomyHistory {
	out := EconomyHistory{Points: make([]EconomyHistoryPoint, len(e.Points)), NextSinceCycle: e.NextSinceCycle}
	for i, p := range e.Points {
		out.Points[i] = EconomyHistoryPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Alive: p.Alive, Dead: p.Dead,
			Total: p.Alive + p.Dead, MintedMicros: int64(p.MintedMicros), BurnedMicros: int64(p.BurnedMicros),
			InFlightMicros: int64(p.InFlightMicros), BalanceMicros: int64(p.BalanceMicros), HeldMicros: int64(p.HeldMicros)}
	}
	return out
}

// AgentHistoryOf is the answer of GET /admin/agents/{id}/history for the
// read model's series.
func AgentHistoryOf(a series.AgentSeries) AgentHistory {
	out := AgentHistory{AgentID: a.AgentID, Points: make([]AgentHistoryPoint, len(a.Points)), NextSinceSeq: a.NextSinceSeq}
	for i, p := range a.Points {
		out.Points[i] = AgentHistoryPoint{Seq: p.Seq, At: p.At, Cycle: p.Cycle, BalanceMicros: int64(p.BalanceMicros),
			DeltaMicros: int64(p.DeltaMicros), Cause: p.Cause}
	}
	return out
}
