package series

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// snapshotFormat is the version of what Snapshot writes (see
// projections.MarshalSnapshot).
const snapshotFormat = 1

// snapshot is the read model as JSON: its limits (a snapshot taken under
// other limits is refused, since its series were thinned otherwise and a
// rebuild would not give them back), the economy fold's own snapshot, and
// every series as its line holds it, its points in short fields. Its size
// is bounded by the limits: (markets + 1) x points_max + agents x
// agent_points_max points, besides the fold.
type snapshot struct {
	Limits  limits                          `json:"limits"`
	Economy json.RawMessage                 `json:"economy"`
	Cycle   uint64                          `json:"cycle"`
	Markets map[string]lineJSON[marketJSON] `json:"markets,omitempty"`
	Points  lineJSON[economyJSON]           `json:"points"`
	Agents  map[string]lineJSON[agentJSON]  `json:"agents,omitempty"`
}

// lineJSON is a line: its two parts and where its thinning stands.
type lineJSON[J any] struct {
	Old    []J    `json:"old,omitempty"`
	Recent []J    `json:"recent,omitempty"`
	Stride uint64 `json:"stride,omitempty"`
	Gap    uint64 `json:"gap,omitempty"`
}

func saveLine[P point, J any](l *line[P], to func(P) J) lineJSON[J] {
	out := lineJSON[J]{Stride: l.stride, Gap: l.gap}
	for _, p := range l.old {
		out.Old = append(out.Old, to(p))
	}
	for _, p := range l.recent {
		out.Recent = append(out.Recent, to(p))
	}
	return out
}

// loadLine is the line j holds, its arrays as long as its points: most
// agents of a long run are dead and their lines hold a few points for ever.
func loadLine[P point, J any](j lineJSON[J], from func(J) P) *line[P] {
	l := &line[P]{stride: j.Stride, gap: j.Gap}
	if len(j.Old) > 0 {
		l.old = make([]P, 0, len(j.Old))
	}
	if len(j.Recent) > 0 {
		l.recent = make([]P, 0, len(j.Recent))
	}
	for _, p := range j.Old {
		l.old = append(l.old, from(p))
	}
	for _, p := range j.Recent {
		l.recent = append(l.recent, from(p))
	}
	return l
}

type marketJSON struct {
	Cycle  uint64        `json:"c"`
	Seq    uint64        `json:"s"`
	At     time.Time     `json:"t"`
	Price  events.Micros `json:"p"`
	Supply events.Units  `json:"n"`
	Leased events.Units  `json:"l"`
	PPM    int64         `json:"u"`
}

func toMarketJSON(p MarketPoint) marketJSON {
	return marketJSON{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Price: p.PriceMicros, Supply: p.SupplyUnits,
		Leased: p.LeasedUnits, PPM: p.UtilizationPPM}
}

func fromMarketJSON(p marketJSON) MarketPoint {
	return MarketPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, PriceMicros: p.Price, SupplyUnits: p.Supply,
		LeasedUnits: p.Leased, UtilizationPPM: p.PPM}
}

type economyJSON struct {
	Cycle    uint64        `json:"c"`
	Seq      uint64        `json:"s"`
	At       time.Time     `json:"t"`
	Alive    int           `json:"a"`
	Dead     int           `json:"d"`
	Minted   events.Micros `json:"m"`
	Burned   events.Micros `json:"b"`
	InFlight events.Micros `json:"f"`
	Balance  events.Micros `json:"h"`
	Held     events.Micros `json:"r"`
}

func toEconomyJSON(p EconomyPoint) economyJSON {
	return economyJSON{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Alive: p.Alive, Dead: p.Dead, Minted: p.MintedMicros,
		Burned: p.BurnedMicros, InFlight: p.InFlightMicros, Balance: p.BalanceMicros, Held: p.HeldMicros}
}

func fromEconomyJSON(p economyJSON) EconomyPoint {
	return EconomyPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Alive: p.Alive, Dead: p.Dead, MintedMicros: p.Minted,
		BurnedMicros: p.Burned, InFlightMicros: p.InFlight, BalanceMicros: p.Balance, HeldMicros: p.Held}
}

type agentJSON struct {
	Seq     uint64        `json:"s"`
	At      time.Time     `json:"t"`
	Cycle   uint64        `json:"c"`
	Balance events.Micros `json:"b"`
	Delta   events.Micros `json:"d"`
	Cause   string        `json:"k"`
}

func toAgentJSON(p agentPoint) agentJSON {
	return agentJSON{Seq: p.seq, At: p.at.Time(), Cycle: p.cycle, Balance: p.balance, Delta: p.delta, Cause: p.cause}
}

// Snapshot is the read model as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	s, err := v.state.snapshot()
	if err != nil {
		return nil, err
	}
	return projections.MarshalSnapshot(snapshotFormat, s)
}

func (s *State) snapshot() (snapshot, error) {
	eco, err := s.eco.Snapshot()
	if err != nil {
		return snapshot{}, fmt.Errorf("the economy fold: %w", err)
	}
	out := snapshot{Limits: s.limits, Economy: eco, Cycle: s.cycle, Markets: map[string]lineJSON[marketJSON]{},
		Points: saveLine(&s.economy, toEconomyJSON), Agents: map[string]lineJSON[agentJSON]{}}
	for r, l := range s.markets {
		out.Markets[r] = saveLine(l, toMarketJSON)
	}
	for id, l := range s.agents {
		out.Agents[id] = saveLine(l, toAgentJSON)
	}
	return out, nil
}

// Restore replaces the read model with the one a Snapshot holds. A
// snapshot of another format, or taken under other limits, is refused
// with projections.ErrSnapshotFormat and the view is unchanged.
func (v *View) Restore(data []byte) error {
	var saved snapshot
	if err := projections.UnmarshalSnapshot(data, snapshotFormat, &saved); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if saved.Limits != v.state.limits {
		return fmt.Errorf("%w: taken with limits %+v, the view has %+v", projections.ErrSnapshotFormat, saved.Limits,
			v.state.limits)
	}
	s, err := restored(saved)
	if err != nil {
		return err
	}
	v.state = *s
	return nil
}

func restored(saved snapshot) (*State, error) {
	s := &State{limits: saved.Limits}
	s.reset()
	// Sized once for every agent, rather than grown to it: a map grown
	// one key at a time may be up to half empty.
	s.agents = make(map[string]*line[agentPoint], len(saved.Agents))
	if err := s.eco.Restore(saved.Economy); err != nil {
		return nil, err
	}
	s.cycle = saved.Cycle
	for _, a := range s.eco.Accounts {
		s.count(a.Status, +1)
		s.balances += a.BalanceMicros
		s.held += a.HeldMicros
	}
	for r, l := range saved.Markets {
		s.markets[r] = loadLine(l, fromMarketJSON)
	}
	s.economy = *loadLine(saved.Points, fromEconomyJSON)
	for id, l := range saved.Agents {
		s.agents[id] = loadLine(l, func(p agentJSON) agentPoint {
			return agentPoint{seq: p.Seq, at: projections.InstantOf(p.At), cycle: p.Cycle, balance: p.Balance,
				delta: p.Delta, cause: s.cause(p.Cause)}
		})
	}
	return s, nil
}
