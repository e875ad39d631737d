package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/economy/bench"
)

// benchCtx bounds a benchmark test against hangs; it asserts nothing about
// time.
func benchCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestBenchLedgerJSON runs the command as a user would and reads its one
// JSON object.
func TestBenchLedgerJSON(t *testing.T) {
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"bench", "ledger", "--agents", "3", "--transfers", "6", "--sync", "interval", "--json"})
	if err := root.ExecuteContext(benchCtx(t)); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Sync        string  `json:"sync"`
		Concurrency int     `json:"concurrency"`
		Ratio       float64 `json:"ratio_ledger_to_raw"`
		RatioBatch  float64 `json:"ratio_ledger_to_raw_atomic_batch"`
		Events      uint64  `json:"ledger_events"`
		RawBatch    struct {
			Count    int `json:"count"`
			InFlight int `json:"concurrency"`
			Latency  struct {
				P99 float64 `json:"p99_ms"`
			} `json:"latency"`
		} `json:"raw_jetstream_atomic_batch"`
		Transfer struct {
			P50 float64 `json:"p50_ms"`
			P99 float64 `json:"p99_ms"`
		} `json:"transfer_latency"`
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
	if rep.Sync != "interval" || rep.Concurrency != 3 || rep.Events != 12 || !rep.Audit.OK || rep.Ratio <= 0 {
		t.Errorf("report = %+v; want sync interval, concurrency = agents = 3, 12 events, audit ok", rep)
	}
	if rep.RawBatch.Count != 12 || rep.RawBatch.InFlight != 1 || rep.RawBatch.Latency.P99 <= 0 || rep.RatioBatch <= 0 ||
		rep.Transfer.P99 < rep.Transfer.P50 || rep.Transfer.P99 <= 0 {
		t.Errorf("report = %+v; want 12 raw messages in one batch, the ratio to it, and latencies", rep)
	}
}

// TestBenchFlagsRejected: bad flags are usage errors (exit status 2) and
// start nothing.
func TestBenchFlagsRejected(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "ledger", "--agents", "1"},
		{"bench", "ledger", "--transfers", "0"},
		{"bench", "ledger", "--concurrency", "0"},
		{"bench", "ledger", "--sync", "sometimes"},
		{"bench", "ledger", "--raw-batches-in-flight", "-1"},
		{"bench", "ledger", "--raw-batches-in-flight", "33"},
		{"bench", "restart", "--events", "10", "--agents", "20"},
		{"bench", "restart", "--snapshot-every", "0"},
		{"bench", "restart", "--parallel", "0"},
		{"bench", "restart", "--sync", ""},
	} {
		root := newRootCommand()
		root.SetOut(io.Discard)
		root.SetErr(io.Discard)
		root.SetArgs(args)
		err := root.ExecuteContext(benchCtx(t))
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: err = %v; want a usage error (exit 2)", args, err)
		}
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

// TestBenchExecSmall runs `agora bench exec` as a process (the sandbox makes
// its process a child subreaper, which a test binary should not become):
// each trivial program runs directly and sandboxed, with figures for both.
func TestBenchExecSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sandboxed processes")
	}
	var rep bench.ExecReport
	decodeJSON(t, mustRun(t, "bench", "exec", "--runs", "3", "--workers", "2", "--json"), &rep)
	if rep.Runs != 3 || len(rep.Programs) == 0 || len(rep.Queue) != len(rep.Programs) {
		t.Fatalf("report: %+v", rep)
	}
	for _, q := range rep.Queue {
		if q.Workers != 2 || q.Local.PerSecond <= 0 || q.Queued.PerSecond <= 0 || q.Ratio <= 0 {
			t.Errorf("%s through the queue: %+v", q.Name, q)
		}
	}
	for _, p := range rep.Programs {
		if p.Direct.MeanMillis <= 0 || p.Sandboxed.MeanMillis <= 0 || p.Ratio <= 0 {
			t.Errorf("%s: %+v", p.Name, p)
		}
	}
	if r := runAgora(t, "bench", "exec", "--runs", "0"); r.code != 2 || !strings.Contains(r.stderr, "--runs") {
		t.Errorf("bench exec --runs 0: %s", r)
	}
	if r := runAgora(t, "bench", "exec", "--workers", "-1"); r.code != 2 || !strings.Contains(r.stderr, "--workers") {
		t.Errorf("bench exec --workers -1: %s", r)
	}
}

// TestBenchScaleCommand runs `agora bench scale` at a tiny size and reads
// its one JSON object; bad flags are usage errors (exit status 2).
func TestBenchScaleCommand(t *testing.T) {
	cmd := newBenchScaleCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--agents", "6", "--alive", "2", "--concurrency", "3", "--sync", "interval", "--json"})
	if err := cmd.ExecuteContext(benchCtx(t)); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Agents     int     `json:"agents"`
		Alive      int     `json:"alive"`
		OpenBids   int     `json:"open_bids"`
		Heap       float64 `json:"heap_bytes_per_idle_agent"`
		RSS        uint64  `json:"rss_bytes"`
		Startup    float64 `json:"startup_seconds"`
		SinglePass float64 `json:"single_pass_read_seconds"`
		Ratio      float64 `json:"ratio_startup_to_single_pass_read"`
		Audit      struct {
			OK bool `json:"ok"`
		} `json:"audit"`
	}
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if rep.Agents != 6 || rep.Alive != 2 || rep.OpenBids != 2 || rep.RSS == 0 || rep.Startup <= 0 || rep.SinglePass <= 0 ||
		rep.Ratio <= 0 || !rep.Audit.OK {
		t.Errorf("report = %+v; want 6 agents, 2 alive with their bids open, the figures, audit ok", rep)
	}

	for _, args := range [][]string{
		{"--agents", "0"},
		{"--agents", "1000001"},
		{"--alive", "-1"},
		{"--agents", "5", "--alive", "6"},
		{"--concurrency", "0"},
		{"--sync", "sometimes"},
	} {
		cmd := newBenchScaleCommand()
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
