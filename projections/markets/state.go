package markets

import (
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/books"
)

// State is the markets read model as a plain value: Apply folds records
// into it without IO, clocks or locks. It is not safe for concurrent use;
// View wraps it for that. The zero State is empty and keeps
// HistoryLengthDefault transactions per market.
type State struct {
	historyLength int
	entries       map[string]*entry
	// books are the clearing pools' books, folded with clearing.Evolve:
	// the open bids each market counts are theirs, and the cycle is
	// theirs. counted is how many open bids the counts hold, to check
	// them against the books.
	books   books.Books
	counted int
	// clock counts changes to any market; each entry records the clock of
	// its last change, so that the mirror writes only what changed. It is
	// kept through a reset so that versions only grow.
	clock uint64
}

// entry is one market: the market actor's own state, folded with its
// Evolve, and what the clearing says of it.
type entry struct {
	market market.Market
	active int // open bids naming the resource
	recent ring
	// running are the executions holding units of this market, to name the
	// bid and agent when their units are released.
	running map[string]execution
	version uint64
	// prompts are the prompts waiting in the attention slot's queue: the
	// attention market's open bids (attention.go).
	prompts map[string]struct{}
}

type execution struct {
	bidID, agentID, beneficiaryID string
	// used is what the execution used of the market's resource, once its
	// end is recorded (ended).
	used  events.Units
	ended bool
}

// NewState returns an empty state that keeps historyLength transactions
// per market (allocation.transaction_history_length).
func NewState(historyLength int) (*State, error) {
	if historyLength < 1 || historyLength > HistoryLengthMax {
		return nil, fmt.Errorf("%w: history length %d, want 1 to %d", ErrInvalidLimit, historyLength, HistoryLengthMax)
	}
	return &State{historyLength: historyLength}, nil
}

func (s *State) init() {
	if s.historyLength == 0 {
		s.historyLength = HistoryLengthDefault
	}
	if s.entries == nil {
		s.entries = map[string]*entry{}
	}
}

// reset empties s and keeps its history length and its clock.
func (s *State) reset() { *s = State{historyLength: s.historyLength, clock: s.clock} }

// entry returns the market's entry, created on first mention, and marks it
// changed.
func (s *State) touch(resource string) *entry {
	e, ok := s.entries[resource]
	if !ok {
		e = &entry{market: market.New(resource), running: map[string]execution{}}
		s.entries[resource] = e
	}
	s.clock++
	e.version = s.clock
	return e
}

// Apply folds one record into s: market events through market.Evolve (the
// market actor's own fold), and from the clearing events the open bids and
// the allocations of each cycle. Records of other kinds are ignored without
// being decoded. On error s is unchanged.
func Apply(s *State, rec events.Record) error {
	// A record that is not a sound event is skipped by every follower
	// (events.Check): the error says so, and the runner passes over it.
	if err := events.Check(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	kind, id, _ := events.ActorOf(rec)
	if kind == events.KindAgent && rec.Envelope.Type == (events.ExecutionEnded{}).EventType() {
		return s.ended(rec)
	}
	if kind != events.KindMarket && kind != events.KindClearing && kind != events.KindAttention {
		return nil
	}
	e, err := events.Read(rec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	s.init()
	if kind == events.KindAttention {
		if id == events.SlotID {
			s.attention(rec, e)
		}
	} else if kind == events.KindMarket {
		s.market(rec, id, e)
	} else {
		s.clearing(rec, id, e)
	}
	return nil
}

// market folds one event of the market of resource.
func (s *State) market(rec events.Record, resource string, ev events.Event) {
	switch ev := ev.(type) {
	case events.MarketConfigured, events.MarketCleared, events.LeaseReleased, events.LeaseGranted:
		m := s.touch(resource)
		m.market = market.Evolve(m.market, ev)
		switch ev := ev.(type) {
		case events.MarketCleared:
			for _, l := range ev.Released {
				s.released(rec, m, l.ExecutionID, l.Units, ev.Cycle, "expired")
			}
		case events.LeaseReleased:
			s.released(rec, m, ev.ExecutionID, ev.Units, 0, ev.Reason)
		}
	}
}

func (s *State) released(rec events.Record, m *entry, executionID string, units events.Units, cycle uint64, reason string) {
	x := m.running[executionID]
	delete(m.running, executionID)
	s.push(rec, m, Transaction{Kind: KindRelease, Cycle: cycle, BidID: x.bidID, ExecutionID: executionID,
		AgentID: x.agentID, BeneficiaryID: x.beneficiaryID, Units: units, Reason: reason, UsedUnits: x.used,
		Measured: x.ended})
}

// clearing folds one event of the clearing pool: into its book, with
// clearing.Evolve, which says which bids are open; and a cycle's
// allocations into the markets' transactions.
func (s *State) clearing(rec events.Record, pool string, ev events.Event) {
	s.books.Evolve(pool, ev, s.count)
	if s.counted != s.books.Count() {
		s.recount() // the event changed a bid it does not name
	}
	switch ev := ev.(type) {
	case events.CycleCleared:
		for _, a := range ev.Allocations {
			for _, r := range slices.Sorted(maps.Keys(a.Resources)) {
				m := s.touch(r)
				m.running[a.ExecutionID] = execution{bidID: a.BidID, agentID: a.AgentID, beneficiaryID: a.BeneficiaryID}
				s.push(rec, m, Transaction{Kind: KindAllocation, Cycle: ev.Cycle, BidID: a.BidID, ExecutionID: a.ExecutionID,
					AgentID: a.AgentID, BeneficiaryID: a.BeneficiaryID, Units: a.Resources[r], AmountMicros: a.AmountMicros,
					PriceMicros: ev.Markets[r].PriceMicros})
			}
		}
	}
}

// count moves one changed bid in the counts of the markets it names.
func (s *State) count(c books.Change) {
	if c.Before != nil {
		s.counted--
		for r := range c.Before.Resources {
			s.touch(r).active--
		}
	}
	if c.After != nil {
		s.counted++
		for r := range c.After.Resources {
			s.touch(r).active++
		}
	}
}

// recount counts every open bid of the books again.
func (s *State) recount() {
	for _, e := range s.entries {
		if e.active != 0 {
			e.active = 0
			s.clock++
			e.version = s.clock
		}
	}
	s.counted = 0
	for _, pool := range s.books.Pools() {
		b, _ := s.books.Book(pool)
		for _, bid := range b.Bids {
			s.count(books.Change{Pool: pool, After: &bid})
		}
	}
}

func (s *State) push(rec events.Record, m *entry, t Transaction) {
	t.Seq, t.Time = rec.Seq, rec.Envelope.Time
	m.recent.Push(t, s.historyLength)
}

// Markets returns every open market (one that was configured), sorted by
// resource, with the cycle.
func (s *State) Markets() MarketsState {
	out := MarketsState{Cycle: s.books.Cycle(), Markets: []MarketState{}}
	for _, r := range slices.Sorted(maps.Keys(s.entries)) {
		if m, ok := s.Market(r); ok {
			out.Markets = append(out.Markets, m)
		}
	}
	return out
}

// Market returns one market, if it was configured.
func (s *State) Market(resource string) (MarketState, bool) {
	e, ok := s.entries[resource]
	if !ok || !e.market.Open() {
		return MarketState{}, false
	}
	return e.state(), true
}

// Cycle is the number of the last cycle that changed anything.
func (s *State) Cycle() uint64 { return s.books.Cycle() }

func (e *entry) state() MarketState {
	m := e.market
	return MarketState{Resource: m.Resource, SupplyUnits: m.SupplyUnits, LeasedUnits: m.LeasedUnits,
		UtilizationPPM: utilizationPPM(m.LeasedUnits, m.SupplyUnits), PriceMicros: m.PriceMicros,
		ActiveBids: e.active + len(e.prompts), RecentTransactions: e.recent.Newest(0)}
}

// changedSince returns the open markets changed after version, sorted by
// resource, and the version they bring the reader to.
func (s *State) changedSince(version uint64) ([]MarketState, uint64) {
	var out []MarketState
	for _, r := range slices.Sorted(maps.Keys(s.entries)) {
		if e := s.entries[r]; e.version > version && e.market.Open() {
			out = append(out, e.state())
		}
	}
	return out, s.clock
}

// utilizationPPM is leased / supply in parts per million, rounded down
// (the clearing's formula), computed in 128 bits so that no supply
// overflows it.
func utilizationPPM(leased, supply events.Units) int64 {
	if leased <= 0 || supply <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(leased), 1_000_000)
	if hi >= uint64(supply) {
		return math.MaxInt64 // leased far above supply: only a broken log gets here
	}
	q, _ := bits.Div64(hi, lo, uint64(supply))
	return int64(min(q, math.MaxInt64))
}
