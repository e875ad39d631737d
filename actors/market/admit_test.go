package market

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/events"
)

// TestAdmit: given a market, an event read from the log is admitted or
// refused with its typed reason: 0 <= leased <= supply after it, leases
// granted once and released only while held.
func TestAdmit(t *testing.T) {
	u := events.WholeUnits(1)
	market := func() Market {
		m := Evolve(New("cpu_seconds"), events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: 10 * u,
			PriceMicros: 5, MinPriceMicros: 1, MaxPriceMicros: 100})
		return Evolve(m, events.MarketCleared{Cycle: 1, Granted: []events.Lease{{ExecutionID: "x1", Units: 6 * u}}})
	}
	tests := []struct {
		name  string
		given Market
		event events.Event
		want  error
	}{
		{"a cycle within the supply", market(), events.MarketCleared{Cycle: 2, Granted: []events.Lease{{ExecutionID: "x2", Units: 4 * u}}}, nil},
		{"a cycle above the supply", market(), events.MarketCleared{Cycle: 2, Granted: []events.Lease{{ExecutionID: "x2", Units: 5 * u}}}, ErrOverSupply},
		{"a lease granted twice", market(), events.MarketCleared{Cycle: 2, Granted: []events.Lease{{ExecutionID: "x1", Units: u}}}, ErrInadmissible},
		{"a cycle of a market never opened", New("gpu"), events.MarketCleared{Cycle: 1}, ErrNotOpen},
		{"a release", market(), events.LeaseReleased{ExecutionID: "x1", Units: 6 * u}, nil},
		{"a release of a lease not held", market(), events.LeaseReleased{ExecutionID: "x9", Units: u}, ErrInadmissible},
		{"a release for other units", market(), events.LeaseReleased{ExecutionID: "x1", Units: u}, ErrInadmissible},
		{"bad terms", market(), events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: 0, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 1}, ErrInvalidTerms},
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
