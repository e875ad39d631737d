package bench

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
)

// benchCtx bounds a benchmark test against hangs; it asserts nothing about
// time.
func benchCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var benchQuiet = slog.New(slog.DiscardHandler)

// TestBenchLedgerSmall runs the whole ledger benchmark with tiny numbers:
// raw figures, agents, transfers, settlement and the audit.
func TestBenchLedgerSmall(t *testing.T) {
	rep, err := RunLedger(benchCtx(t), LedgerOptions{Transfers: 40,
		Common: Common{Agents: 4, Concurrency: 4, Sync: config.SyncInterval, Logger: benchQuiet}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Audit.OK {
		t.Fatalf("audit: %s", rep.Audit.Problem)
	}
	if rep.LedgerEvents != 80 {
		t.Errorf("ledger events = %d; want 80 (a sent and a received per transfer)", rep.LedgerEvents)
	}
	if rep.Audit.Events != 84 || rep.Audit.Agents != 4 {
		t.Errorf("audit saw %d events of %d agents; want 84 of 4", rep.Audit.Events, rep.Audit.Agents)
	}
	if rep.RawAppend.Count != 80 || rep.RawActor.Count != 120 {
		t.Errorf("raw counts = %d appends, %d requests; want 80, 120", rep.RawAppend.Count, rep.RawActor.Count)
	}
	if rep.EventBytes < 100 || rep.RawAppend.RatePerSecond <= 0 || rep.RawActor.RatePerSecond <= 0 ||
		rep.EventsPerSecond <= 0 || rep.RatioToRaw <= 0 {
		t.Errorf("missing figures: %+v", rep)
	}
	checkRawBatch(t, rep.RawBatch, 80, 4)
	if rep.RatioToRawBatch <= 0 || rep.TargetRatioToRawBatch != ledgerTargetRatioToRawBatch || rep.RawBatchCPUMicrosPerEvent <= 0 {
		t.Errorf("ratio to the raw atomic batch %.3f (target %.1f), its CPU %.1f µs per event",
			rep.RatioToRawBatch, rep.TargetRatioToRawBatch, rep.RawBatchCPUMicrosPerEvent)
	}
	checkLatency(t, "raw append", rep.RawAppend.Latency)
	checkLatency(t, "raw actor request", rep.RawActor.Latency)
	checkLatency(t, "transfer", &rep.TransferLatency)
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("audit")) ||
		!bytes.Contains(out.Bytes(), []byte("raw JetStream atomic batches")) || !bytes.Contains(out.Bytes(), []byte("P99 MS")) ||
		!bytes.Contains(out.Bytes(), []byte("ratio ledger events / raw atomic batches")) {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}

// checkRawBatch checks a raw atomic batch figure of count messages over
// subjects subjects: batches of rawBatchMessages, the default number in
// flight (no more than there are subjects or batches), a rate and the
// latency of a batch.
func checkRawBatch(t *testing.T, f rawFigure, count, subjects int) {
	t.Helper()
	if f.Count != count || f.Parties != subjects || f.BatchMessages != rawBatchMessages ||
		f.Concurrency != min(RawBatchInFlightDefault, subjects, (count+rawBatchMessages-1)/rawBatchMessages) || f.RatePerSecond <= 0 {
		t.Errorf("raw atomic batch figure %+v; want %d messages over %d subjects in batches of %d", f, count, subjects, rawBatchMessages)
	}
	checkLatency(t, "raw atomic batch", f.Latency)
}

// checkLatency checks that a latency summary was measured and is ordered.
func checkLatency(t *testing.T, what string, l *latencies) {
	t.Helper()
	if l == nil || l.MaxMillis <= 0 || l.P50Millis > l.P99Millis || l.P99Millis > l.MaxMillis {
		t.Errorf("%s latency %+v; want measured, p50 <= p99 <= max", what, l)
	}
}

// TestRawAtomicBatch stores messages in atomic batches over fewer subjects
// than a batch has messages and more than one batch in flight, with a
// last batch shorter than the others: the server checks every subject's
// expected last sequence, so a sequence tracked wrong ends the measure
// with its refusal.
func TestRawAtomicBatch(t *testing.T) {
	ctx := benchCtx(t)
	n, closeNode, err := freshNode(ctx, Common{Sync: config.SyncInterval, Logger: benchQuiet}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeNode()
	payload, err := ledgerEventBytes()
	if err != nil {
		t.Fatal(err)
	}
	f, err := rawAtomicBatch(ctx, n.Conn(), benchAgentIDs(5), 1234, 100, 2, payload)
	if err != nil {
		t.Fatal(err)
	}
	if f.Count != 1234 || f.Parties != 5 || f.Concurrency != 2 || f.BatchMessages != 100 {
		t.Errorf("figure %+v; want 1234 messages over 5 subjects, 2 senders, batches of 100", f)
	}
	if f.Latency == nil || f.Latency.MaxMillis <= 0 {
		t.Errorf("batch latency %+v", f.Latency)
	}
}

// TestBenchRestartSmall builds a tiny economy, then measures the baseline,
// the replay and the restart, and audits.
func TestBenchRestartSmall(t *testing.T) {
	o := RestartOptions{Events: 300, SnapshotEvery: 10, Parallel: 4, Since: 5,
		Common: Common{Agents: 4, Concurrency: 4, Sync: config.SyncInterval, Logger: benchQuiet}}
	rep, err := RunRestart(benchCtx(t), o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Audit.OK {
		t.Fatalf("audit: %s", rep.Audit.Problem)
	}
	if rep.Events != 300 || rep.Replay.Count != 300 {
		t.Errorf("log holds %d events, replay read %d; want 300", rep.Events, rep.Replay.Count)
	}
	if rep.Sequential.TailEvents != rep.Baseline.TailEvents || rep.Sequential.Snapshots != rep.Baseline.Snapshots {
		t.Errorf("sequential baseline read %d tail events of %d snapshots; per agent %d of %d",
			rep.Sequential.TailEvents, rep.Sequential.Snapshots, rep.Baseline.TailEvents, rep.Baseline.Snapshots)
	}
	if rep.AuditFold.Count != 300 || rep.DecodedReplay.Count != 300 || rep.AuditFold.RatePerSecond <= 0 ||
		rep.DecodedReplay.RatePerSecond <= 0 || rep.RatioAuditToReplay <= 0 || rep.TargetAuditToReplay != restartTargetAuditToReplay {
		t.Errorf("audit %+v, decoded replay %+v, ratio %.2f (target %.1f); want both over the 300 events",
			rep.AuditFold, rep.DecodedReplay, rep.RatioAuditToReplay, rep.TargetAuditToReplay)
	}
	if len(rep.MeasurementOrder) != 8 || rep.ActorsSeconds <= 0 {
		t.Errorf("measurements %v, actors-only %.3fs", rep.MeasurementOrder, rep.ActorsSeconds)
	}
	if rep.AgentsRecovered != 4 || rep.Baseline.Agents != 4 || rep.Baseline.Snapshots != 4 {
		t.Errorf("recovered %d, baseline listed %d with %d snapshots; want 4, 4, 4",
			rep.AgentsRecovered, rep.Baseline.Agents, rep.Baseline.Snapshots)
	}
	if rep.RestartSeconds <= 0 || rep.Baseline.Seconds <= 0 || rep.Ratio <= 0 {
		t.Errorf("missing figures: %+v", rep)
	}
	checkStartup(t, "resumed", rep.Resume, false)
	checkStartup(t, "rebuilt", rep.Rebuild, true)
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil || !bytes.Contains(out.Bytes(), []byte("ratio restart / baseline")) ||
		!bytes.Contains(out.Bytes(), []byte("ratio start-up rebuilt / resumed")) ||
		!bytes.Contains(out.Bytes(), []byte("ratio audit / decoded replay")) {
		t.Errorf("table: %v\n%s", err, out.String())
	}
}

// checkStartup checks, by counting records (not by timing), that a
// start-up after events appended with the economy down delivered the
// process managers only the records after their saved cursors, and the
// read models that keep a snapshot only the records after it; a rebuilt
// read model applies the whole log.
func checkStartup(t *testing.T, name string, f StartupFigures, rebuilt bool) {
	t.Helper()
	// Five transfers, each a transfer_sent while down; their settlement
	// appends more at the start-up.
	if f.Since != 5 || f.Last <= f.From+f.Since || f.Seconds <= 0 {
		t.Fatalf("%s start-up: %d events since %d, last %d, %.3fs", name, f.Since, f.From, f.Last, f.Seconds)
	}
	managers := 0
	for _, c := range f.Consumers {
		if !strings.HasPrefix(c.Name, "manager ") {
			continue
		}
		managers++
		if c.From != f.From || c.Delivered != f.Last-f.From {
			t.Errorf("%s start-up: %s resumed after %d and was delivered %d records; want after %d, the %d since",
				name, c.Name, c.From, c.Delivered, f.From, f.Last-f.From)
		}
	}
	if managers != 4 || len(f.Views) != 8 { // transfers, clearing, spawns, attention; and the read models, the history among them
		t.Fatalf("%s start-up: %d managers, %d read models: %+v %+v", name, managers, len(f.Views), f.Consumers, f.Views)
	}
	for _, v := range f.Views {
		from := uint64(0)
		if v.Durable && !rebuilt {
			from = f.From
		}
		if v.From != from || v.Applied != f.Last-from {
			t.Errorf("%s start-up: read model %s (durable %v) resumed after %d and applied %d records; want after %d, %d",
				name, v.Name, v.Durable, v.From, v.Applied, from, f.Last-from)
		}
	}
}

// TestBenchRestartPlan checks that the build makes the events asked for:
// one creation per agent, then two events per transfer.
func TestBenchRestartPlan(t *testing.T) {
	for _, tc := range []struct{ agents, events, transfers int }{
		{1000, 1_000_000, 499_500},
		{1000, 200_000, 99_500},
		{4, 300, 148},
		{10, 10, 0},
		{10, 51, 20},
	} {
		o := RestartOptions{Common: Common{Agents: tc.agents}, Events: tc.events}
		if got := o.buildTransfers(); got != tc.transfers {
			t.Errorf("%d agents, %d events: %d transfers; want %d", tc.agents, tc.events, got, tc.transfers)
		}
	}
}

// BenchmarkLedgerTransfer drives b.N transfers over 100 agents (100
// callers) on an embedded server, after measuring on the same server the
// raw JetStream append rate (2 x b.N messages) and the raw actor rate.
// Compare the ratios, not the rates: they hold across machines.
func BenchmarkLedgerTransfer(b *testing.B) {
	for _, sync := range []string{config.SyncInterval, config.SyncAlways} {
		b.Run("sync="+sync, func(b *testing.B) {
			const agents = 100
			ctx := benchCtx(b)
			n, err := openBenchNode(ctx, b.TempDir(), sync, 0, benchQuiet)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(n.Close)
			ids := benchAgentIDs(agents)
			payload, err := ledgerEventBytes()
			if err != nil {
				b.Fatal(err)
			}
			raw, err := rawAppend(ctx, n.Conn(), ids, max(2*b.N, agents), payload)
			if err != nil {
				b.Fatal(err)
			}
			act, err := rawActor(ctx, agents, agents, max(actorRequestsPerTransfer*b.N, agents))
			if err != nil {
				b.Fatal(err)
			}
			e, err := startEconomy(n, economy.WithLedgerOnly()) // what bench ledger measures by default
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(e.Stop)
			if _, err := createAgents(ctx, e, ids, benchGrant(agents), agents); err != nil {
				b.Fatal(err)
			}
			before, err := settle(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			started := time.Now()
			if _, err := driveTransfers(ctx, e, ids, b.N, agents); err != nil {
				b.Fatal(err)
			}
			acked := time.Since(started)
			after, err := settle(ctx, e)
			if err != nil {
				b.Fatal(err)
			}
			settled := time.Since(started)
			b.StopTimer()
			eventsPerSecond := rate(float64(after-before), settled)
			b.ReportMetric(rate(float64(b.N), acked), "transfers/s")
			b.ReportMetric(eventsPerSecond, "events/s")
			b.ReportMetric(raw.RatePerSecond, "raw-events/s")
			b.ReportMetric(ratio(eventsPerSecond, raw.RatePerSecond), "ratio-to-raw")
			b.ReportMetric(act.RatePerSecond, "raw-actor-req/s")
			b.ReportMetric(ratio(rate(float64(actorRequestsPerTransfer*b.N), acked), act.RatePerSecond), "ratio-actor")
		})
	}
}

// BenchmarkRestart builds an economy of 100 agents and 20,000 events once,
// then each iteration measures the raw baseline read and a restart (start
// the economy, recover every agent) on freshly opened nodes, and reports
// their ratio.
func BenchmarkRestart(b *testing.B) {
	ctx := benchCtx(b)
	o := RestartOptions{Events: 20_000, SnapshotEvery: 100, Parallel: economy.RecoverParallel,
		Common: Common{Agents: 100, Concurrency: 100, Sync: config.SyncInterval, Logger: benchQuiet}}
	dir := b.TempDir()
	if _, err := buildEconomy(ctx, dir, o); err != nil {
		b.Fatal(err)
	}
	// measure opens a fresh node on dir, as the restart command does for
	// each of its measurements.
	measure := func(fn func(n *economy.Node) error) {
		n, err := openBenchNode(ctx, dir, o.Sync, o.SnapshotEvery, benchQuiet)
		if err != nil {
			b.Fatal(err)
		}
		defer n.Close()
		if err := fn(n); err != nil {
			b.Fatal(err)
		}
	}
	var baseline, restart float64
	b.ResetTimer()
	for range b.N {
		var rep RestartReport
		measure(func(n *economy.Node) (err error) {
			rep.Baseline, err = baselineRead(ctx, n, o.Parallel)
			return err
		})
		measure(func(n *economy.Node) error { return measureRestart(ctx, n, o, &rep) })
		if !rep.Audit.OK {
			b.Fatalf("audit: %s", rep.Audit.Problem)
		}
		baseline += rep.Baseline.Seconds
		restart += rep.RestartSeconds
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(restart/n, "restart-s")
	b.ReportMetric(baseline/n, "baseline-s")
	b.ReportMetric(ratio(restart, baseline), "ratio-to-baseline")
}
