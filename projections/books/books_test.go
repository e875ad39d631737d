package books_test

import (
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/books"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func listed(id, agent, beneficiary string, amount int64) events.BidListed {
	return events.BidListed{BidID: id, AgentID: agent, BeneficiaryID: beneficiary,
		Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1)}, AmountMicros: events.Credits(amount), PlacedAt: t0}
}

// change is a Change as ids: "" for a side without a bid.
type change struct{ pool, before, after string }

func evolve(s *books.Books, pool string, e events.Event) []change {
	var out []change
	s.Evolve(pool, e, func(c books.Change) {
		var got change
		got.pool = c.Pool
		if c.Before != nil {
			got.before = c.Before.ID
		}
		if c.After != nil {
			got.after = c.After.ID
		}
		out = append(out, got)
	})
	return out
}

// TestChangesAreTheBooks checks what Evolve reports against what the books
// hold: a listing, a raise, a dead agent's own and sponsored bids, a win,
// and events that change no bid.
func TestChangesAreTheBooks(t *testing.T) {
	var s books.Books
	steps := []struct {
		pool  string
		event events.Event
		want  []change
	}{
		{"main", listed("b-1", "a", "", 10), []change{{"main", "", "b-1"}}},
		{"main", listed("b-2", "b", "a", 20), []change{{"main", "", "b-2"}}},
		{"main", listed("b-3", "b", "", 30), []change{{"main", "", "b-3"}}},
		{"other", listed("b-1", "c", "", 5), []change{{"other", "", "b-1"}}},
		{"main", events.BidRaised{BidID: "b-1", AmountMicros: events.Credits(11)}, []change{{"main", "b-1", "b-1"}}},
		{"main", events.BidRaised{BidID: "b-9", AmountMicros: events.Credits(11)}, nil},
		{"main", events.BidRejected{BidID: "b-4", AgentID: "a"}, nil},
		// a died: its own bid and the one b placed for it leave; b-2 is
		// named twice and changes once.
		{"main", events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1", "b-2"},
			Sponsored: []events.BidRef{{BidID: "b-2", AgentID: "b"}}}, []change{{"main", "b-1", ""}, {"main", "b-2", ""}}},
		{"main", events.CycleCleared{Cycle: 1, At: t0, Allocations: []events.Allocation{{BidID: "b-3", ExecutionID: clearing.ExecutionID("b-3")}}},
			[]change{{"main", "b-3", ""}}},
		{"main", events.ExecutionReleased{ExecutionID: clearing.ExecutionID("b-3"), BidID: "b-3"}, nil},
	}
	for i, st := range steps {
		got := evolve(&s, st.pool, st.event)
		if len(got) != len(st.want) {
			t.Fatalf("step %d (%s): changes %v, want %v", i+1, st.event.EventType(), got, st.want)
		}
		for j := range got {
			if got[j] != st.want[j] {
				t.Fatalf("step %d (%s): changes %v, want %v", i+1, st.event.EventType(), got, st.want)
			}
		}
	}
	if s.Count() != 1 || s.Cycle() != 1 {
		t.Fatalf("Count %d, Cycle %d; want the other pool's bid and cycle 1", s.Count(), s.Cycle())
	}
	if b, _ := s.Book("main"); len(b.Bids) != 0 || len(b.Executions) != 0 {
		t.Fatalf("main holds %d bids, %d executions", len(b.Bids), len(b.Executions))
	}
	if got := s.Pools(); len(got) != 2 || got[0] != "main" || got[1] != "other" {
		t.Fatalf("Pools %v", got)
	}
}
