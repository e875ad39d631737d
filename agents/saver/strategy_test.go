package main

import (
	"testing"

	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

func credits(micros int64) system.Credits { return system.Credits(micros) }

// TestNextBid: the reserve of the bundle at the posted prices, plus the
// margin, while the agent can afford it and one more; no bid otherwise.
func TestNextBid(t *testing.T) {
	defaults := map[string]system.Credits{"cpu_seconds": credits(5_000_000), "memory_mb": credits(10_000), "tokens": credits(100_000)}
	// 1 cpu second at 5 + 128 MB at 0.01 = 6.28; 20% more = 7.536.
	const bid = 7_536_000
	for _, c := range []struct {
		name      string
		prices    map[string]system.Credits
		available int64
		amount    int64
		ok        bool
	}{
		{"rich", defaults, 1_000_000_000, bid, true},
		{"exactly two executions", defaults, 2 * bid, bid, true},
		{"a micro-credit short", defaults, 2*bid - 1, 0, false},
		{"broke", defaults, 0, 0, false},
		{"a price rounded up", map[string]system.Credits{"cpu_seconds": credits(1), "memory_mb": credits(1)}, 1_000_000, 154, true},
		{"no memory market", map[string]system.Credits{"cpu_seconds": credits(5_000_000)}, 1_000_000_000, 0, false},
		{"free resources", map[string]system.Credits{"cpu_seconds": 0, "memory_mb": 0}, 1_000_000_000, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, ok := nextBid(c.prices, credits(c.available))
			if ok != c.ok || int64(p.amount) != c.amount {
				t.Fatalf("got %d %v, want %d %v", p.amount, ok, c.amount, c.ok)
			}
			if ok && (p.terms.Resources["cpu_seconds"] != events.WholeUnits(1) || p.terms.Resources["memory_mb"] != events.WholeUnits(128) || len(p.terms.Resources) != 2) {
				t.Fatalf("bundle %v", p.terms.Resources)
			}
		})
	}
}
