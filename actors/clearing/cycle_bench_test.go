package clearing_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// benchBook is a book of n open bids as `agora bench clearing` places them:
// three markets (cpu_seconds, memory_mb, tokens), each bid asking for
// cpu_seconds and memory_mb, tokens two times in three, each up to a tenth
// of its supply, at one to ten times its reserve; so a cycle lets a few
// dozen win and passes over the rest.
func benchBook(n int) clearing.Book {
	terms := map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: events.WholeUnits(100), PriceMicros: 50_000, MinPriceMicros: 1, MaxPriceMicros: 1_000_000_000},
		"memory_mb":   {SupplyUnits: events.WholeUnits(10_000), PriceMicros: 10, MinPriceMicros: 1, MaxPriceMicros: 1_000_000_000},
		"tokens":      {SupplyUnits: events.WholeUnits(10_000), PriceMicros: 100, MinPriceMicros: 1, MaxPriceMicros: 1_000_000_000},
	}
	b := clearing.Evolve(clearing.New("default"), events.BookConfigured{Markets: terms,
		Rules:          events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 50_000},
		AllocationsMax: clearing.AllocationsMaxDefault})
	rng := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		res := map[string]events.Units{}
		var reserve events.Micros
		for _, r := range []string{"cpu_seconds", "memory_mb", "tokens"} {
			if r == "tokens" && rng.IntN(3) == 0 {
				continue
			}
			u := 1 + events.Units(rng.Int64N(int64(terms[r].SupplyUnits/10)))
			res[r] = u
			c, _ := events.Cost(u, terms[r].PriceMicros)
			reserve += c
		}
		reserve = max(reserve, 1)
		listed := events.BidListed{BidID: fmt.Sprintf("bid-%07d", i), AgentID: fmt.Sprintf("a%06d", i%1000),
			Resources: res, AmountMicros: reserve + events.Micros(rng.Int64N(int64(9*reserve)+1)),
			PlacedAt: at.Add(time.Duration(i) * time.Millisecond)}
		// The book lists what it decoded: a map of its own per bid, and
		// the bids' memory spread among the rest of a running economy's.
		data, err := json.Marshal(listed)
		if err != nil {
			panic(err)
		}
		e, err := events.Decode(events.Envelope{Type: listed.EventType(), Data: data})
		if err != nil {
			panic(err)
		}
		garbage = append(garbage, make([]byte, 256+rng.IntN(512)))
		b = clearing.Evolve(b, e)
	}
	return b
}

// garbage keeps the allocations made between two bids alive, so that the
// bids' maps are spread over the heap as in a running economy.
var garbage [][]byte

// BenchmarkCycle measures the book's decision of one cycle over n open
// bids against the sort of the same bids in memory (slices.SortFunc with
// clearing.Order, the baseline of `agora bench clearing`); ratio reports
// decide/sort, which the cycle's target (at most 3 x the sort, the append
// included) bounds:
//
//	go test ./actors/clearing -run '^$' -bench Cycle -benchtime 50x -count 5
func BenchmarkCycle(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		book := benchBook(n)
		bids := make([]clearing.Bid, 0, len(book.Bids))
		for _, bid := range book.Bids {
			bids = append(bids, bid)
		}
		sortOnce := func() time.Duration {
			c := slices.Clone(bids)
			rand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
			began := time.Now()
			slices.SortFunc(c, clearing.Order)
			return time.Since(began)
		}
		decideOnce := func(b *testing.B) time.Duration {
			began := time.Now()
			ev, err := clearing.Decide(book, clearing.Clear{Cycle: 1, At: time.Now()})
			if err != nil {
				b.Fatal(err)
			}
			if cc, ok := ev.(events.CycleCleared); !ok || len(cc.Allocations) == 0 {
				b.Fatalf("no allocation: %#v", ev)
			}
			return time.Since(began)
		}
		b.Run(fmt.Sprintf("bids=%d/sort", n), func(b *testing.B) {
			var d time.Duration
			for b.Loop() {
				d += sortOnce()
			}
			b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "ns/sort")
		})
		b.Run(fmt.Sprintf("bids=%d/decide", n), func(b *testing.B) {
			for b.Loop() {
				decideOnce(b)
			}
		})
		// The ratio is of the fastest sort and the fastest decision: on a
		// machine others load, the least disturbed run of each.
		b.Run(fmt.Sprintf("bids=%d/ratio", n), func(b *testing.B) {
			s, d := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
			for b.Loop() {
				s = min(s, sortOnce())
				d = min(d, decideOnce(b))
			}
			b.ReportMetric(d.Seconds()/s.Seconds(), "decide/sort")
		})
	}
}
