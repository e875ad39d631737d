package main

import (
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// The strategy, kept pure so that it can be read and tested apart from
// the calls.

// The bundle the saver lives on: one CPU second, 128 MB, no inference.
// The memory is what a Go program that calls HTTP needs to start: the
// sandbox limits memory as the data segment (RLIMIT_DATA, every private
// writable mapping, touched or not), and such a binary carries 32 MB of
// zeroed data for its crypto (crypto/internal/fips140/drbg) beside the
// 32 MB index of heap arenas the runtime maps at start; it starts at 80.
var bundle = map[string]events.Units{
	"cpu_seconds": events.WholeUnits(1),
	"memory_mb":   events.WholeUnits(128),
}

const (
	// marginPercent is paid above the reserve price, so that the bid
	// stays valid if a price rises a step before the cycle clears.
	marginPercent = 20
	// reserveExecutions is how many executions' worth of credits the agent
	// wants to hold after bidding: below it, it stops bidding and lets
	// itself die rather than end broke.
	reserveExecutions = 1
)

// plan is the bid to place.
type plan struct {
	terms  events.BidTerms
	amount events.Micros
}

// nextBid is the bid for the next execution at prices, or false when
// available cannot pay for it and reserveExecutions more.
func nextBid(prices map[string]system.Credits, available system.Credits) (plan, bool) {
	var reserve events.Micros
	for resource, units := range bundle {
		price, ok := prices[resource]
		if !ok {
			return plan{}, false
		}
		cost, ok := events.Cost(units, events.Micros(price))
		if !ok {
			return plan{}, false
		}
		reserve += cost
	}
	amount := reserve + reserve*marginPercent/100
	if amount <= 0 || events.Micros(available) < amount*(1+reserveExecutions) {
		return plan{}, false
	}
	terms := events.BidTerms{Resources: make(map[string]events.Units, len(bundle))}
	for r, u := range bundle {
		terms.Resources[r] = u
	}
	return plan{terms: terms, amount: amount}, true
}
