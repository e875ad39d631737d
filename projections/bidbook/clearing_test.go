package bidbook_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
)

// TestBookIsTheClearingsBook drives random bid events through this view
// and through clearing.Evolve, the fold of the clearing actor itself, and
// checks after every event that the view holds exactly the actor's open
// bids, in exactly the order its next cycle walks them.
func TestBookIsTheClearingsBook(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var view bidbook.Book
		actor := clearing.New(pool)
		resources := []string{"cpu_seconds", "memory_mb", "tokens"}
		agents := []string{"a", "b", "c"}
		nextID := 0
		open := func() []string { return slices.Sorted(maps.Keys(actor.Bids)) }
		for seq := uint64(1); seq <= uint64(rapid.IntRange(1, 200).Draw(t, "events")); seq++ {
			var e events.Event
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); {
			case op < 4 || len(actor.Bids) == 0:
				nextID++
				res := map[string]events.Units{}
				for _, r := range resources {
					if rapid.Bool().Draw(t, "names "+r) {
						res[r] = events.Units(rapid.Int64Range(1, 5).Draw(t, "units"))
					}
				}
				e = events.BidListed{BidID: fmt.Sprintf("b-%03d", nextID), AgentID: rapid.SampledFrom(agents).Draw(t, "agent"),
					Resources: res, AmountMicros: events.Micros(rapid.Int64Range(1, 5).Draw(t, "amount")), // ties are common
					PlacedAt: t0.Add(time.Duration(rapid.IntRange(0, 3).Draw(t, "at")) * time.Second)}
			case op == 4:
				e = events.BidRejected{BidID: "b-rejected", AgentID: "a"}
			case op == 5:
				id := rapid.SampledFrom(open()).Draw(t, "raised")
				e = events.BidRaised{BidID: id, AmountMicros: actor.Bids[id].AmountMicros + events.Micros(rapid.Int64Range(1, 3).Draw(t, "delta"))}
			case op == 6:
				id := rapid.SampledFrom(open()).Draw(t, "withdrawn")
				e = events.BidWithdrawn{BidID: id, AgentID: actor.Bids[id].AgentID}
			case op == 7:
				agent := rapid.SampledFrom(agents).Draw(t, "dead")
				var ids []string
				for _, id := range open() {
					if actor.Bids[id].AgentID == agent {
						ids = append(ids, id)
					}
				}
				e = events.BidsCancelled{AgentID: agent, BidIDs: ids}
			default:
				var allocs []events.Allocation
				for _, id := range open() {
					if rapid.Bool().Draw(t, "wins "+id) {
						allocs = append(allocs, events.Allocation{BidID: id, ExecutionID: clearing.ExecutionID(id),
							AgentID: actor.Bids[id].AgentID, Resources: actor.Bids[id].Resources})
					}
				}
				e = events.CycleCleared{Cycle: actor.Cycle + 1, At: t0, Allocations: allocs}
			}
			actor = clearing.Evolve(actor, e)
			if err := bidbook.Apply(&view, record(t, seq, clearingStep(e))); err != nil {
				t.Fatal(err)
			}
			compare(t, &view, actor, resources)
		}
	})
}

func compare(t *rapid.T, view *bidbook.Book, actor clearing.Book, resources []string) {
	want := slices.SortedFunc(maps.Values(actor.Bids), clearing.Order)
	got := pageAll(t, view, "")
	if len(got) != len(want) || view.Count() != len(want) {
		t.Fatalf("view holds %d bids (Count %d), the actor %d", len(got), view.Count(), len(want))
	}
	for i := range want {
		w := want[i]
		if g := got[i]; g.ID != w.ID || g.AgentID != w.AgentID || g.AmountMicros != w.AmountMicros ||
			!g.PlacedAt.Equal(w.PlacedAt) || !maps.Equal(g.Resources, w.Resources) {
			t.Fatalf("bid %d: view %+v, actor %+v", i, g, w)
		}
	}
	for _, r := range resources {
		var n int
		for _, b := range want {
			if _, ok := b.Resources[r]; ok {
				n++
			}
		}
		if view.CountFor(r) != n || len(pageAll(t, view, r)) != n {
			t.Fatalf("%s: CountFor %d, want %d", r, view.CountFor(r), n)
		}
	}
}

func pageAll(t *rapid.T, b *bidbook.Book, resource string) []bidbook.Bid {
	var out []bidbook.Bid
	cursor := ""
	for {
		page, next, err := b.Page(resource, 3, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}
