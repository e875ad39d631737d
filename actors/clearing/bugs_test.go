package clearing_test

import (
	"context"
	"maps"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
)

// SPEC.md 1.4 and section 4, invariant 6: a dead agent never executes. A
// bid placed for a beneficiary that dies afterwards must not make it run.
func TestDeadBeneficiaryNeverRuns(t *testing.T) {
	ctx := context.Background()
	log, store := memlog.New(), memlog.NewStore()
	n := boot(t, log, store, nodeOptions{})
	defer n.close(t)
	n.createAgents(t, events.Credits(100), "sponsor", "sleeper")
	terms := events.BidTerms{BeneficiaryID: "sleeper", Resources: map[string]events.Units{
		"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(10)}}
	if _, _, err := n.svc.Place(ctx, "sponsor", "", terms, events.Credits(5)); err != nil {
		t.Fatal(err)
	}
	if _, err := n.accounts.Do(ctx, "sleeper", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	n.settle(t)
	if _, _, err := n.svc.Clear(ctx, crashEpoch); err != nil {
		t.Fatal(err)
	}
	n.settle(t)
	eco := fullAudit(t, log) // fails: a dead agent never executes
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err) // the sponsor's hold must be voided when its bid goes
	}
	if s := eco.Summary(); s.RunningExecutions != 0 || s.OpenBids != 0 {
		t.Fatalf("the dead beneficiary's bid is still open or running: %+v", s)
	}
}

// SPEC.md 1.3 and section 4, invariant 3: leased <= supply, always, and no
// restart may lease more than a market's supply. A restart whose
// configuration lowers a market's supply below what running executions
// lease must not leave leased > supply.
func TestRestartNeverLowersSupplyBelowLeases(t *testing.T) {
	ctx := context.Background()
	log, store := memlog.New(), memlog.NewStore()
	n := boot(t, log, store, nodeOptions{})
	n.createAgents(t, events.Credits(100), "a")
	terms := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(6), "memory_mb": events.WholeUnits(10)}}
	if _, _, err := n.svc.Place(ctx, "a", "", terms, events.Credits(10)); err != nil {
		t.Fatal(err)
	}
	if cc, _, err := n.svc.Clear(ctx, crashEpoch); err != nil || cc == nil || len(cc.Allocations) != 1 {
		t.Fatalf("clear: %+v %v", cc, err)
	}
	n.close(t)

	n = boot(t, log, store, nodeOptions{})
	defer n.close(t)
	smaller := maps.Clone(testMarkets)
	cpu := smaller["cpu_seconds"]
	cpu.SupplyUnits = events.WholeUnits(5)
	smaller["cpu_seconds"] = cpu
	// Refusing the configuration is one answer; deferring the lower supply
	// until the leases end is another. Leasing past supply is not.
	_ = n.svc.Configure(ctx, smaller, testCleared, testRules, testLeaseTimeout, 0)
	n.settle(t)
	fullAudit(t, log)
	if m, err := n.svc.Market(ctx, "cpu_seconds"); err != nil || m.LeasedUnits > m.SupplyUnits {
		t.Fatalf("cpu_seconds: %+v %v", m, err)
	}
	if b, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) clearing.Market { return b.Markets["cpu_seconds"] }); err != nil || b.LeasedUnits > b.SupplyUnits {
		t.Fatalf("the book's cpu_seconds: %+v %v", b, err)
	}
}

// A command retried with its idempotency key is answered with its first
// result (SPEC.md section 2; docs/architecture.md, Idempotency), even when
// the book has moved on since: a client that lost the answer to a Place
// must learn its bid id, not a rejection while its credits are held.
func TestPlaceRetriedAfterAPriceRiseAnswersTheFirstBid(t *testing.T) {
	ctx := context.Background()
	log, store := memlog.New(), memlog.NewStore()
	n := boot(t, log, store, nodeOptions{})
	defer n.close(t)
	n.createAgents(t, events.Credits(100), "a", "b")
	small := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(1)}}
	reserve := events.Credits(1) + 10_000 // 1 cpu at 1 credit, 1 MB at 0.01
	first, _, err := n.svc.Place(ctx, "a", "place-1", small, reserve)
	if err != nil {
		t.Fatal(err)
	}
	// b's bid wins all 10 cpu_seconds, a's does not fit; utilization 100%
	// raises the price.
	big := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(10), "memory_mb": events.WholeUnits(1)}}
	if _, _, err := n.svc.Place(ctx, "b", "", big, events.Credits(50)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.svc.Clear(ctx, crashEpoch); err != nil {
		t.Fatal(err)
	}
	again, status, err := n.svc.Place(ctx, "a", "place-1", small, reserve)
	if err != nil || again != first || status != clearing.StatusOpen {
		t.Fatalf("retry: bid %s (%s) %v; want the first bid %s, open", again, status, err, first)
	}
}

// A raise retried with its idempotency key is answered with its first
// result.
func TestRaiseRetriedAnswersTheFirstRaise(t *testing.T) {
	ctx := context.Background()
	log, store := memlog.New(), memlog.NewStore()
	n := boot(t, log, store, nodeOptions{})
	defer n.close(t)
	n.createAgents(t, events.Credits(100), "a")
	terms := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(1)}}
	bid, _, err := n.svc.Place(ctx, "a", "", terms, events.Credits(5))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if status, err := n.svc.Raise(ctx, "a", "raise-1", bid, events.Credits(6)); err != nil || status != clearing.StatusOpen {
			t.Fatalf("raise: %s %v; want open, and the same answer to the retry", status, err)
		}
	}
}

// A restart whose configuration no longer clears a market that running
// executions lease must keep those leases accounted for until they end.
func TestRestartDroppingALeasedMarketKeepsItsLeases(t *testing.T) {
	ctx := context.Background()
	log, store := memlog.New(), memlog.NewStore()
	n := boot(t, log, store, nodeOptions{})
	n.createAgents(t, events.Credits(100), "a")
	terms := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1),
		"memory_mb": events.WholeUnits(10), "tokens": events.WholeUnits(100)}}
	bid, _, err := n.svc.Place(ctx, "a", "", terms, events.Credits(10))
	if err != nil {
		t.Fatal(err)
	}
	if cc, _, err := n.svc.Clear(ctx, crashEpoch); err != nil || cc == nil || len(cc.Allocations) != 1 {
		t.Fatalf("clear: %+v %v", cc, err)
	}
	// The next start clears cpu_seconds and memory_mb only.
	if err := n.svc.Configure(ctx, testMarkets, []string{"cpu_seconds", "memory_mb"}, testRules, testLeaseTimeout, 0); err != nil {
		t.Fatal(err)
	}
	defer n.close(t)
	if err := n.svc.Release(ctx, clearing.ExecutionID(bid), "exited"); err != nil {
		t.Fatal(err)
	}
	n.settle(t)
	fullAudit(t, log)
}
