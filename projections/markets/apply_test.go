package markets_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/markets"
)

// The view is fed by the runner; this fails to compile if it stops fitting.
var _ projections.Projection = (*markets.View)(nil)

const pool = "main"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

type step struct {
	kind  events.Kind
	id    string
	event events.Event
}

func mkt(resource string, e events.Event) step { return step{events.KindMarket, resource, e} }
func clr(e events.Event) step                  { return step{events.KindClearing, pool, e} }

func timeOf(seq uint64) time.Time { return t0.Add(time.Duration(seq) * time.Second) }

func record(t testing.TB, seq uint64, s step) events.Record {
	t.Helper()
	env, err := events.Encode(s.kind, s.id, s.event, events.Meta{ID: fmt.Sprintf("ev%d", seq), Time: timeOf(seq)})
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: seq, Envelope: env}
}

func cr(c int64) events.Micros { return events.Credits(c) }
func un(n int64) events.Units  { return events.WholeUnits(n) }
func ppm(f float64) int64      { return int64(f * 1_000_000) }
func micros(s string) events.Micros {
	m, err := events.ParseCredits(s)
	if err != nil {
		panic(err)
	}
	return m
}

func configured(resource string, supply int64, price events.Micros) step {
	return mkt(resource, events.MarketConfigured{Resource: resource, SupplyUnits: un(supply), PriceMicros: price,
		MinPriceMicros: 1, MaxPriceMicros: cr(1000)})
}

func bundle(cpu, mem int64) map[string]events.Units {
	return map[string]events.Units{"cpu_seconds": un(cpu), "memory_mb": un(mem)}
}

func listed(id, agent string, cpu, mem int64) step {
	return clr(events.BidListed{BidID: id, AgentID: agent, Resources: bundle(cpu, mem), AmountMicros: cr(12), PlacedAt: t0})
}

// won is a cycle in which the bid wins, at the prices of the outcomes.
func won(cycle uint64, id, agent string, cpu, mem int64, amount int64, cpuPrice, memPrice events.Micros) step {
	return clr(events.CycleCleared{Cycle: cycle, At: t0, Allocations: []events.Allocation{{BidID: id, ExecutionID: "x-" + id,
		AgentID: agent, BeneficiaryID: agent, Resources: bundle(cpu, mem), AmountMicros: cr(amount)}},
		Markets: map[string]events.MarketOutcome{
			"cpu_seconds": {PriceMicros: cpuPrice, NewPriceMicros: cpuPrice},
			"memory_mb":   {PriceMicros: memPrice, NewPriceMicros: memPrice},
		}})
}

func granted(resource string, cycle uint64, id string, units int64, leased, supply int64, price, newPrice events.Micros) step {
	return mkt(resource, events.MarketCleared{Cycle: cycle, Granted: []events.Lease{{ExecutionID: "x-" + id, Units: un(units)}},
		LeasedUnits: un(leased), SupplyUnits: un(supply), PriceMicros: price, NewPriceMicros: newPrice})
}

func build(t testing.TB, historyLength int, given []step) *markets.State {
	t.Helper()
	s, err := markets.NewState(historyLength)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range given {
		if err := markets.Apply(s, record(t, uint64(i+1), st)); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	return s
}

// at fills a transaction's sequence and time.
func at(seq uint64, tx markets.Transaction) markets.Transaction {
	tx.Seq, tx.Time = seq, timeOf(seq)
	return tx
}

func TestApply(t *testing.T) {
	type tx = markets.Transaction
	alloc := func(seq, cycle uint64, id string, units int64, price events.Micros) tx {
		return at(seq, tx{Kind: markets.KindAllocation, Cycle: cycle, BidID: id, ExecutionID: "x-" + id, AgentID: "a",
			BeneficiaryID: "a", Units: un(units), AmountMicros: cr(12), PriceMicros: price})
	}
	base := []step{configured("memory_mb", 10000, micros("0.01")), configured("cpu_seconds", 100, cr(5))}
	tests := []struct {
		name  string
		given []step
		want  markets.MarketsState
	}{
		{
			name:  "configured markets, sorted, idle",
			given: base,
			want: markets.MarketsState{Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5)},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01")},
			}},
		},
		{
			name: "open bids count in every market their bundle names; a market never configured is not shown",
			given: append(base[:2:2],
				listed("b-1", "a", 2, 128),
				listed("b-2", "b", 1, 64),
				clr(events.BidListed{BidID: "b-3", AgentID: "c", AmountMicros: cr(1), PlacedAt: t0,
					Resources: map[string]events.Units{"cpu_seconds": un(1), "memory_mb": un(1), "tokens": un(100)}}),
				clr(events.BidWithdrawn{BidID: "b-2", AgentID: "b"}),
				clr(events.BidWithdrawn{BidID: "b-2", AgentID: "b"}), // twice: counted once
				step{events.KindClearing, "other", events.BidWithdrawn{BidID: "b-1", AgentID: "a"}},
				clr(events.BidRaised{BidID: "b-1", AmountMicros: cr(20)}),
				clr(events.BidRejected{BidID: "b-4", AgentID: "d"}),
			),
			want: markets.MarketsState{Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5), ActiveBids: 2},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01"), ActiveBids: 2},
			}},
		},
		{
			name: "a dead agent's cancelled bids no longer count",
			given: append(base[:2:2],
				listed("b-1", "a", 2, 128),
				listed("b-2", "a", 1, 64),
				listed("b-3", "b", 1, 64),
				clr(events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1", "b-2"}}),
			),
			want: markets.MarketsState{Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5), ActiveBids: 1},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01"), ActiveBids: 1},
			}},
		},
		{
			// b-2 was placed by b for a to run: a's death cancels it as the
			// clearing does (clearing.Evolve), though a did not place it.
			name: "a dead beneficiary's sponsored bids no longer count",
			given: append(base[:2:2],
				listed("b-1", "a", 2, 128),
				clr(events.BidListed{BidID: "b-2", AgentID: "b", BeneficiaryID: "a", Resources: bundle(1, 64), AmountMicros: cr(12), PlacedAt: t0}),
				listed("b-3", "b", 1, 64),
				clr(events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1"}, Sponsored: []events.BidRef{{BidID: "b-2", AgentID: "b"}}}),
			),
			want: markets.MarketsState{Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5), ActiveBids: 1},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01"), ActiveBids: 1},
			}},
		},
		{
			name: "an allocation is a transaction in each market of its bundle, at the price the cycle cleared at",
			given: append(base[:2:2],
				listed("b-1", "a", 2, 128),                                   // 3
				listed("b-2", "a", 1, 64),                                    // 4
				won(1, "b-1", "a", 2, 128, 12, cr(5), micros("0.01")),        // 5
				granted("cpu_seconds", 1, "b-1", 2, 2, 100, cr(5), cr(4)),    // 6: the price falls
				granted("memory_mb", 1, "b-1", 128, 128, 10000, 10000, 9000), // 7
			),
			want: markets.MarketsState{Cycle: 1, Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), LeasedUnits: un(2), UtilizationPPM: ppm(0.02), PriceMicros: cr(4),
					ActiveBids: 1, RecentTransactions: []tx{alloc(5, 1, "b-1", 2, cr(5))}},
				{Resource: "memory_mb", SupplyUnits: un(10000), LeasedUnits: un(128), UtilizationPPM: ppm(0.0128), PriceMicros: 9000,
					ActiveBids: 1, RecentTransactions: []tx{alloc(5, 1, "b-1", 128, micros("0.01"))}},
			}},
		},
		{
			name: "a release frees the units and names the bid and agent of the execution",
			given: append(base[:2:2],
				listed("b-1", "a", 2, 128),                                                                                  // 3
				won(1, "b-1", "a", 2, 128, 12, cr(5), micros("0.01")),                                                       // 4
				granted("cpu_seconds", 1, "b-1", 2, 2, 100, cr(5), cr(5)),                                                   // 5
				granted("memory_mb", 1, "b-1", 128, 128, 10000, 10000, 10000),                                               // 6
				mkt("cpu_seconds", events.LeaseReleased{ExecutionID: "x-b-1", Units: un(2), Reason: "exited"}),              // 7
				mkt("memory_mb", events.LeaseReleased{ExecutionID: "x-b-1", Units: un(128), Reason: "exited"}),              // 8
				mkt("memory_mb", events.LeaseReleased{ExecutionID: "x-unknown", Units: 0, Reason: "unpaid: agent is dead"}), // 9
			),
			want: markets.MarketsState{Cycle: 1, Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5), RecentTransactions: []tx{
					at(7, tx{Kind: markets.KindRelease, BidID: "b-1", ExecutionID: "x-b-1", AgentID: "a", BeneficiaryID: "a", Units: un(2), Reason: "exited"}),
					alloc(4, 1, "b-1", 2, cr(5)),
				}},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: 10000, RecentTransactions: []tx{
					at(9, tx{Kind: markets.KindRelease, ExecutionID: "x-unknown", Reason: "unpaid: agent is dead"}),
					at(8, tx{Kind: markets.KindRelease, BidID: "b-1", ExecutionID: "x-b-1", AgentID: "a", BeneficiaryID: "a", Units: un(128), Reason: "exited"}),
					alloc(4, 1, "b-1", 128, micros("0.01")),
				}},
			}},
		},
		{
			name: "a lease that timed out is released by the next cycle",
			given: append(base[:1:1],
				configured("cpu_seconds", 100, cr(5)),
				won(1, "b-1", "a", 2, 128, 12, cr(5), micros("0.01")),     // 3
				granted("cpu_seconds", 1, "b-1", 2, 2, 100, cr(5), cr(5)), // 4
				mkt("cpu_seconds", events.MarketCleared{Cycle: 7, Released: []events.Lease{{ExecutionID: "x-b-1", Units: un(2)}},
					SupplyUnits: un(100), PriceMicros: cr(5), NewPriceMicros: micros("4.5")}), // 5
			),
			want: markets.MarketsState{Cycle: 1, Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: micros("4.5"), RecentTransactions: []tx{
					at(5, tx{Kind: markets.KindRelease, Cycle: 7, BidID: "b-1", ExecutionID: "x-b-1", AgentID: "a", BeneficiaryID: "a", Units: un(2), Reason: "expired"}),
					alloc(3, 1, "b-1", 2, cr(5)),
				}},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01"), RecentTransactions: []tx{
					alloc(3, 1, "b-1", 128, micros("0.01")),
				}},
			}},
		},
		{
			name: "prices move with each market_cleared; reconfiguring changes supply and keeps the posted price",
			given: append(base[:2:2],
				mkt("cpu_seconds", events.MarketCleared{Cycle: 1, SupplyUnits: un(100), PriceMicros: cr(5), NewPriceMicros: micros("4.5")}),
				mkt("cpu_seconds", events.MarketCleared{Cycle: 2, SupplyUnits: un(100), PriceMicros: micros("4.5"), NewPriceMicros: micros("4.05")}),
				clr(events.CycleCleared{Cycle: 2, At: t0}),
				mkt("cpu_seconds", events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: un(50), PriceMicros: micros("4.05"),
					MinPriceMicros: 1, MaxPriceMicros: cr(100)}),
			),
			want: markets.MarketsState{Cycle: 2, Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(50), PriceMicros: micros("4.05")},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01")},
			}},
		},
		{
			name: "agent events are not the markets'",
			given: append(base[:2:2],
				step{events.KindAgent, "a", events.AgentCreated{GrantMicros: cr(10)}},
				step{events.KindAgent, "a", events.HoldPosted{HoldID: "b-1", AmountMicros: cr(10)}},
			),
			want: markets.MarketsState{Markets: []markets.MarketState{
				{Resource: "cpu_seconds", SupplyUnits: un(100), PriceMicros: cr(5)},
				{Resource: "memory_mb", SupplyUnits: un(10000), PriceMicros: micros("0.01")},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := build(t, 20, tt.given)
			got := s.Markets()
			for i := range tt.want.Markets {
				if tt.want.Markets[i].RecentTransactions == nil {
					tt.want.Markets[i].RecentTransactions = []markets.Transaction{}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("state\n got %+v\nwant %+v", got, tt.want)
			}
			for _, m := range tt.want.Markets {
				if one, ok := s.Market(m.Resource); !ok || !reflect.DeepEqual(one, m) {
					t.Errorf("Market(%s) = %+v, %v", m.Resource, one, ok)
				}
			}
			if _, ok := s.Market("tokens"); ok {
				t.Error("a market never configured is shown")
			}
		})
	}
}

func TestRecentTransactionsKeepTheNewest(t *testing.T) {
	given := []step{configured("cpu_seconds", 100, cr(5)), configured("memory_mb", 10000, 10000)}
	for i := range 7 {
		id := fmt.Sprintf("b-%d", i)
		given = append(given, listed(id, "a", 1, 1), won(uint64(i+1), id, "a", 1, 1, 12, cr(5), 10000))
	}
	s := build(t, 3, given)
	m, _ := s.Market("cpu_seconds")
	var got []string
	for _, tx := range m.RecentTransactions {
		got = append(got, fmt.Sprintf("%d:%s", tx.Cycle, tx.BidID))
	}
	if want := []string{"7:b-6", "6:b-5", "5:b-4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("recent %v, want %v (newest first, three kept)", got, want)
	}
	if st := s.Markets(); st.Cycle != 7 {
		t.Fatalf("cycle %d, want 7", st.Cycle)
	}
	var zero markets.State // the zero state keeps the default length
	for i, st := range given {
		if err := markets.Apply(&zero, record(t, uint64(i+1), st)); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := zero.Market("cpu_seconds"); len(m.RecentTransactions) != 7 {
		t.Fatalf("zero state keeps %d, want all 7", len(m.RecentTransactions))
	}
}

func TestInvalidHistoryLength(t *testing.T) {
	for _, n := range []int{0, -1, markets.HistoryLengthMax + 1} {
		if _, err := markets.New(n); !errors.Is(err, markets.ErrInvalidLimit) {
			t.Errorf("New(%d) = %v, want ErrInvalidLimit", n, err)
		}
	}
}

func TestJSON(t *testing.T) {
	m := markets.MarketState{Resource: "cpu_seconds", SupplyUnits: un(100), LeasedUnits: un(2), UtilizationPPM: 20_000,
		PriceMicros: cr(5), ActiveBids: 3, RecentTransactions: []markets.Transaction{
			{Seq: 9, Time: t0, Kind: markets.KindRelease, ExecutionID: "x-b-0", Units: events.Units(micros("0.5")), Reason: "exited"},
			{Seq: 7, Time: t0, Kind: markets.KindAllocation, Cycle: 12, BidID: "b-1", ExecutionID: "x-b-1", AgentID: "a",
				BeneficiaryID: "c", Units: un(2), AmountMicros: micros("12.5"), PriceMicros: micros("4.999999")},
		}}
	b, err := json.Marshal(markets.MarketsState{Cycle: 12, Markets: []markets.MarketState{m}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cycle":12,"markets":[{"resource":"cpu_seconds","supply":100,"leased":2,"utilization":0.02,"price":5,` +
		`"active_bids":3,"recent_transactions":[` +
		`{"seq":9,"time":"2030-01-02T03:04:05Z","kind":"release","execution_id":"x-b-0","units":0.5,"reason":"exited"},` +
		`{"seq":7,"time":"2030-01-02T03:04:05Z","kind":"allocation","cycle":12,"bid_id":"b-1","execution_id":"x-b-1",` +
		`"agent_id":"a","beneficiary_id":"c","units":2,"amount":12.5,"price":4.999999}]}]}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back markets.MarketsState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Markets[0], m) || back.Cycle != 12 {
		t.Fatalf("round trip\n got %+v\nwant %+v", back.Markets[0], m)
	}
	empty, _ := json.Marshal(markets.MarketState{Resource: "attention", SupplyUnits: un(1), PriceMicros: cr(50)})
	if want := `{"resource":"attention","supply":1,"leased":0,"utilization":0,"price":50,"active_bids":0,"recent_transactions":[]}`; string(empty) != want {
		t.Fatalf("idle market JSON %s, want %s", empty, want)
	}
	full, _ := json.Marshal(markets.MarketState{Resource: "x", SupplyUnits: un(1), LeasedUnits: un(1), UtilizationPPM: 1_000_000})
	if !json.Valid(full) || !strings.Contains(string(full), `"utilization":1,`) {
		t.Fatalf("full market JSON %s", full)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

func TestApplyRefusesWhatItCannotRead(t *testing.T) {
	good := record(t, 1, configured("cpu_seconds", 100, cr(5))).Envelope
	mismatched := good
	mismatched.Type = "market_cleared"
	badID := good
	badID.Subject = "events.market.CPU.market_configured"
	short := good
	short.Subject = "events.market.cpu_seconds"
	badData := good
	badData.Data = []byte(`{"supply_units":"lots"}`)
	for name, env := range map[string]events.Envelope{"type mismatch": mismatched, "resource not an id": badID,
		"short subject": short, "undecodable": badData} {
		t.Run(name, func(t *testing.T) {
			s, _ := markets.NewState(5)
			if err := markets.Apply(s, events.Record{Seq: 1, Envelope: env}); err == nil {
				t.Fatal("applied")
			}
			if len(s.Markets().Markets) != 0 {
				t.Fatal("a refused record changed the state")
			}
		})
	}
}
