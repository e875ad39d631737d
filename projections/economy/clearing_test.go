package economy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// fact is one event of any actor, for the market and clearing histories.
type fact struct {
	kind  events.Kind
	id    string
	event events.Event
}

// foldFacts applies the facts as consecutive records (sequence i+1) and
// returns the first violation's sequence (0 when none) and invariant, or
// the first skipped record's.
func foldFacts(t *testing.T, facts []fact) (uint64, string, *economy.Economy) {
	t.Helper()
	eco := economy.New()
	for i, f := range facts {
		env, err := events.Encode(f.kind, f.id, f.event, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := eco.Apply(events.Record{Seq: uint64(i + 1), Envelope: env}); err != nil {
			var v *economy.Violation
			if !errors.As(err, &v) || !errors.Is(err, economy.ErrViolation) {
				t.Fatalf("non-violation error %v", err)
			}
			return v.Seq, v.Invariant + ": " + v.Detail, eco
		}
		// A record its actor does not admit is skipped, and fails the
		// audit until it is acknowledged: as good as a violation here.
		if k := eco.Unacknowledged(); len(k) > 0 {
			return k[0].Seq, "skipped: " + string(k[0].Reason) + ": " + k[0].Detail, eco
		}
	}
	return 0, "", eco
}

const pool = "main"

var (
	cpu = events.WholeUnits(1)
	mem = events.WholeUnits(1)
	at  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

func ag(id string, e events.Event) fact { return fact{events.KindAgent, id, e} }
func book(e events.Event) fact          { return fact{events.KindClearing, pool, e} }
func mkt(r string, e events.Event) fact { return fact{events.KindMarket, r, e} }
func trig(seq uint64) events.Trigger    { return events.Trigger{Manager: clearing.ManagerName, Seq: seq} }
func bundle(c, m int64) map[string]events.Units {
	return map[string]events.Units{"cpu_seconds": events.Units(c) * cpu, "memory_mb": events.Units(m) * mem}
}

// setup is seqs 1-5: two markets (cpu supply 10, memory supply 100) in the
// market actors and the book, agents a and b with 100 each.
func setup() []fact {
	terms := map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: 10 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100},
		"memory_mb":   {SupplyUnits: 100 * mem, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100},
	}
	return []fact{
		mkt("cpu_seconds", events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: 10 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}),
		mkt("memory_mb", events.MarketConfigured{Resource: "memory_mb", SupplyUnits: 100 * mem, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}),
		book(events.BookConfigured{Markets: terms, LeaseTimeoutSeconds: 60, AllocationsMax: 10}),
		ag("a", events.AgentCreated{AgentID: "a", GrantMicros: 100}),
		ag("b", events.AgentCreated{AgentID: "b", GrantMicros: 100}),
	}
}

// placeBid is the hold and its listing (two facts); holdSeq is the
// sequence the hold will have.
func placeBid(agentID, bidID string, amount events.Micros, units map[string]events.Units, holdSeq uint64) []fact {
	return []fact{
		ag(agentID, events.HoldPlaced{HoldID: bidID, AmountMicros: amount, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: pool, Resources: units}}),
		book(events.BidListed{BidID: bidID, AgentID: agentID, Resources: units, AmountMicros: amount, PlacedAt: at, Trigger: trig(holdSeq)}),
	}
}

func alloc(agentID, bidID string, amount events.Micros, units map[string]events.Units) events.Allocation {
	return events.Allocation{BidID: bidID, ExecutionID: clearing.ExecutionID(bidID), AgentID: agentID, BeneficiaryID: agentID,
		Resources: units, AmountMicros: amount}
}

// cycle is a cycle_cleared with the book's leases after it.
func cycle(n uint64, cpuLeased, memLeased int64, expired []string, allocs ...events.Allocation) fact {
	return book(events.CycleCleared{Cycle: n, At: at.Add(time.Duration(n) * time.Minute), Expired: expired, Allocations: allocs,
		Markets: map[string]events.MarketOutcome{
			"cpu_seconds": {LeasedUnits: events.Units(cpuLeased) * cpu, PriceMicros: 1, NewPriceMicros: 1},
			"memory_mb":   {LeasedUnits: events.Units(memLeased) * mem, PriceMicros: 1, NewPriceMicros: 1},
		}})
}

// recorded is market r recording the cycle of sequence seq.
func recorded(r string, n, seq uint64, leased int64, released []events.Lease, granted ...events.Lease) fact {
	supply := map[string]events.Units{"cpu_seconds": 10 * cpu, "memory_mb": 100 * mem}[r]
	return mkt(r, events.MarketCleared{Cycle: n, Released: released, Granted: granted, LeasedUnits: events.Units(leased) * cpu,
		SupplyUnits: supply, PriceMicros: 1, NewPriceMicros: 1, Trigger: trig(seq)})
}

func lease(bidID string, units int64) events.Lease {
	return events.Lease{ExecutionID: clearing.ExecutionID(bidID), Units: events.Units(units) * cpu}
}

func released(bidID string, c, m int64, seq uint64) fact {
	return book(events.ExecutionReleased{ExecutionID: clearing.ExecutionID(bidID), BidID: bidID, Resources: bundle(c, m), Reason: "exited", Trigger: trig(seq)})
}

func leaseReleased(r, bidID string, units int64, seq uint64) fact {
	return mkt(r, events.LeaseReleased{ExecutionID: clearing.ExecutionID(bidID), Units: events.Units(units) * cpu, Reason: "exited", Trigger: trig(seq)})
}

func posted(agentID, bidID string, amount, released events.Micros, seq uint64, index uint32) fact {
	return ag(agentID, events.HoldPosted{HoldID: bidID, AmountMicros: amount, ReleasedMicros: released,
		ExecutionID: clearing.ExecutionID(bidID), Trigger: events.Trigger{Manager: clearing.ManagerName, Seq: seq, Index: index}})
}

func cat(parts ...[]fact) []fact {
	var out []fact
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// validMarketHistory walks a bid through every path: listed, raised,
// won, paid (with a raise after the win released), leased, released; a
// withdrawal; a winner that dies before its payment (refused, revoked);
// a lease timeout; a rejection.
func validMarketHistory() []fact {
	return cat(setup(), // 1-5
		placeBid("a", "b-1", 20, bundle(6, 10), 6), // 6-7
		placeBid("b", "b-2", 15, bundle(6, 10), 8), // 8-9
		[]fact{
			ag("a", events.HoldIncreased{HoldID: "b-1", AmountMicros: 25, DeltaMicros: 5}), // 10
			book(events.BidRaised{BidID: "b-1", AmountMicros: 25, Trigger: trig(10)}),      // 11
			cycle(1, 6, 10, nil, alloc("a", "b-1", 25, bundle(6, 10))),                     // 12: b-2 does not fit
			ag("a", events.HoldIncreased{HoldID: "b-1", AmountMicros: 30, DeltaMicros: 5}), // 13: raised after it won
			posted("a", "b-1", 25, 5, 12, 1),                                               // 14
			recorded("cpu_seconds", 1, 12, 6, nil, lease("b-1", 6)),                        // 15
			recorded("memory_mb", 1, 12, 10, nil, lease("b-1", 10)),                        // 16
			// The raise at 13 comes after the win: the book writes nothing.
		},
		[]fact{
			released("b-1", 6, 10, 0),                  // 17
			leaseReleased("cpu_seconds", "b-1", 6, 17), // 18
			leaseReleased("memory_mb", "b-1", 10, 17),  // 19
			book(events.BidWithdrawn{BidID: "b-2", AgentID: "b", AmountMicros: 15, Reason: "withdrawn"}), // 20
			ag("b", events.HoldVoided{HoldID: "b-2", AmountMicros: 15, Trigger: trig(20)}),               // 21
		},
		placeBid("b", "b-3", 10, bundle(2, 2), 22), // 22-23
		placeBid("a", "b-4", 10, bundle(2, 2), 24), // 24-25
		[]fact{
			cycle(2, 4, 4, nil, alloc("b", "b-3", 10, bundle(2, 2)), alloc("a", "b-4", 10, bundle(2, 2))), // 26
			ag("b", events.AgentDied{Reason: "test", VoidedHolds: []string{"b-3"}, BurnedMicros: 100}),    // 27
			ag("b", events.PaymentRefused{HoldID: "b-3", AmountMicros: 10, ExecutionID: clearing.ExecutionID("b-3"),
				Reason: "agent is dead", Trigger: events.Trigger{Manager: clearing.ManagerName, Seq: 26, Index: 1}}), // 28
			posted("a", "b-4", 10, 0, 26, 2),                                         // 29
			recorded("cpu_seconds", 2, 26, 4, nil, lease("b-3", 2), lease("b-4", 2)), // 30
			book(events.ExecutionReleased{ExecutionID: clearing.ExecutionID("b-3"), BidID: "b-3", Resources: bundle(2, 2),
				Reason: "unpaid", Trigger: trig(28)}), // 31
			recorded("memory_mb", 2, 26, 4, nil, lease("b-3", 2), lease("b-4", 2)), // 32
			leaseReleased("cpu_seconds", "b-3", 2, 31),                             // 33
			leaseReleased("memory_mb", "b-3", 2, 31),                               // 34
			cycle(3, 0, 0, []string{clearing.ExecutionID("b-4")}),                  // 35: b-4 timed out
			recorded("cpu_seconds", 3, 35, 0, []events.Lease{lease("b-4", 2)}),     // 36
			recorded("memory_mb", 3, 35, 0, []events.Lease{lease("b-4", 2)}),       // 37
			ag("a", events.HoldPlaced{HoldID: "b-5", AmountMicros: 1, Purpose: events.PurposeBid,
				Bid: &events.BidTerms{Pool: pool, Resources: bundle(1, 1)}}), // 38
			book(events.BidRejected{BidID: "b-5", AgentID: "a", AmountMicros: 1, Reason: "below reserve", Trigger: trig(38)}), // 39
			ag("a", events.HoldVoided{HoldID: "b-5", AmountMicros: 1, Trigger: trig(39)}),                                     // 40
		})
}

func TestAuditAcceptsAValidMarketHistory(t *testing.T) {
	seq, inv, eco := foldFacts(t, validMarketHistory())
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
	s := eco.Summary()
	if s.Cycles != 3 || s.OpenBids != 0 || s.RunningExecutions != 0 || s.UnpaidAllocations != 0 ||
		s.BurnedMicros != 25+10+100 || s.Markets["cpu_seconds"] != (economy.MarketSummary{SupplyUnits: 10 * cpu, PriceMicros: 1}) {
		t.Fatalf("summary %+v", s)
	}
}

// The summary counts what the managers still owe in the middle of a
// history, and CheckSettled refuses it.
func TestSummaryCountsPendingWork(t *testing.T) {
	seq, inv, eco := foldFacts(t, validMarketHistory()[:12])
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.OpenBids != 1 || s.RunningExecutions != 1 || s.UnpaidAllocations != 1 || s.UnrecordedCycles != 1 || s.Cycles != 1 {
		t.Fatalf("summary %+v", s)
	}
	if err := eco.CheckSettled(); !errors.Is(err, economy.ErrUnsettled) {
		t.Fatalf("CheckSettled: %v", err)
	}
}

// Each case breaks one invariant of SPEC.md section 4 (3: leased <= supply;
// 4: bids allocated once while open, paid exactly their amount, leases
// released once) at its last fact; the audit must name that fact's
// sequence. The base is seqs 1-9: setup, then bid b-1 of a (20 for 6 cpu,
// 10 memory) and bid b-2 of b (15 for the same), both open.
func TestAuditCatchesMarketViolations(t *testing.T) {
	base := cat(setup(), placeBid("a", "b-1", 20, bundle(6, 10), 6), placeBid("b", "b-2", 15, bundle(6, 10), 8))
	won := cycle(1, 6, 10, nil, alloc("a", "b-1", 20, bundle(6, 10))) // seq 10 when first
	refusal := func(agentID, bidID string, seq uint64) fact {
		return ag(agentID, events.PaymentRefused{HoldID: bidID, AmountMicros: 20, ExecutionID: clearing.ExecutionID(bidID),
			Reason: "agent is dead", Trigger: events.Trigger{Manager: clearing.ManagerName, Seq: seq, Index: 1}})
	}
	cases := map[string][]fact{
		// Invariant 3: leased <= supply, in the book and in every market.
		"book allocates past supply": {cycle(1, 12, 20, nil, alloc("a", "b-1", 20, bundle(6, 10)), alloc("b", "b-2", 15, bundle(6, 10)))},
		"market configured below its leases": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)),
			mkt("cpu_seconds", events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: 5 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100})},
		"book configured below its leases": {won, book(events.BookConfigured{Markets: map[string]events.MarketTerms{
			"cpu_seconds": {SupplyUnits: 5 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100},
			"memory_mb":   {SupplyUnits: 100 * mem, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}}, AllocationsMax: 10})},
		"allocation of a resource with no market": cat(placeBid("a", "b-3", 10, map[string]events.Units{"gpu": 1}, 10),
			[]fact{cycle(1, 0, 0, nil, alloc("a", "b-3", 10, map[string]events.Units{"gpu": 1}))}),
		"cycle reports other leases": {cycle(1, 5, 10, nil, alloc("a", "b-1", 20, bundle(6, 10)))},
		// Invariant 4: each bid listed once from its hold, allocated at
		// most once and only while open.
		"bid listed twice":          {book(events.BidListed{BidID: "b-1", AgentID: "a", Resources: bundle(6, 10), AmountMicros: 20, PlacedAt: at, Trigger: trig(6)})},
		"bid listed without a hold": {book(events.BidListed{BidID: "b-9", AgentID: "a", Resources: bundle(1, 1), AmountMicros: 5, PlacedAt: at})},
		"bid listed for another amount": cat(placeBid("a", "b-3", 10, bundle(1, 1), 10)[:1],
			[]fact{book(events.BidListed{BidID: "b-3", AgentID: "a", Resources: bundle(1, 1), AmountMicros: 12, PlacedAt: at, Trigger: trig(10)})}),
		"bid listed for another agent": cat(placeBid("a", "b-3", 10, bundle(1, 1), 10)[:1],
			[]fact{book(events.BidListed{BidID: "b-3", AgentID: "b", Resources: bundle(1, 1), AmountMicros: 10, PlacedAt: at, Trigger: trig(10)})}),
		"bid listed with other units": cat(placeBid("a", "b-3", 10, bundle(1, 1), 10)[:1],
			[]fact{book(events.BidListed{BidID: "b-3", AgentID: "a", Resources: bundle(2, 1), AmountMicros: 10, PlacedAt: at, Trigger: trig(10)})}),
		"bid listed from a plain hold": {ag("a", events.HoldPlaced{HoldID: "b-3", AmountMicros: 10}),
			book(events.BidListed{BidID: "b-3", AgentID: "a", Resources: bundle(1, 1), AmountMicros: 10, PlacedAt: at, Trigger: trig(10)})},
		"bid id reused by another agent": {ag("b", events.HoldPlaced{HoldID: "b-1", AmountMicros: 10, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: pool, Resources: bundle(1, 1)}})},
		"bid allocated twice": {won, cycle(2, 12, 20, nil, alloc("a", "b-1", 20, bundle(6, 10)))},
		"bid allocated after its withdrawal": {book(events.BidWithdrawn{BidID: "b-2", AgentID: "b", AmountMicros: 15, Reason: "withdrawn"}),
			cycle(1, 6, 10, nil, alloc("b", "b-2", 15, bundle(6, 10)))},
		"bid allocated twice in a cycle": {cycle(1, 12, 20, nil, alloc("a", "b-1", 20, bundle(6, 10)), alloc("a", "b-1", 20, bundle(6, 10)))},
		"allocation for another amount":  {cycle(1, 6, 10, nil, alloc("a", "b-1", 19, bundle(6, 10)))},
		"cycle out of order":             {cycle(2, 0, 0, nil)},
		"bid for a dead beneficiary allocated": {
			ag("a", events.HoldPlaced{HoldID: "b-3", AmountMicros: 10, Purpose: events.PurposeBid,
				Bid: &events.BidTerms{Pool: pool, Resources: bundle(1, 1), BeneficiaryID: "b"}}),
			book(events.BidListed{BidID: "b-3", AgentID: "a", BeneficiaryID: "b", Resources: bundle(1, 1), AmountMicros: 10, PlacedAt: at, Trigger: trig(10)}),
			ag("b", events.AgentDied{Reason: "x", VoidedHolds: []string{"b-2"}, BurnedMicros: 100}),
			cycle(1, 1, 1, nil, events.Allocation{BidID: "b-3", ExecutionID: "x-b-3", AgentID: "a", BeneficiaryID: "b", Resources: bundle(1, 1), AmountMicros: 10})},
		"bid raised while not open":     {won, book(events.BidRaised{BidID: "b-1", AmountMicros: 30, Trigger: trig(11)})},
		"bid raised above its hold":     {book(events.BidRaised{BidID: "b-1", AmountMicros: 25, Trigger: trig(10)})},
		"bid withdrawn by a stranger":   {book(events.BidWithdrawn{BidID: "b-1", AgentID: "b", AmountMicros: 20, Reason: "withdrawn"})},
		"living agent's bids cancelled": {book(events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1"}, Trigger: trig(10)})},
		// Each allocation is paid exactly its amount (or refused), once.
		"allocation paid another amount":   {won, posted("a", "b-1", 15, 5, 10, 1)},
		"allocation paid twice":            {won, posted("a", "b-1", 20, 0, 10, 1), refusal("a", "b-1", 10)},
		"bid paid for another's execution": {won, ag("b", events.HoldPosted{HoldID: "b-2", AmountMicros: 15, ExecutionID: clearing.ExecutionID("b-1"), Trigger: trig(10)})},
		"bid paid without winning":         {posted("a", "b-1", 20, 0, 5, 1)},
		"refusal of no allocation": {ag("a", events.AgentDied{Reason: "x", VoidedHolds: []string{"b-1"}, BurnedMicros: 100}),
			refusal("a", "b-1", 11)},
		"bid's hold voided while open":         {ag("a", events.HoldVoided{HoldID: "b-1", AmountMicros: 20})},
		"won bid's hold voided before payment": {won, ag("a", events.HoldVoided{HoldID: "b-1", AmountMicros: 20})},
		// Each lease released exactly once, by the book and in every market.
		"execution released twice":           {won, posted("a", "b-1", 20, 0, 10, 1), released("b-1", 6, 10, 0), released("b-1", 6, 10, 0)},
		"execution never allocated released": {released("b-1", 6, 10, 0)},
		"expired execution not running":      {cycle(1, 0, 0, []string{"x-b-9"})},
		"lease released twice in a market": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)), released("b-1", 6, 10, 0),
			leaseReleased("cpu_seconds", "b-1", 6, 12), leaseReleased("cpu_seconds", "b-1", 6, 12)},
		"lease released before its execution ended": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)),
			leaseReleased("cpu_seconds", "b-1", 6, 11)},
		"lease released for other units": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)), released("b-1", 6, 10, 0),
			leaseReleased("cpu_seconds", "b-1", 5, 12)},
		"lease never granted released": {won, released("b-1", 6, 10, 0), leaseReleased("cpu_seconds", "b-1", 6, 11)},
		"market leases more than its supply": cat(setup()[:1], []fact{
			mkt("memory_mb", events.MarketConfigured{Resource: "memory_mb", SupplyUnits: 100 * mem, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}),
			book(events.BookConfigured{Markets: map[string]events.MarketTerms{
				"cpu_seconds": {SupplyUnits: 20 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100},
				"memory_mb":   {SupplyUnits: 100 * mem, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}}, AllocationsMax: 10}),
			ag("a", events.AgentCreated{AgentID: "a", GrantMicros: 100})},
			placeBid("a", "b-1", 20, bundle(12, 10), 5),
			[]fact{cycle(1, 12, 10, nil, alloc("a", "b-1", 20, bundle(12, 10))), recorded("cpu_seconds", 1, 7, 12, nil, lease("b-1", 12))}),
		"market grants what was not allocated": {cycle(1, 0, 0, nil), recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6))},
		"market misses a lease":                {won, recorded("cpu_seconds", 1, 10, 0, nil)},
		"market grants a lease twice":          {won, recorded("cpu_seconds", 1, 10, 12, nil, lease("b-1", 6), lease("b-1", 6))},
		"market records a cycle twice": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)),
			recorded("cpu_seconds", 1, 10, 12, nil, lease("b-1", 6))},
		"market skips a cycle": {won, cycle(2, 6, 10, nil), recorded("cpu_seconds", 2, 11, 0, nil)},
		"market leases in a cycle that changed nothing there": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)),
			cycle(2, 6, 10, nil), recorded("cpu_seconds", 2, 12, 12, nil, lease("b-1", 6))},
		"market keeps an expired lease": {won, recorded("cpu_seconds", 1, 10, 6, nil, lease("b-1", 6)),
			cycle(2, 0, 0, []string{"x-b-1"}), recorded("cpu_seconds", 2, 12, 6, nil)},
	}
	for name, tail := range cases {
		t.Run(name, func(t *testing.T) {
			facts := cat(base, tail)
			if name == "market leases more than its supply" {
				facts = tail
			}
			seq, inv, _ := foldFacts(t, facts)
			if seq != uint64(len(facts)) {
				t.Fatalf("violation at %d (%s), want %d", seq, inv, len(facts))
			}
			t.Log(inv)
		})
	}
}

// A bid cancelled for its dead beneficiary must give its sponsor's hold
// back: a hold whose bid left the book without winning locks credits.
func TestCheckSettledFindsAHoldLeftBehind(t *testing.T) {
	facts := cat(setup(), []fact{
		ag("a", events.HoldPlaced{HoldID: "b-1", AmountMicros: 10, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: pool, Resources: bundle(1, 1), BeneficiaryID: "b"}}),
		book(events.BidListed{BidID: "b-1", AgentID: "a", BeneficiaryID: "b", Resources: bundle(1, 1), AmountMicros: 10, PlacedAt: at, Trigger: trig(6)}),
		ag("b", events.AgentDied{Reason: "x", BurnedMicros: 100}),
		book(events.BidsCancelled{AgentID: "b", BidIDs: []string{"b-1"}, Trigger: trig(8)}),
	})
	seq, inv, eco := foldFacts(t, facts)
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if err := eco.CheckSettled(); !errors.Is(err, economy.ErrUnsettled) {
		t.Fatalf("the sponsor's hold is left behind, CheckSettled says %v", err)
	}
	seq, inv, eco = foldFacts(t, append(facts, ag("a", events.HoldVoided{HoldID: "b-1", AmountMicros: 10, Trigger: trig(9)})))
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
}

// The clearing manager tells a market of a cycle only when it grants or
// ends leases there or moves its price; a market told of every cycle (as
// older logs have it) is fine too.
func TestMarketsRecordOnlyTheCyclesThatChangeThem(t *testing.T) {
	priceMove := book(events.CycleCleared{Cycle: 1, At: at, Markets: map[string]events.MarketOutcome{
		"cpu_seconds": {PriceMicros: 2, NewPriceMicros: 1},
		"memory_mb":   {PriceMicros: 1, NewPriceMicros: 1},
	}})
	cpuMoved := mkt("cpu_seconds", events.MarketCleared{Cycle: 1, SupplyUnits: 10 * cpu, PriceMicros: 2, NewPriceMicros: 1, Trigger: trig(6)})
	memIdle := recorded("memory_mb", 1, 6, 0, nil)
	for name, facts := range map[string][]fact{
		"only the market that changed": cat(setup(), []fact{priceMove, cpuMoved}),
		"every market":                 cat(setup(), []fact{priceMove, memIdle, cpuMoved}),
	} {
		t.Run(name, func(t *testing.T) {
			seq, inv, eco := foldFacts(t, facts)
			if seq != 0 {
				t.Fatalf("violation at %d: %s", seq, inv)
			}
			if err := eco.CheckSettled(); err != nil {
				t.Fatal(err)
			}
		})
	}
	_, _, eco := foldFacts(t, cat(setup(), []fact{priceMove}))
	if err := eco.CheckSettled(); !errors.Is(err, economy.ErrUnsettled) {
		t.Fatalf("the cpu market has not recorded its price move, CheckSettled says %v", err)
	}
}
