package bench

import (
	"bytes"
	"testing"

	"github.com/agora-econ/agora/economy/config"
)

// TestBenchClearingSmall runs the whole clearing benchmark with tiny
// numbers, the read models running: raw figure, agents, placement, the
// sort, one cycle, the markets and the audit.
func TestBenchClearingSmall(t *testing.T) {
	rep, err := RunClearing(benchCtx(t), ClearingOptions{Bids: 60, SnapshotEvery: 10, ReadModels: true,
		Common: Common{Agents: 4, Concurrency: 8, Sync: config.SyncInterval, Logger: benchQuiet}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Audit.OK {
		t.Fatalf("audit: %s", rep.Audit.Problem)
	}
	if rep.Place.Open != 60 || rep.Cycle.OpenBids != 60 {
		t.Errorf("open bids after placing = %d, before the cycle = %d; want 60", rep.Place.Open, rep.Cycle.OpenBids)
	}
	if rep.Place.Events != 120 || rep.RawAppend.Count != 120 {
		t.Errorf("placement appended %d events, raw %d; want 120 each (a hold and a listing per bid)", rep.Place.Events, rep.RawAppend.Count)
	}
	if rep.Cycle.Allocations < 1 || rep.Cycle.EventBytes < 100 {
		t.Errorf("cycle: %+v; want winners and an event", rep.Cycle)
	}
	if len(rep.Markets) != 3 {
		t.Errorf("markets %+v; want cpu_seconds, memory_mb and tokens", rep.Markets)
	}
	for name, m := range rep.Markets {
		if m.LeasedUnits > m.SupplyUnits {
			t.Errorf("market %s leases %s of %s", name, m.LeasedUnits, m.SupplyUnits)
		}
	}
	if name := "cpu_seconds"; rep.Markets[name].LeasedUnits <= 0 {
		t.Errorf("nothing leased in %s: %+v", name, rep.Markets[name])
	}
	if rep.EventBytes < 100 || rep.RawAppend.RatePerSecond <= 0 || rep.Place.BidsPerSecond <= 0 || rep.Place.RatioToRaw <= 0 ||
		rep.Cycle.SortSeconds <= 0 || rep.Cycle.DurableSeconds <= 0 || rep.Cycle.AppliedSeconds < rep.Cycle.DurableSeconds ||
		rep.Cycle.RatioToSort <= 0 || rep.Cycle.SortRuns != clearingSortRuns || rep.RawCPUMicrosPerEvent <= 0 ||
		rep.Place.CPUMicrosPerEvent <= 0 || !rep.ReadModels {
		t.Errorf("missing figures: %+v", rep)
	}
	checkRawBatch(t, rep.RawBatch, 120, 4)
	if rep.Place.RatioToRawBatch <= 0 || rep.Place.TargetRatioToRawBatch != clearingTargetRatioToRawBatch {
		t.Errorf("placement against the raw atomic batch %.3f, target %.1f", rep.Place.RatioToRawBatch, rep.Place.TargetRatioToRawBatch)
	}
	checkLatency(t, "raw append", rep.RawAppend.Latency)
	checkLatency(t, "placement", &rep.Place.Latency)
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio cycle durable / sort")) ||
		!bytes.Contains(out.Bytes(), []byte("ratio placement events / raw atomic batches")) ||
		!bytes.Contains(out.Bytes(), []byte("CPU per event")) || !bytes.Contains(out.Bytes(), []byte("audit")) {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}
