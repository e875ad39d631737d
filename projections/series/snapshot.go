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
// every series, its points in short fields. Its size is bounded by the
// limits: markets x points_max + points_max + agents x agent_points_max
// points, besides the fold.
type snapshot struct {
	Limits  limits                  `json:"limits"`
	Economy json.RawMessage         `json:"economy"`
	Cycle   uint64                  `json:"cycle"`
	Markets map[string][]marketJSON `json:"markets,omitempty"`
	Points  []economyJSON           `json:"points,omitempty"`
	Agents  map[string][]agentJSON  `json:"agents,omitempty"`
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

type agentJSON struct {
	Seq     uint64        `json:"s"`
	At      time.Time     `json:"t"`
	Cycle   uint64        `json:"c"`
	Balance events.Micros `json:"b"`
	Delta   events.Micros `json:"d"`
	Cause   string        `json:"k"`
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
	out := snapshot{Limits: s.limits, Economy: eco, Cycle: s.cycle, Markets: map[string][]marketJSON{},
		Agents: map[string][]agentJSON{}}
	for r, l := range s.markets {
		ps := make([]marketJSON, len(l.points))
		for i, p := range l.points {
			ps[i] = marketJSON{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Price: p.PriceMicros, Supply: p.SupplyUnits,
				Leased: p.LeasedUnits, PPM: p.UtilizationPPM}
		}
		out.Markets[r] = ps
	}
	for _, p := range s.economy.points {
		out.Points = append(out.Points, economyJSON{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Alive: p.Alive, Dead: p.Dead,
			Minted: p.MintedMicros, Burned: p.BurnedMicros, InFlight: p.InFlightMicros, Balance: p.BalanceMicros,
			Held: p.HeldMicros})
	}
	for id, l := range s.agents {
		ps := make([]agentJSON, len(l.points))
		for i, p := range l.points {
			ps[i] = agentJSON{Seq: p.Seq, At: p.At, Cycle: p.Cycle, Balance: p.BalanceMicros, Delta: p.DeltaMicros,
				Cause: p.Cause}
		}
		out.Agents[id] = ps
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
	if err := s.eco.Restore(saved.Economy); err != nil {
		return nil, err
	}
	s.cycle = saved.Cycle
	for _, a := range s.eco.Accounts {
		s.count(a.Status, +1)
		s.balances += a.BalanceMicros
		s.held += a.HeldMicros
	}
	for r, ps := range saved.Markets {
		l := &line[MarketPoint]{points: make([]MarketPoint, len(ps))}
		for i, p := range ps {
			l.points[i] = MarketPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, PriceMicros: p.Price, SupplyUnits: p.Supply,
				LeasedUnits: p.Leased, UtilizationPPM: p.PPM}
		}
		s.markets[r] = l
	}
	for _, p := range saved.Points {
		s.economy.points = append(s.economy.points, EconomyPoint{Cycle: p.Cycle, Seq: p.Seq, At: p.At, Alive: p.Alive,
			Dead: p.Dead, MintedMicros: p.Minted, BurnedMicros: p.Burned, InFlightMicros: p.InFlight,
			BalanceMicros: p.Balance, HeldMicros: p.Held})
	}
	for id, ps := range saved.Agents {
		l := &line[AgentPoint]{points: make([]AgentPoint, len(ps))}
		for i, p := range ps {
			l.points[i] = AgentPoint{Seq: p.Seq, At: p.At, Cycle: p.Cycle, BalanceMicros: p.Balance,
				DeltaMicros: p.Delta, Cause: s.cause(p.Cause)}
		}
		s.agents[id] = l
	}
	return s, nil
}
