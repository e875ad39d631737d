// Package series is the history read model: the economy over time. Each
// market's price, supply, leased units and utilization at every clearing
// cycle it recorded; the population (alive, dead) and the credits in
// circulation (minted, burned, in flight, held by the agents) at every
// cycle; each agent's balance after every change, with its cause. It folds
// the log with the economy fold (projections/economy), which folds each
// actor with its own Evolve and skips what every follower skips: a point
// is the fold's figures right after the event it is taken at, nothing is
// computed here. Memory is bounded: each series keeps every point of the
// last window of cycles and thins its past by halving (line), and a dead
// agent's series no longer grows. Replaying the log gives it back exactly.
package series

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	ecofold "github.com/agora-econ/agora/projections/economy"
)

// The event types points are taken at.
var (
	marketClearedType = (events.MarketCleared{}).EventType()
	cycleClearedType  = (events.CycleCleared{}).EventType()
)

// State is the history read model as a plain value: Apply folds records
// into it without IO, clocks or locks. It is not safe for concurrent use;
// View wraps it for that. Use NewState.
type State struct {
	limits limits
	// eco is the economy fold, of its own: the series take their figures
	// from it. It is not the one `agora run` runs first in its read models
	// (docs/decisions.md, "The history folds the economy of its own").
	eco *ecofold.Economy

	markets map[string]*line[MarketPoint]
	economy line[EconomyPoint]
	agents  map[string]*line[agentPoint]

	// cycle is the clearing's last cycle, the cycle of an agent's point.
	cycle uint64
	// The population and the agents' credits, kept as each agent event
	// moves them rather than summed over every account at each cycle.
	alive, dead    int
	balances, held events.Micros
	// causes interns the event types the agents' points name, so that a
	// point costs no string of its own.
	causes map[string]string
}

// NewState returns an empty state with the given limits (defaults:
// WindowCyclesDefault, PointsMaxDefault, AgentPointsMaxDefault).
func NewState(opts ...Option) (*State, error) {
	l, err := newLimits(opts)
	if err != nil {
		return nil, err
	}
	s := &State{limits: l}
	s.reset()
	return s, nil
}

// reset empties s and keeps its limits.
func (s *State) reset() {
	*s = State{limits: s.limits, eco: ecofold.New(), markets: map[string]*line[MarketPoint]{},
		agents: map[string]*line[agentPoint]{}, causes: map[string]string{}}
}

// Apply folds one record into s: into the economy fold, then into the
// series it moves: a market's at its market_cleared, the economy's at the
// clearing's cycle_cleared, an agent's at each event that changed its
// balance (or created it). A record the fold skips (it does not decode,
// or its actor does not admit its event) adds no point. A broken
// invariant is the audit's to report: the fold goes on as the live one
// does, and so do the series.
func Apply(s *State, rec events.Record) error {
	kind, id, _ := events.ActorOf(rec)
	var before agent.Account
	if kind == events.KindAgent {
		before = s.eco.Accounts[id]
	}
	skipped := len(s.eco.Skipped)
	if err := s.eco.Apply(rec); err != nil && !errors.Is(err, ecofold.ErrViolation) {
		return err
	}
	if len(s.eco.Skipped) > skipped {
		return nil
	}
	switch kind {
	case events.KindAgent:
		s.agent(rec, id, before)
	case events.KindMarket:
		if rec.Envelope.Type == marketClearedType {
			s.market(rec, id)
		}
	case events.KindClearing:
		s.clearing(rec, id)
	}
	return nil
}

// agent takes the agent's point if the event changed its balance or
// created it, and moves the population and the credits.
func (s *State) agent(rec events.Record, id string, before agent.Account) {
	after := s.eco.Accounts[id]
	s.count(before.Status, -1)
	s.count(after.Status, +1)
	s.balances += after.BalanceMicros - before.BalanceMicros
	s.held += after.HeldMicros - before.HeldMicros
	if !after.Exists() || before.Status == agent.StatusDead {
		return // a dead agent's series no longer grows
	}
	delta := after.BalanceMicros - before.BalanceMicros
	if delta == 0 && before.Exists() {
		return
	}
	l, ok := s.agents[id]
	if !ok {
		l = &line[agentPoint]{}
		// The id is cut from the record's subject: a copy of its own
		// keeps the subject from staying reachable through the key.
		s.agents[strings.Clone(id)] = l
	}
	l.push(agentPoint{seq: rec.Seq, at: projections.InstantOf(rec.Envelope.Time), cycle: s.cycle,
		balance: after.BalanceMicros, delta: delta, cause: s.cause(rec.Envelope.Type)},
		s.limits.WindowCycles, s.limits.AgentPointsMax)
}

func (s *State) count(st agent.Status, n int) {
	switch st {
	case agent.StatusAlive:
		s.alive += n
	case agent.StatusDead:
		s.dead += n
	}
}

func (s *State) cause(t string) string {
	if c, ok := s.causes[t]; ok {
		return c
	}
	s.causes[t] = t
	return t
}

// market takes the market's point at one of its cycles.
func (s *State) market(rec events.Record, resource string) {
	m := s.eco.Markets[resource]
	l, ok := s.markets[resource]
	if !ok {
		l = &line[MarketPoint]{}
		s.markets[resource] = l
	}
	l.push(MarketPoint{Cycle: m.Cycle, Seq: rec.Seq, At: rec.Envelope.Time, PriceMicros: m.PriceMicros,
		SupplyUnits: m.SupplyUnits, LeasedUnits: m.LeasedUnits, UtilizationPPM: m.UtilizationPPM},
		s.limits.WindowCycles, s.limits.PointsMax)
}

// clearing follows the clearing's cycle and takes the economy's point at
// each cycle cleared.
func (s *State) clearing(rec events.Record, pool string) {
	b := s.eco.Books[pool]
	s.cycle = max(s.cycle, b.Cycle)
	if rec.Envelope.Type != cycleClearedType {
		return
	}
	s.economy.push(s.economyPoint(rec, b.Cycle), s.limits.WindowCycles, s.limits.PointsMax)
}

func (s *State) economyPoint(rec events.Record, cycle uint64) EconomyPoint {
	return EconomyPoint{Cycle: cycle, Seq: rec.Seq, At: rec.Envelope.Time, Alive: s.alive, Dead: s.dead,
		MintedMicros: s.eco.MintedMicros, BurnedMicros: s.eco.BurnedMicros, InFlightMicros: s.eco.InFlightMicros,
		BalanceMicros: s.balances, HeldMicros: s.held}
}

// MarketSeries is one market's points, a page of them.
type MarketSeries struct {
	Market string
	Points []MarketPoint
	// NextSinceCycle is the cursor of the next page; 0: this page is the
	// last.
	NextSinceCycle uint64
}

// EconomySeries is the economy's points, a page of them.
type EconomySeries struct {
	Points         []EconomyPoint
	NextSinceCycle uint64
}

// AgentSeries is an agent's points, a page of them.
type AgentSeries struct {
	AgentID      string
	Points       []AgentPoint
	NextSinceSeq uint64
}

// Markets returns each market's points after cycle since, at most limit
// of each, oldest first, sorted by market: every market configured, with
// no point until it records a cycle. With market set, that market alone;
// false when there is no such market.
func (s *State) Markets(market string, since uint64, limit int) ([]MarketSeries, bool) {
	names := map[string]struct{}{}
	for r, m := range s.eco.Markets {
		if m.Open() {
			names[r] = struct{}{}
		}
	}
	for r := range s.markets {
		names[r] = struct{}{}
	}
	if market != "" {
		if _, ok := names[market]; !ok {
			return nil, false
		}
		names = map[string]struct{}{market: {}}
	}
	out := []MarketSeries{}
	for _, r := range slices.Sorted(maps.Keys(names)) {
		m := MarketSeries{Market: r, Points: []MarketPoint{}}
		if l, ok := s.markets[r]; ok {
			m.Points, m.NextSinceCycle = l.after(since, false, limit)
		}
		out = append(out, m)
	}
	return out, true
}

// Economy returns the economy's points after cycle since, at most limit,
// oldest first.
func (s *State) Economy(since uint64, limit int) EconomySeries {
	var out EconomySeries
	out.Points, out.NextSinceCycle = s.economy.after(since, false, limit)
	return out
}

// Agent returns the agent's points after sequence since, at most limit,
// oldest first; false when the agent was never created.
func (s *State) Agent(id string, since uint64, limit int) (AgentSeries, bool) {
	if !s.eco.Accounts[id].Exists() {
		return AgentSeries{}, false
	}
	out := AgentSeries{AgentID: id, Points: []AgentPoint{}}
	if l, ok := s.agents[id]; ok {
		var points []agentPoint
		points, out.NextSinceSeq = l.after(since, true, limit)
		for _, p := range points {
			out.Points = append(out.Points, p.AgentPoint())
		}
	}
	return out, true
}

// Points is how many points s holds over every series: what its memory
// grows with.
func (s *State) Points() int {
	n := s.economy.len()
	for _, l := range s.markets {
		n += l.len()
	}
	for _, l := range s.agents {
		n += l.len()
	}
	return n
}

// LastSeq is the sequence of the last record folded.
func (s *State) LastSeq() uint64 { return s.eco.LastSeq }
