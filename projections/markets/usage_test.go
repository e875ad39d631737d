package markets_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/markets"
)

// tokenRound is a cycle in which bid b-1 wins 2 cpu seconds, 128 MB and
// 100 tokens, and bid b-2 wins 1 cpu second and 64 MB, in all three markets.
func tokenRound() []step {
	res1 := map[string]events.Units{"cpu_seconds": un(2), "memory_mb": un(128), "tokens": un(100)}
	res2 := map[string]events.Units{"cpu_seconds": un(1), "memory_mb": un(64)}
	return []step{
		configured("cpu_seconds", 100, cr(5)), configured("memory_mb", 10000, micros("0.01")),
		configured("tokens", 10000, micros("0.1")),
		clr(events.CycleCleared{Cycle: 1, At: t0, Allocations: []events.Allocation{
			{BidID: "b-1", ExecutionID: "x-b-1", AgentID: "a", BeneficiaryID: "a", Resources: res1, AmountMicros: cr(30)},
			{BidID: "b-2", ExecutionID: "x-b-2", AgentID: "b", BeneficiaryID: "b", Resources: res2, AmountMicros: cr(10)},
		}, Markets: map[string]events.MarketOutcome{}}),
	}
}

func agentStep(id string, e events.Event) step { return step{events.KindAgent, id, e} }

// TestReleaseSaysWhatWasUsed: when an execution's end comes before the
// release of its leases, each market's release says what it used of the
// resource: the tokens metered, the CPU time, the memory peak; a release
// that comes first (a lease expired while its execution ran) says
// nothing of use, and the end after it changes nothing. What is recorded
// between the end and the release survives a snapshot.
func TestReleaseSaysWhatWasUsed(t *testing.T) {
	given := append(tokenRound(),
		agentStep("a", events.ExecutionEnded{ExecutionID: "x-b-1", Pool: pool, Cause: events.CauseExited,
			CPUMillis: 1500, MemoryPeakKB: 3072, WallMillis: 900, TokensUsed: 74}),
		mkt("cpu_seconds", events.MarketCleared{Cycle: 2, Released: []events.Lease{{ExecutionID: "x-b-2", Units: un(1)}},
			SupplyUnits: un(100), PriceMicros: cr(5), NewPriceMicros: cr(5)}),
		agentStep("b", events.ExecutionEnded{ExecutionID: "x-b-2", Pool: pool, Cause: events.CauseDeadline, CPUMillis: 999}),
	)
	v := newView(t, 20)
	for i, st := range given {
		if err := v.Apply(record(t, uint64(i+1), st)); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	// Between the end and the release, through a snapshot.
	data, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := newView(t, 20)
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	seq := uint64(len(given))
	for _, rel := range []struct {
		resource string
		units    events.Units
	}{{"cpu_seconds", un(2)}, {"memory_mb", un(128)}, {"tokens", un(100)}} {
		seq++
		if err := r.Apply(record(t, seq, mkt(rel.resource, events.LeaseReleased{ExecutionID: "x-b-1", Units: rel.units,
			Reason: "exited"}))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]events.Units{"cpu_seconds": 1_500_000, "memory_mb": 3 * events.MicroUnitsPerUnit, "tokens": un(74)}
	for resource, used := range want {
		m, _ := r.Market(resource)
		rel := m.RecentTransactions[0]
		if rel.Kind != markets.KindRelease || rel.ExecutionID != "x-b-1" || !rel.Measured || rel.UsedUnits != used {
			t.Errorf("%s release %+v, want used %s", resource, rel, used)
		}
		b, err := json.Marshal(rel)
		if err != nil {
			t.Fatal(err)
		}
		var back markets.Transaction
		if err := json.Unmarshal(b, &back); err != nil || back != rel {
			t.Errorf("%s release through JSON: %+v, %v; want %+v", resource, back, err, rel)
		}
		if resource == "tokens" && !strings.Contains(string(b), `"used":74`) {
			t.Errorf("tokens release JSON %s", b)
		}
	}
	// The expired lease: released before its end, nothing measured; the
	// allocations never are.
	cpu, _ := r.Market("cpu_seconds")
	expired := 0
	for _, tx := range cpu.RecentTransactions {
		if tx.ExecutionID == "x-b-2" && tx.Kind == markets.KindRelease {
			expired++
		}
		if tx.ExecutionID == "x-b-2" || tx.Kind == markets.KindAllocation {
			if tx.Measured {
				t.Errorf("measured %+v", tx)
			}
			if b, _ := json.Marshal(tx); strings.Contains(string(b), `"used"`) {
				t.Errorf("unmeasured transaction with used: %s", b)
			}
		}
	}
	if expired != 1 {
		t.Fatalf("the expired lease was released %d times: %+v", expired, cpu.RecentTransactions)
	}
}
