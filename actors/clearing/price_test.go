package clearing_test

import (
	"fmt"
	"maps"
	"math"
	"math/big"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// priceRules are the rules of the default configuration: 80% / 20%
// marks, steps of 10%.
var priceRules = events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}

// priceBook is a configured book with a cpu and a memory market.
func priceBook(t *testing.T, cpu, memory events.MarketTerms) clearing.Book {
	t.Helper()
	return priceApply(t, clearing.New("main"), clearing.Configure{
		Markets: map[string]events.MarketTerms{clearing.ResourceCPU: cpu, clearing.ResourceMemory: memory},
		Rules:   priceRules,
	})
}

// priceApply decides cmd and evolves the book with its event; a rejection
// fails the test.
func priceApply(t *testing.T, b clearing.Book, cmd clearing.Command) clearing.Book {
	t.Helper()
	e, err := clearing.Decide(b, cmd)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	if e == nil {
		return b
	}
	if rej, ok := e.(events.BidRejected); ok {
		t.Fatalf("bid %s rejected: %s", rej.BidID, rej.Reason)
	}
	return clearing.Evolve(b, e)
}

// priceClear runs the next cycle and returns the book and the cycle's
// event (nil when the cycle was idle).
func priceClear(t *testing.T, b clearing.Book, at time.Time) (clearing.Book, *events.CycleCleared) {
	t.Helper()
	e, err := clearing.Decide(b, clearing.Clear{Cycle: b.Cycle + 1, At: at})
	if err != nil {
		t.Fatal(err)
	}
	if e == nil {
		return b, nil
	}
	cc := e.(events.CycleCleared)
	return clearing.Evolve(b, cc), &cc
}

func priceWithinBounds(t *testing.T, b clearing.Book) {
	t.Helper()
	for name, m := range b.Markets {
		if m.PriceMicros < m.MinPriceMicros || m.PriceMicros > m.MaxPriceMicros {
			t.Fatalf("%s price %s outside [%s, %s]", name, m.PriceMicros, m.MinPriceMicros, m.MaxPriceMicros)
		}
	}
}

// Demand above supply, cycle after cycle: every cycle fills both markets,
// so each price rises strictly until it reaches its ceiling, then stays
// there.
func TestPriceRisesUnderDemandUntilMax(t *testing.T) {
	cpu := events.MarketTerms{SupplyUnits: events.WholeUnits(10), PriceMicros: events.Credits(1), MinPriceMicros: 10_000, MaxPriceMicros: events.Credits(3)}
	mem := events.MarketTerms{SupplyUnits: events.WholeUnits(1000), PriceMicros: 10_000, MinPriceMicros: 100, MaxPriceMicros: 50_000}
	b := priceBook(t, cpu, mem)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var seq uint64
	prev := map[string]events.Micros{clearing.ResourceCPU: cpu.PriceMicros, clearing.ResourceMemory: mem.PriceMicros}
	atMax := map[string]int{}
	for cycle := 1; cycle <= 40; cycle++ {
		// Three bundles of half of everything: 150% of the supply asked.
		for i := range 3 {
			seq++
			b = priceApply(t, b, clearing.ListBid{BidID: fmt.Sprintf("c%02d-%d", cycle, i), AgentID: fmt.Sprintf("a%d", i),
				Terms: events.BidTerms{Pool: "main", Resources: map[string]events.Units{
					clearing.ResourceCPU: events.WholeUnits(5), clearing.ResourceMemory: events.WholeUnits(500)}},
				AmountMicros: events.Credits(1000), PlacedAt: at, Trigger: events.Trigger{Manager: "m", Seq: seq}})
		}
		var cc *events.CycleCleared
		at = at.Add(10 * time.Second)
		b, cc = priceClear(t, b, at)
		if cc == nil || len(cc.Allocations) != 2 {
			t.Fatalf("cycle %d: want two winners, got %+v", cycle, cc)
		}
		priceWithinBounds(t, b)
		for name, m := range b.Markets {
			if util := cc.Markets[name].UtilizationPPM; util != 1_000_000 {
				t.Fatalf("cycle %d: %s utilization %d ppm, want full", cycle, name, util)
			}
			switch {
			case prev[name] < m.MaxPriceMicros && m.PriceMicros <= prev[name]:
				t.Fatalf("cycle %d: %s price %s did not rise from %s under full demand", cycle, name, m.PriceMicros, prev[name])
			case prev[name] == m.MaxPriceMicros && m.PriceMicros != m.MaxPriceMicros:
				t.Fatalf("cycle %d: %s price left its ceiling: %s", cycle, name, m.PriceMicros)
			}
			if m.PriceMicros == m.MaxPriceMicros {
				atMax[name]++
			}
			prev[name] = m.PriceMicros
		}
		for _, id := range slices.Sorted(maps.Keys(b.Executions)) {
			b = priceApply(t, b, clearing.ReleaseExecution{ExecutionID: id, Reason: "exited"})
		}
	}
	for name := range b.Markets {
		if atMax[name] < 5 {
			t.Errorf("%s reached its ceiling only for the last %d cycles", name, atMax[name])
		}
	}
}

// An idle market (no bid) falls every cycle, strictly, to its floor; once
// every market is at its floor a cycle changes nothing and writes nothing.
func TestPriceFallsWhenIdleUntilMin(t *testing.T) {
	cpu := events.MarketTerms{SupplyUnits: events.WholeUnits(10), PriceMicros: events.Credits(5), MinPriceMicros: events.Credits(1), MaxPriceMicros: events.Credits(500)}
	mem := events.MarketTerms{SupplyUnits: events.WholeUnits(1000), PriceMicros: 10_000, MinPriceMicros: 1, MaxPriceMicros: events.Credits(1)}
	b := priceBook(t, cpu, mem)
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	prev := map[string]events.Micros{clearing.ResourceCPU: cpu.PriceMicros, clearing.ResourceMemory: mem.PriceMicros}
	for cycle := 1; ; cycle++ {
		if cycle > 1000 {
			t.Fatal("prices still moving after 1000 idle cycles")
		}
		at = at.Add(10 * time.Second)
		var cc *events.CycleCleared
		b, cc = priceClear(t, b, at)
		priceWithinBounds(t, b)
		if cc == nil {
			for name, m := range b.Markets {
				if m.PriceMicros != m.MinPriceMicros {
					t.Fatalf("cycle %d idle while %s is at %s above its floor %s", cycle, name, m.PriceMicros, m.MinPriceMicros)
				}
			}
			if b.Cycle != uint64(cycle-1) {
				t.Fatalf("an idle cycle used up its number: cycle %d", b.Cycle)
			}
			return
		}
		for name, m := range b.Markets {
			switch {
			case prev[name] > m.MinPriceMicros && m.PriceMicros >= prev[name]:
				t.Fatalf("cycle %d: idle %s price %s did not fall from %s", cycle, name, m.PriceMicros, prev[name])
			case prev[name] == m.MinPriceMicros && m.PriceMicros != m.MinPriceMicros:
				t.Fatalf("cycle %d: %s price left its floor: %s", cycle, name, m.PriceMicros)
			}
			prev[name] = m.PriceMicros
		}
	}
}

// The price after any cycle is within its market's bounds, moves only in
// the direction the utilization says, by the step rounded down but at
// least one micro-credit, then clamped.
func TestNextPriceProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lo := rapid.Int64Range(1, int64(events.AmountMax)).Draw(t, "min")
		hi := rapid.Int64Range(lo, int64(events.AmountMax)).Draw(t, "max")
		p := rapid.Int64Range(lo, hi).Draw(t, "price")
		low := rapid.Int64Range(0, 1_000_000).Draw(t, "low")
		high := rapid.Int64Range(low, 1_000_000).Draw(t, "high")
		r := events.PriceRules{HighMarkPPM: high, LowMarkPPM: low,
			StepUpPPM: rapid.Int64Range(1, 1_000_000).Draw(t, "up"), StepDownPPM: rapid.Int64Range(1, 1_000_000).Draw(t, "down")}
		util := rapid.Int64Range(0, 1_000_000).Draw(t, "util")
		m := events.MarketTerms{SupplyUnits: 1, PriceMicros: events.Micros(p), MinPriceMicros: events.Micros(lo), MaxPriceMicros: events.Micros(hi)}

		got := int64(clearing.NextPrice(m, r, util))
		want := p
		switch {
		case util > high:
			want = min(hi, p+max(stepOracle(p, r.StepUpPPM), 1))
		case util < low:
			want = max(lo, p-max(stepOracle(p, r.StepDownPPM), 1))
		}
		if got != want {
			t.Fatalf("NextPrice(%d in [%d, %d], util %d, rules %+v) = %d, want %d", p, lo, hi, util, r, got, want)
		}
		if got < lo || got > hi {
			t.Fatalf("price %d outside [%d, %d]", got, lo, hi)
		}
	})
}

// stepOracle is floor(p x ppm / 1e6) in arbitrary precision.
func stepOracle(p, ppm int64) int64 {
	x := new(big.Int).Mul(big.NewInt(p), big.NewInt(ppm))
	return x.Quo(x, big.NewInt(1_000_000)).Int64()
}

func TestNextPrice(t *testing.T) {
	terms := func(p, lo, hi events.Micros) events.MarketTerms {
		return events.MarketTerms{SupplyUnits: events.WholeUnits(10), PriceMicros: p, MinPriceMicros: lo, MaxPriceMicros: hi}
	}
	wide := func(p events.Micros) events.MarketTerms { return terms(p, 1, events.AmountMax) }
	r := priceRules
	tests := []struct {
		name string
		m    events.MarketTerms
		r    events.PriceRules
		util int64
		want events.Micros
	}{
		// The marks themselves do not move the price: strictly above,
		// strictly below.
		{"at the high mark", wide(1_000_000), r, 800_000, 1_000_000},
		{"one ppm above the high mark", wide(1_000_000), r, 800_001, 1_100_000},
		{"full", wide(1_000_000), r, 1_000_000, 1_100_000},
		{"at the low mark", wide(1_000_000), r, 200_000, 1_000_000},
		{"one ppm below the low mark", wide(1_000_000), r, 199_999, 900_000},
		{"empty", wide(1_000_000), r, 0, 900_000},
		{"between the marks", wide(1_000_000), r, 500_000, 1_000_000},

		// The step is rounded down, to the micro-credit.
		{"up rounds down", wide(1_234_567), r, 900_000, 1_234_567 + 123_456},
		{"down rounds down", wide(1_234_567), r, 100_000, 1_234_567 - 123_456},
		{"up 15 by 10% is 1", wide(15), r, 900_000, 16},
		{"up 19 by 10% is 1", wide(19), r, 900_000, 20},
		{"up 20 by 10% is 2", wide(20), r, 900_000, 22},

		// Tiny prices move by at least one micro-credit.
		{"1 rises", wide(1), r, 900_000, 2},
		{"5 rises by 1", wide(5), r, 900_000, 6},
		{"9 falls by 1", wide(9), r, 100_000, 8},
		{"2 falls to 1", wide(2), r, 100_000, 1},
		{"1 stays at its floor", wide(1), r, 0, 1},
		{"zero step still moves", wide(1_000), events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000}, 900_000, 1_001},

		// Clamped into the bounds.
		{"rise stops at max", terms(2_900_000, 1, 3_000_000), r, 900_000, 3_000_000},
		{"at max stays", terms(3_000_000, 1, 3_000_000), r, 900_000, 3_000_000},
		{"one below max", terms(2_999_999, 1, 3_000_000), r, 900_000, 3_000_000},
		{"fall stops at min", terms(1_050_000, 1_000_000, 3_000_000), r, 0, 1_000_000},
		{"at min stays", terms(1_000_000, 1_000_000, 3_000_000), r, 0, 1_000_000},
		{"one above min", terms(1_000_001, 1_000_000, 3_000_000), r, 0, 1_000_000},

		// Large prices: no overflow, exact steps.
		{"max amount doubles into its bound", wide(events.AmountMax), events.PriceRules{HighMarkPPM: 0, StepUpPPM: 1_000_000}, 1, events.AmountMax},
		{"large step exact", terms(events.AmountMax-1, 1, 2*events.AmountMax), events.PriceRules{HighMarkPPM: 0, StepUpPPM: 123_457}, 1,
			events.AmountMax - 1 + events.Micros(stepOracle(int64(events.AmountMax-1), 123_457))},
		{"large fall exact", wide(events.AmountMax - 1), events.PriceRules{LowMarkPPM: 1_000_000, StepDownPPM: 999_999}, 0,
			events.AmountMax - 1 - events.Micros(stepOracle(int64(events.AmountMax-1), 999_999))},
		{"step of 100% down stops at min", terms(5_000, 7, 10_000), events.PriceRules{LowMarkPPM: 1, StepDownPPM: 1_000_000}, 0, 7},

		// Marks at the ends: a 100% high mark never rises, a 0% low mark
		// never falls.
		{"high mark 100%", wide(1_000), events.PriceRules{HighMarkPPM: 1_000_000, StepUpPPM: 100_000}, 1_000_000, 1_000},
		{"low mark 0%", wide(1_000), events.PriceRules{HighMarkPPM: 1_000_000, StepDownPPM: 100_000}, 0, 1_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clearing.NextPrice(tt.m, tt.r, tt.util); got != tt.want {
				t.Errorf("NextPrice(%s, util %d ppm) = %s, want %s", tt.m.PriceMicros, tt.util, got, tt.want)
			}
		})
	}
}

// Utilization is reported in whole ppm, rounded down; the marks compare
// with that figure.
func TestUtilizationAtTheMarks(t *testing.T) {
	cpu := events.MarketTerms{SupplyUnits: events.WholeUnits(3), PriceMicros: events.Credits(1), MinPriceMicros: 1, MaxPriceMicros: events.Credits(100)}
	mem := events.MarketTerms{SupplyUnits: events.WholeUnits(1000), PriceMicros: events.Credits(1), MinPriceMicros: 1, MaxPriceMicros: events.Credits(100)}
	for _, tt := range []struct {
		leased events.Units
		util   int64
		want   events.Micros
	}{
		{2_400_000, 800_000, events.Credits(1)}, // exactly 80%
		{2_400_003, 800_001, 1_100_000},         // 80.0001%
		{600_000, 200_000, events.Credits(1)},   // exactly 20%
		{599_999, 199_999, 900_000},             // 19.99997%
		{3_000_000, 1_000_000, 1_100_000},       // full
		{1, 0, 900_000},                         // one micro-unit
		{1_500_000, 500_000, events.Credits(1)}, // half
		{2_999_999, 999_999, 1_100_000},         // all but a micro-unit
		{2_400_001, 800_000, events.Credits(1)}, // 80.00003%: rounds to the mark
		{600_001, 200_000, events.Credits(1)},   // 20.00003%
		{2_700_000, 900_000, 1_100_000},         // 90%
		{300_000, 100_000, 900_000},             // 10%
		{2_400_002, 800_000, events.Credits(1)}, // 80.00007%
		{2_400_004, 800_001, 1_100_000},         // 80.00013%
		{599_998, 199_999, 900_000},             // 19.99993%
	} {
		t.Run(tt.leased.String(), func(t *testing.T) {
			b := priceBook(t, cpu, mem)
			b = priceApply(t, b, clearing.ListBid{BidID: "b", AgentID: "a", Terms: events.BidTerms{Pool: "main",
				Resources: map[string]events.Units{clearing.ResourceCPU: tt.leased, clearing.ResourceMemory: events.WholeUnits(500)}},
				AmountMicros: events.Credits(1000), Trigger: events.Trigger{Manager: "m", Seq: 1}})
			b, cc := priceClear(t, b, time.Unix(0, 0))
			if cc == nil {
				t.Fatal("no cycle")
			}
			if o := cc.Markets[clearing.ResourceCPU]; o.LeasedUnits != tt.leased || o.UtilizationPPM != tt.util || o.NewPriceMicros != tt.want {
				t.Errorf("leased %s: outcome %+v, want utilization %d and price %s", tt.leased, o, tt.util, tt.want)
			}
			if b.Markets[clearing.ResourceCPU].PriceMicros != tt.want {
				t.Errorf("posted price %s, want %s", b.Markets[clearing.ResourceCPU].PriceMicros, tt.want)
			}
		})
	}
}

// Cost is units x price rounded up to the micro-credit, so that rounding
// never lets a bid undercut the reserve price.
func TestCost(t *testing.T) {
	tests := []struct {
		name  string
		units events.Units
		price events.Micros
		want  events.Micros
		ok    bool
	}{
		{"whole units", events.WholeUnits(2), events.Credits(1), events.Credits(2), true},
		{"half a unit", 500_000, events.Credits(3), 1_500_000, true},
		{"exact fraction", 3_333_333, events.Credits(3), 9_999_999, true},
		{"half a micro rounds up", 500_000, 1, 1, true},
		{"a micro-unit at a micro-credit", 1, 1, 1, true},
		{"one and a half micros round up", 1_500_000, 1, 2, true},
		{"4.5 micros round up", 1_500_000, 3, 5, true},
		{"just above a micro", 1_000_001, 1, 2, true},
		{"exactly a micro", 1_000_000, 1, 1, true},
		{"a hundred MB at 0.01", events.WholeUnits(100), 10_000, events.Credits(1), true},
		{"a micro-unit of memory at 0.01", 1, 10_000, 1, true},
		{"nothing", 0, events.Credits(5), 0, true},
		{"free", events.WholeUnits(5), 0, 0, true},
		{"exactly the maximum amount", events.WholeUnits(1_000_000), events.Credits(1_000_000), events.AmountMax, true},
		{"a micro above the maximum", events.WholeUnits(1_000_000), events.Credits(1_000_000) + 1, 0, false},
		{"overflow of the product", math.MaxInt64, math.MaxInt64, 0, false},
		{"negative units", -1, 1, 0, false},
		{"negative price", 1, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := events.Cost(tt.units, tt.price)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Cost(%d, %d) = %d, %v; want %d, %v", tt.units, tt.price, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Cost is the ceiling of units x price / 1e6, or not ok when that is
// above AmountMax.
func TestCostProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		u := rapid.Int64Range(0, math.MaxInt64).Draw(t, "units")
		p := rapid.Int64Range(0, math.MaxInt64).Draw(t, "price")
		if rapid.Bool().Draw(t, "small") {
			u = rapid.Int64Range(0, 1e13).Draw(t, "small units")
			p = rapid.Int64Range(0, 1e13).Draw(t, "small price")
		}
		x := new(big.Int).Mul(big.NewInt(u), big.NewInt(p))
		x.Add(x, big.NewInt(999_999))
		x.Quo(x, big.NewInt(1_000_000))
		got, ok := events.Cost(events.Units(u), events.Micros(p))
		if x.Cmp(big.NewInt(int64(events.AmountMax))) > 0 {
			if ok {
				t.Fatalf("Cost(%d, %d) = %d, ok; the true cost %s is above the maximum", u, p, got, x)
			}
			return
		}
		if !ok || int64(got) != x.Int64() {
			t.Fatalf("Cost(%d, %d) = %d, %v; want %s", u, p, got, ok, x)
		}
	})
}

// A market's price bounds are amounts like any other: a ceiling above
// AmountMax lets a rise overflow int64, and the wrapped price is clamped to
// the floor.
func TestConfigureRefusesPricesAboveTheMaximumAmount(t *testing.T) {
	huge := events.MarketTerms{SupplyUnits: events.WholeUnits(1), PriceMicros: 5_000_000_000_000_000_000,
		MinPriceMicros: 1, MaxPriceMicros: math.MaxInt64}
	if got := clearing.NextPrice(huge, events.PriceRules{StepUpPPM: 1_000_000}, 1); got < huge.PriceMicros {
		t.Logf("NextPrice of %s up 100%% = %s: the rise wrapped around", huge.PriceMicros, got)
	}
	_, err := clearing.Decide(clearing.New("main"), clearing.Configure{Markets: map[string]events.MarketTerms{
		clearing.ResourceCPU: huge, clearing.ResourceMemory: {SupplyUnits: 1, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 1}}})
	if err == nil {
		t.Fatal("a ceiling above the maximum amount was accepted")
	}
}
