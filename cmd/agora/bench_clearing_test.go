package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/agora-econ/agora/cmd/agora/config"
)

// TestBenchClearingSmall runs the whole clearing benchmark with tiny
// numbers, the read models running: raw figure, agents, placement, the
// sort, one cycle, the markets and the audit.
func TestBenchClearingSmall(t *testing.T) {
	rep, err := runClearing(benchCtx(t), clearingOptions{Bids: 60, Agents: 4, Concurrency: 8, SnapshotEvery: 10,
		ReadModels: true, Sync: config.SyncInterval, Logger: benchQuiet})
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
	var out bytes.Buffer
	if err := rep.print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio cycle durable / sort")) ||
		!bytes.Contains(out.Bytes(), []byte("CPU per event")) || !bytes.Contains(out.Bytes(), []byte("audit")) {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}

// TestBenchClearingCommand runs the command with its flags (the read models
// off) and reads its one JSON object; bad flags are usage errors (exit
// status 2).
func TestBenchClearingCommand(t *testing.T) {
	cmd := newBenchClearingCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--bids", "10", "--agents", "3", "--sync", "interval", "--read-models=false", "--json"})
	if err := cmd.ExecuteContext(benchCtx(t)); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Sync        string `json:"sync"`
		Bids        int    `json:"bids"`
		Concurrency int    `json:"concurrency"`
		ReadModels  bool   `json:"read_models"`
		Cycle       struct {
			OpenBids int     `json:"open_bids"`
			Ratio    float64 `json:"ratio_cycle_to_sort"`
		} `json:"cycle"`
		Audit struct {
			OK bool `json:"ok"`
		} `json:"audit"`
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if dec.More() {
		t.Error("more than one JSON value printed")
	}
	if rep.Sync != "interval" || rep.Bids != 10 || rep.Concurrency != 3 || rep.ReadModels || rep.Cycle.OpenBids != 10 ||
		rep.Cycle.Ratio <= 0 || !rep.Audit.OK {
		t.Errorf("report = %+v; want sync interval, 10 bids, concurrency = agents = 3, no read models, audit ok", rep)
	}

	for _, args := range [][]string{
		{"--bids", "0"},
		{"--bids", "1000001"},
		{"--agents", "0"},
		{"--concurrency", "0"},
		{"--snapshot-every", "0"},
		{"--sync", "sometimes"},
	} {
		cmd := newBenchClearingCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(benchCtx(t))
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err = %v; want a usage error (exit 2)", args, err)
		}
	}
}
