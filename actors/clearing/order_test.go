package clearing_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// TestCycleWalksInOrder: the allocations of a cycle are those of the rule
// as SPEC.md 1.3 states it: sort the open bids with clearing.Order, walk
// them, and let a bid win when each resource of its bundle fits in what is
// left. Books are random, with many ties in amount and time placed (so
// that the id decides), bundles naming markets that are not configured or
// retired, and supplies that run out or were cut below what is leased;
// bids listed by the book or made as they are, and the whole book as a
// snapshot brings it back.
func TestCycleWalksInOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		markets := []string{"cpu_seconds", "memory_mb", "tokens"}
		b := clearing.New("main")
		for _, name := range markets {
			supply := events.Units(rapid.Int64Range(1, 50).Draw(t, "supply"))
			b.Markets[name] = clearing.Market{MarketTerms: events.MarketTerms{
				SupplyUnits: supply, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 10},
				// Leases past a supply cut leave less than nothing free,
				// which stops only the bids that ask for the resource.
				LeasedUnits: events.Units(rapid.Int64Range(0, int64(supply)+5).Draw(t, "leased")),
				Retired:     rapid.IntRange(0, 5).Draw(t, "retired "+name) == 0}
		}
		b.AllocationsMax = rapid.IntRange(1, 40).Draw(t, "allocations max")
		at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		n := rapid.IntRange(0, 200).Draw(t, "bids")
		for i := range n {
			id := fmt.Sprintf("b-%03d", rapid.IntRange(0, 999).Draw(t, "id"))
			res := map[string]events.Units{}
			for _, name := range append(markets, "retired") {
				if rapid.IntRange(0, 3).Draw(t, "names "+name) > 0 {
					res[name] = events.Units(rapid.Int64Range(1, 20).Draw(t, "units"))
				}
			}
			bid := clearing.Bid{ID: id, AgentID: fmt.Sprintf("a%d", i%7), Resources: res,
				AmountMicros: events.Micros(rapid.Int64Range(1, 4).Draw(t, "amount")),
				PlacedAt:     at.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "ns"))*time.Nanosecond + time.Duration(rapid.IntRange(0, 2).Draw(t, "s"))*time.Second)}
			// Listed by the book, or as a snapshot brings it back.
			if rapid.Bool().Draw(t, "listed") {
				b = clearing.Evolve(b, events.BidListed{BidID: bid.ID, AgentID: bid.AgentID, Resources: bid.Resources,
					AmountMicros: bid.AmountMicros, PlacedAt: bid.PlacedAt})
			} else {
				b.Bids[id] = bid
			}
		}
		if rapid.Bool().Draw(t, "from a snapshot") {
			data, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			var back clearing.Book
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			b = back
		}
		e, err := clearing.Decide(b, clearing.Clear{Cycle: 1, At: at.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if cc, ok := e.(events.CycleCleared); ok {
			for _, a := range cc.Allocations {
				got = append(got, a.BidID)
			}
		}
		if want := walkByRule(b); !slices.Equal(got, want) {
			t.Fatalf("allocations %v, want %v", got, want)
		}
	})
}

// walkByRule allocates as the rule reads, on whole bids.
func walkByRule(b clearing.Book) []string {
	free := map[string]events.Units{}
	for name, m := range b.Markets {
		if !m.Retired {
			free[name] = m.SupplyUnits - m.LeasedUnits
		}
	}
	bids := slices.Collect(maps.Values(b.Bids))
	slices.SortFunc(bids, clearing.Order)
	var won []string
	for _, bid := range bids {
		if len(won) >= b.AllocationsMax {
			break
		}
		fit := true
		for r, u := range bid.Resources {
			if u > free[r] {
				fit = false
			}
		}
		if !fit {
			continue
		}
		for r, u := range bid.Resources {
			free[r] -= u
		}
		won = append(won, bid.ID)
	}
	return won
}
