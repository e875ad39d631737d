package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/agora-econ/agora/economy/config"
)

// TestBenchScaleSmall builds a tiny economy of agents mostly killed, reads
// it in one pass and restarts it: the figures are filled and agree with
// what was built (not with any time).
func TestBenchScaleSmall(t *testing.T) {
	const agents, alive = 12, 3
	heap := filepath.Join(t.TempDir(), "scale.heap")
	rep, err := RunScale(benchCtx(t), ScaleOptions{Alive: alive, MemProfile: heap,
		Common: Common{Agents: agents, Concurrency: 4, Sync: config.SyncInterval, Logger: benchQuiet}})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(heap); err != nil || len(b) == 0 {
		t.Errorf("heap profile: %d bytes, %v", len(b), err)
	}
	if !rep.Audit.OK {
		t.Fatalf("audit: %s", rep.Audit.Problem)
	}
	if rep.Agents != agents || rep.Alive != alive || rep.Dead != agents-alive || rep.Audit.Agents != agents {
		t.Errorf("report of %d agents (%d alive, %d dead), audit saw %d; want %d, %d alive", rep.Agents, rep.Alive, rep.Dead,
			rep.Audit.Agents, agents, alive)
	}
	if rep.OpenBids != alive {
		t.Errorf("%d bids open after the start-up; want one per living agent, %d", rep.OpenBids, alive)
	}
	p := rep.SinglePass
	// Every agent was created; the dead died; the living placed a hold:
	// two events each, too few for a snapshot, so every one is a tail
	// event and the pass reads the log from its first record.
	if p.Agents != agents || p.Snapshots != 0 || p.From != 1 || p.TailEvents != 2*agents ||
		uint64(p.Records) != rep.Events || p.Values < 1 || p.ValueBytes <= 0 {
		t.Errorf("single pass %+v over %d events; want %d agents, no agent snapshot, %d tail events, the whole log read",
			p, rep.Events, agents, 2*agents)
	}
	// A start follows the living: no dead agent is loaded, and a living
	// one only when it has work pending (an open bid wakes it at its
	// cycle, not at the start).
	if rep.AgentsRecovered > alive || rep.Processes < 1 {
		t.Errorf("start-up recovered %d agents (at most the %d living), %d processes", rep.AgentsRecovered, alive, rep.Processes)
	}
	if rep.StartupSeconds <= 0 || rep.SinglePassReadSeconds <= 0 || rep.RatioStartupToSinglePass <= 0 ||
		rep.HeapBytesBefore == 0 || rep.HeapBytesAfter == 0 || rep.RSSBytes == 0 || rep.RSSBytesBefore == 0 ||
		rep.Build.Seconds <= 0 || rep.Build.CreateSeconds <= 0 || rep.Build.KillSeconds <= 0 || rep.Build.BidSeconds <= 0 {
		t.Errorf("missing figures: %+v", rep)
	}
	if want := (float64(rep.HeapBytesAfter) - float64(rep.HeapBytesBefore)) / agents; rep.HeapBytesPerIdleAgent != want {
		t.Errorf("heap per idle agent %.1f; want (after - before) / agents = %.1f", rep.HeapBytesPerIdleAgent, want)
	}
	if rep.TargetHeapPerIdleAgent != scaleTargetHeapPerIdleAgent || rep.TargetRatio != scaleTargetRatio {
		t.Errorf("targets %.0f bytes, %.0f", rep.TargetHeapPerIdleAgent, rep.TargetRatio)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio start-up / single pass read")) ||
		!bytes.Contains(out.Bytes(), []byte("heap per idle agent")) || !bytes.Contains(out.Bytes(), []byte("audit")) {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}
