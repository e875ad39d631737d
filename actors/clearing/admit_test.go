package clearing

import (
	"errors"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// TestAdmit: given a book, an event read from the log is admitted or
// refused with its typed reason.
func TestAdmit(t *testing.T) {
	cpu := events.WholeUnits(1)
	terms := map[string]events.MarketTerms{"cpu_seconds": {SupplyUnits: 10 * cpu, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	bundle := func(n int64) map[string]events.Units {
		return map[string]events.Units{"cpu_seconds": events.Units(n) * cpu}
	}
	// Evolve reuses the book's maps: each state is folded anew.
	book := func() Book {
		b := Evolve(New("main"), events.BookConfigured{Markets: terms, LeaseTimeoutSeconds: 60, AllocationsMax: 10})
		b = Evolve(b, events.BidListed{BidID: "b1", AgentID: "a", Resources: bundle(6), AmountMicros: 20, PlacedAt: at})
		return Evolve(b, events.BidListed{BidID: "b2", AgentID: "a", Resources: bundle(6), AmountMicros: 10, PlacedAt: at})
	}
	withBid := book()
	alloc := func(bid string, n int64, amount events.Micros) events.Allocation {
		return events.Allocation{BidID: bid, ExecutionID: ExecutionID(bid), AgentID: "a", BeneficiaryID: "a",
			Resources: bundle(n), AmountMicros: amount}
	}
	cleared := Evolve(book(), events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("b1", 6, 20)}})
	tests := []struct {
		name  string
		given Book
		event events.Event
		want  error
	}{
		{"a cycle", withBid, events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("b1", 6, 20)}}, nil},
		{"an idle-looking cycle", withBid, events.CycleCleared{Cycle: 1, At: at}, nil},
		{"a cycle cleared twice", cleared, events.CycleCleared{Cycle: 1, At: at}, ErrCycleOutOfOrder},
		{"a cycle skipped ahead", withBid, events.CycleCleared{Cycle: 3, At: at}, ErrCycleOutOfOrder},
		{"a cycle before configuration", New("main"), events.CycleCleared{Cycle: 1, At: at}, ErrNotConfigured},
		{"a bid that is not open wins", withBid, events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("nope", 6, 20)}}, ErrBidNotOpen},
		{"a bid wins twice", withBid, events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("b1", 6, 20), alloc("b1", 6, 20)}}, ErrBidNotOpen},
		{"leases above the supply", withBid, events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("b1", 6, 20), alloc("b2", 6, 10)}}, ErrExceedsSupply},
		{"a win not on its bid's terms", withBid, events.CycleCleared{Cycle: 1, At: at, Allocations: []events.Allocation{alloc("b1", 6, 1)}}, ErrInadmissible},
		{"an expiry of an execution not running", withBid, events.CycleCleared{Cycle: 1, At: at, Expired: []string{"x"}}, ErrExecutionNotRunning},
		{"a release", cleared, events.ExecutionReleased{ExecutionID: ExecutionID("b1")}, nil},
		{"a release of an execution not running", withBid, events.ExecutionReleased{ExecutionID: "x"}, ErrExecutionNotRunning},
		{"a raise of a bid not open", withBid, events.BidRaised{BidID: "nope", AmountMicros: 30}, ErrBidNotOpen},
		{"a withdrawal of a bid not open", withBid, events.BidWithdrawn{BidID: "nope"}, ErrBidNotOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Admit(tt.given, tt.event)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Admit = %v; want it admitted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInadmissible) {
				t.Fatalf("Admit = %v; want %v (and ErrInadmissible)", err, tt.want)
			}
		})
	}
}
