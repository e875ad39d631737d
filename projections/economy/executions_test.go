package economy_test

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

func xstart(runner, bidID, payer string, units map[string]events.Units, seq uint64) fact {
	return ag(runner, events.ExecutionStarted{ExecutionID: clearing.ExecutionID(bidID), BidID: bidID, PayerID: payer, Pool: pool,
		Resources: units, Trigger: events.Trigger{Manager: "executor", Seq: seq}})
}

func xend(runner, bidID, cause string) fact {
	return ag(runner, events.ExecutionEnded{ExecutionID: clearing.ExecutionID(bidID), Pool: pool, ExitCode: 0, Cause: cause})
}

// wonAndPaid is seqs 1-11: setup, bid b-1 of a (20 for 6 cpu, 10 memory)
// listed, won in cycle 1, paid, leased in both markets.
func wonAndPaid() []fact {
	return cat(setup(), placeBid("a", "b-1", 20, bundle(6, 10), 6), []fact{
		cycle(1, 6, 10, nil, alloc("a", "b-1", 20, bundle(6, 10))), // 8
		posted("a", "b-1", 20, 0, 8, 1),                            // 9
		recorded("cpu_seconds", 1, 8, 6, nil, lease("b-1", 6)),     // 10
		recorded("memory_mb", 1, 8, 10, nil, lease("b-1", 10)),     // 11
	})
}

// A paid allocation runs, ends once, and its end releases its leases.
func TestAuditAcceptsAnExecution(t *testing.T) {
	ran := cat(wonAndPaid(), []fact{
		xstart("a", "b-1", "a", bundle(6, 10), 9), // 12
		xend("a", "b-1", events.CauseExited),      // 13
	})
	seq, inv, eco := foldFacts(t, ran)
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.ExecutionsStarted != 1 || s.ExecutionsRunning != 0 || s.UnreleasedEnds != 1 {
		t.Fatalf("summary %+v", s)
	}
	if err := eco.CheckSettled(); !errors.Is(err, economy.ErrUnsettled) {
		t.Fatalf("an ended execution still leased is owed a release; CheckSettled says %v", err)
	}
	seq, inv, eco = foldFacts(t, cat(ran, []fact{
		released("b-1", 6, 10, 13),                 // 14
		leaseReleased("cpu_seconds", "b-1", 6, 14), // 15
		leaseReleased("memory_mb", "b-1", 10, 14),  // 16
	}))
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
}

// An execution running when its agent dies still ends; a sponsored one
// runs its beneficiary; an end after the lease timed out owes nothing.
func TestAuditAcceptsExecutionsAroundDeathAndTimeouts(t *testing.T) {
	facts := cat(wonAndPaid(), []fact{
		xstart("a", "b-1", "a", bundle(6, 10), 9),                       // 12
		ag("a", events.AgentDied{Reason: "operator", BurnedMicros: 80}), // 13
		xend("a", "b-1", events.CauseKilled),                            // 14
	},
		placeBid("b", "b-2", 10, bundle(2, 2), 15), // 15-16
		[]fact{
			book(events.BidsCancelled{AgentID: "a", Trigger: trig(13)}), // 17 (nothing of a's left)
			released("b-1", 6, 10, 14),                                  // 18
			leaseReleased("cpu_seconds", "b-1", 6, 18),                  // 19
			leaseReleased("memory_mb", "b-1", 10, 18),                   // 20
		})
	// b's bid names b itself; its execution times out while it runs.
	facts = cat(facts, []fact{
		cycle(2, 2, 2, nil, alloc("b", "b-2", 10, bundle(2, 2))),           // 21
		posted("b", "b-2", 10, 0, 21, 1),                                   // 22
		recorded("cpu_seconds", 2, 21, 2, nil, lease("b-2", 2)),            // 23
		recorded("memory_mb", 2, 21, 2, nil, lease("b-2", 2)),              // 24
		xstart("b", "b-2", "b", bundle(2, 2), 22),                          // 25
		cycle(3, 0, 0, []string{clearing.ExecutionID("b-2")}),              // 26
		recorded("cpu_seconds", 3, 26, 0, []events.Lease{lease("b-2", 2)}), // 27
		recorded("memory_mb", 3, 26, 0, []events.Lease{lease("b-2", 2)}),   // 28
		xend("b", "b-2", events.CauseDeadline),                             // 29: nothing left to release
	})
	seq, inv, eco := foldFacts(t, facts)
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
}

// Each case breaks an execution invariant at its last fact: a dead agent
// never executes; an execution starts only for a paid allocation whose
// lease is held, as allocated, once; it ends at most once, having used
// no more tokens than it won.
func TestAuditCatchesExecutionViolations(t *testing.T) {
	won := cat(setup(), placeBid("a", "b-1", 20, bundle(6, 10), 6), []fact{
		cycle(1, 6, 10, nil, alloc("a", "b-1", 20, bundle(6, 10))), // 8
	})
	sponsored := cat(setup(), []fact{
		ag("b", events.HoldPlaced{HoldID: "b-1", AmountMicros: 20, Purpose: events.PurposeBid,
			Bid: &events.BidTerms{Pool: pool, Resources: bundle(6, 10), BeneficiaryID: "a"}}), // 6
		book(events.BidListed{BidID: "b-1", AgentID: "b", BeneficiaryID: "a", Resources: bundle(6, 10), AmountMicros: 20, PlacedAt: at, Trigger: trig(6)}),
		cycle(1, 6, 10, nil, events.Allocation{BidID: "b-1", ExecutionID: "x-b-1", AgentID: "b", BeneficiaryID: "a",
			Resources: bundle(6, 10), AmountMicros: 20}), // 8
	})
	cases := map[string][]fact{
		"started before its payment": cat(won, []fact{xstart("a", "b-1", "a", bundle(6, 10), 9)}),
		"started though its payment was refused": cat(sponsored, []fact{
			ag("b", events.AgentDied{Reason: "x", VoidedHolds: []string{"b-1"}, BurnedMicros: 100}),
			ag("b", events.PaymentRefused{HoldID: "b-1", AmountMicros: 20, ExecutionID: "x-b-1", Reason: "agent is dead", Trigger: trig(8)}),
			xstart("a", "b-1", "b", bundle(6, 10), 10)}),
		"started never allocated":      cat(setup(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 6)}),
		"started twice":                cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9), xstart("a", "b-1", "a", bundle(6, 10), 12)}),
		"started again after it ended": cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9), xend("a", "b-1", events.CauseExited), xstart("a", "b-1", "a", bundle(6, 10), 13)}),
		"started after its lease timed out": cat(wonAndPaid(), []fact{
			cycle(2, 0, 0, []string{"x-b-1"}), xstart("a", "b-1", "a", bundle(6, 10), 9)}),
		"started after its lease was released":     cat(wonAndPaid(), []fact{released("b-1", 6, 10, 0), xstart("a", "b-1", "a", bundle(6, 10), 9)}),
		"started by another agent than its runner": cat(wonAndPaid(), []fact{xstart("b", "b-1", "a", bundle(6, 10), 9)}),
		"started with other units":                 cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 9), 9)}),
		"started naming another payer":             cat(wonAndPaid(), []fact{xstart("a", "b-1", "b", bundle(6, 10), 9)}),
		"started by a dead agent": cat(sponsored, []fact{
			ag("b", events.HoldPosted{HoldID: "b-1", AmountMicros: 20, ExecutionID: "x-b-1", Trigger: trig(8)}),
			ag("a", events.AgentDied{Reason: "x", BurnedMicros: 100}),
			xstart("a", "b-1", "b", bundle(6, 10), 9)}),
		"ended twice":       cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9), xend("a", "b-1", events.CauseExited), xend("a", "b-1", events.CauseExited)}),
		"ended not started": cat(wonAndPaid(), []fact{xend("a", "b-1", events.CauseExited)}),
		"ended with tokens its bid did not win": cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9),
			ag("a", events.ExecutionEnded{ExecutionID: "x-b-1", Pool: pool, Cause: events.CauseExited, TokensUsed: 1})}),
		"ended in another pool": cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9),
			ag("a", events.ExecutionEnded{ExecutionID: "x-b-1", Pool: "other", Cause: events.CauseExited})}),
		"a dead agent's execution ends twice": cat(wonAndPaid(), []fact{xstart("a", "b-1", "a", bundle(6, 10), 9),
			ag("a", events.AgentDied{Reason: "x", VoidedHolds: nil, BurnedMicros: 80}),
			xend("a", "b-1", events.CauseKilled), xend("a", "b-1", events.CauseKilled)}),
	}
	for name, facts := range cases {
		t.Run(name, func(t *testing.T) {
			seq, inv, _ := foldFacts(t, facts)
			if seq != uint64(len(facts)) {
				t.Fatalf("violation at %d (%s), want %d", seq, inv, len(facts))
			}
			t.Log(inv)
		})
	}
}
