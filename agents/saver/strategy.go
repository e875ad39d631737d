package main

import (
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// The strategy, kept pure so that it can be read and tested apart from
// the calls.

// The bundle the saver lives on: one CPU second and no inference. Its
// memory is what a Go program needs to start at all: the sandbox limits
// memory as address space (RLIMIT_AS), and the Go runtime reserves some
// 800 MB of address space at start-up, far more than it ever touches.
var bundle = map[string]events.Units{
	"cpu_seconds": events.WholeUnits(1),
	"memory_mb":   events.WholeUnits(1024),
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
