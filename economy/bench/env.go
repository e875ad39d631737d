package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	ecofold "github.com/agora-econ/agora/projections/economy"
)

// benchDir is a fresh temporary data directory; remove deletes it.
func benchDir() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "agora-bench-")
	if err != nil {
		return "", nil, fmt.Errorf("bench: temporary directory: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// benchConfig is the built-in configuration over an embedded server in dir
// with the given fsync policy.
func benchConfig(dir, sync string, snapshotEvery int) (config.Config, error) {
	cfg := config.Default()
	embedded := ""
	if err := cfg.ApplyOverrides(config.Overrides{DataDir: &dir, NatsURL: &embedded, Sync: &sync}); err != nil {
		return cfg, err
	}
	if snapshotEvery > 0 {
		cfg.Runtime.SnapshotEvery = snapshotEvery
	}
	// A benchmark's agents and the children it spawns are never refused
	// for the population limit: it measures the work, not the limit.
	cfg.Economy.MaxAgents = config.MaxAgentsMax
	return cfg, cfg.Validate()
}

// openBenchNode starts the embedded server on dir, on a free port, where
// Agora's user may also publish the raw appends.
func openBenchNode(ctx context.Context, dir, sync string, snapshotEvery int, logger *slog.Logger) (*economy.Node, error) {
	cfg, err := benchConfig(dir, sync, snapshotEvery)
	if err != nil {
		return nil, err
	}
	return economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true, Publish: []string{rawSubjectRoot + ".>"}}, logger)
}

// startEconomy opens the economy on n with opts and starts it.
func startEconomy(n *economy.Node, opts ...economy.Option) (*economy.Economy, error) {
	e, err := economy.Open(n, opts...)
	if err != nil {
		return nil, err
	}
	e.Start()
	return e, nil
}

// benchAgentIDs names n agents a000000, a000001, ...
func benchAgentIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("a%06d", i)
	}
	return ids
}

// transferAmountMax bounds the amount of one benchmark transfer, in micros.
const transferAmountMax = 1000

// benchGrant is what each of n agents is given: together no more than one
// balance may hold (so no transfer ever bounces for a full balance), and
// far more than any number of benchmark transfers can spend.
func benchGrant(n int) events.Micros {
	return min(events.AmountMax/events.Micros(max(n, 1)), 1_000_000_000*events.MicrosPerCredit)
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first
// error; after an error no new index is started.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, worker, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range max(min(workers, n), 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, w, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// createAgents creates every agent with grant through its actor and
// returns the stream sequence of each creation.
func createAgents(ctx context.Context, e *economy.Economy, ids []string, grant events.Micros, workers int) ([]uint64, error) {
	seqs := make([]uint64, len(ids))
	err := parallel(ctx, len(ids), workers, func(ctx context.Context, _, i int) error {
		res, err := e.Accounts().Do(ctx, ids[i], "", agent.Create{GrantMicros: grant, Reason: "bench"})
		if err != nil {
			return fmt.Errorf("create agent %s: %w", ids[i], err)
		}
		seqs[i] = res.Seq
		return nil
	})
	return seqs, err
}

// latencies summarises how long single operations took.
type latencies struct {
	P50Millis float64 `json:"p50_ms"`
	P99Millis float64 `json:"p99_ms"`
	MaxMillis float64 `json:"max_ms"`
}

func summarise(ds []time.Duration) latencies {
	if len(ds) == 0 {
		return latencies{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(int(q*float64(len(ds))), len(ds)-1)]) / float64(time.Millisecond)
	}
	return latencies{P50Millis: at(0.50), P99Millis: at(0.99), MaxMillis: at(1)}
}

// driveTransfers sends count random transfers between distinct agents
// through Accounts.Transfer, with workers callers at once, each with an
// idempotency key as the System Service gives. It returns the latency of
// each acknowledged transfer.
func driveTransfers(ctx context.Context, e *economy.Economy, ids []string, count, workers int) (latencies, error) {
	if len(ids) < 2 {
		return latencies{}, errors.New("bench: transfers need at least two agents")
	}
	return drivePairs(ctx, ids, count, workers, func(ctx context.Context, from, to string) error {
		id := events.NewID()
		t := agent.Transfer{TransferID: id, To: to, AmountMicros: 1 + rand.N[events.Micros](transferAmountMax), Memo: "bench"}
		if _, err := e.Accounts().Transfer(ctx, from, id, t); err != nil {
			return fmt.Errorf("transfer %s -> %s: %w", from, to, err)
		}
		return nil
	})
}

// driven is what driving calls through an economy measured: the calls'
// latencies, the time from the first call to the last acknowledgement
// (acked) and to the moment the transfer manager had settled everything
// they caused (settled), the events appended meanwhile, and the process's
// CPU time.
type driven struct {
	latency        latencies
	acked, settled time.Duration
	events         uint64
	cpu            time.Duration
}

// driveSettled measures drive, which makes the calls, from a settled
// economy until it is settled again.
func driveSettled(ctx context.Context, e *economy.Economy, drive func(context.Context) (latencies, error)) (driven, error) {
	var d driven
	before, err := settle(ctx, e)
	if err != nil {
		return d, err
	}
	cpu := processCPU()
	started := time.Now()
	if d.latency, err = drive(ctx); err != nil {
		return d, err
	}
	d.acked = time.Since(started)
	after, err := settle(ctx, e)
	if err != nil {
		return d, err
	}
	d.settled = time.Since(started)
	d.events, d.cpu = after-before, processCPU()-cpu
	return d, nil
}

// drivePairs makes count calls, each from a random agent of ids to another
// one, with workers callers at once, and returns the latency of the calls.
// ids holds two agents at least.
func drivePairs(ctx context.Context, ids []string, count, workers int, call func(ctx context.Context, from, to string) error) (latencies, error) {
	workers = max(min(workers, count), 1)
	lat := make([][]time.Duration, workers)
	err := parallel(ctx, count, workers, func(ctx context.Context, w, _ int) error {
		from := rand.IntN(len(ids))
		to := rand.IntN(len(ids) - 1)
		if to >= from {
			to++
		}
		began := time.Now()
		if err := call(ctx, ids[from], ids[to]); err != nil {
			return err
		}
		lat[w] = append(lat[w], time.Since(began))
		return nil
	})
	return summarise(slices.Concat(lat...)), err
}

// settle waits until the transfer manager has reacted to every record in
// the log and returns the log's last sequence then.
func settle(ctx context.Context, e *economy.Economy) (uint64, error) {
	last, err := e.Log().LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	if err := e.Transfers().WaitFloor(ctx, last); err != nil {
		return 0, fmt.Errorf("wait for the transfer manager: %w", err)
	}
	return e.Log().LastSeq(ctx)
}

// economyStopMax bounds the wait for the economy to stop. A stop normally
// takes milliseconds; on an error path a process manager may not notice
// the end (see the report of the bench), and the benchmark must still
// remove its directory and exit.
const economyStopMax = 30 * time.Second

// stopEconomy stops e, waiting at most economyStopMax.
func stopEconomy(e *economy.Economy, progress io.Writer) {
	done := make(chan struct{})
	go func() {
		e.Stop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(economyStopMax):
		progressf(progress, "warning: the economy did not stop within %s; going on", economyStopMax)
	}
}

// backgroundFailure returns the first error of the economy's background
// work, if there is one yet.
func backgroundFailure(e *economy.Economy) error {
	select {
	case err := <-e.Failed():
		return err
	default:
		return nil
	}
}

// AuditResult is the economy audit of a benchmark's log.
type AuditResult struct {
	OK             bool          `json:"ok"`
	Problem        string        `json:"problem,omitempty"`
	Events         uint64        `json:"events"`
	Agents         int           `json:"agents"`
	MintedMicros   events.Micros `json:"minted_micros"`
	InFlightMicros events.Micros `json:"in_flight_micros"`
	OpenTransfers  int           `json:"open_transfers"`
	OpenMessages   int           `json:"open_messages,omitempty"`
	Seconds        float64       `json:"seconds"`
}

// auditLog folds the whole log through the economy audit (the same fold
// `agora audit` runs, the records read ahead of it as there). Everything must also be settled: the benchmarks wait
// for the transfer manager before they audit.
func auditLog(ctx context.Context, n *economy.Node) (AuditResult, error) {
	started := time.Now()
	eco := ecofold.New()
	var violation *ecofold.Violation
	var links chain.Verifier
	var broken *chain.Break
	read := func(ctx context.Context, fn func(events.Record) error) error {
		return events.ScanLog(ctx, n.Log(), events.SubjectRoot+".>", 1, fn)
	}
	err := ecofold.ReadAhead(ctx, read, func(a *ecofold.Read) error {
		if err := links.CheckDigest(a.Record, a.Digest); err != nil {
			return err
		}
		return eco.ApplyRead(a.Record, a.Event, a.Err)
	})
	if err != nil && !errors.As(err, &violation) && !errors.As(err, &broken) {
		return AuditResult{}, fmt.Errorf("audit: %w", err)
	}
	s := eco.Summary()
	r := AuditResult{OK: true, Events: s.Events, Agents: s.Agents, MintedMicros: s.MintedMicros,
		InFlightMicros: s.InFlightMicros, OpenTransfers: s.OpenTransfers, OpenMessages: s.OpenMessages, Seconds: time.Since(started).Seconds()}
	switch {
	case broken != nil:
		r.OK, r.Problem = false, broken.Error()
	case links.Unlinked != 0:
		r.OK, r.Problem = false, fmt.Sprintf("%d events name no previous event", links.Unlinked)
	case violation != nil:
		r.OK, r.Problem = false, violation.Error()
	case s.OpenTransfers != 0 || s.InFlightMicros != 0:
		r.OK, r.Problem = false, fmt.Sprintf("%d transfers (%s) still in flight after settling", s.OpenTransfers, s.InFlightMicros)
	case s.OpenMessages != 0:
		r.OK, r.Problem = false, fmt.Sprintf("%d messages still in flight after settling", s.OpenMessages)
	}
	return r, nil
}

// rate is count per second, 0 when no time passed.
func rate(count float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return count / d.Seconds()
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// freshNode opens the embedded server of c's benchmark in a fresh
// temporary directory; closeNode stops the server, then removes the
// directory.
func freshNode(ctx context.Context, c Common, snapshotEvery int) (n *economy.Node, closeNode func(), err error) {
	dir, remove, err := benchDir()
	if err != nil {
		return nil, nil, err
	}
	if n, err = openBenchNode(ctx, dir, c.Sync, snapshotEvery, c.Logger); err != nil {
		remove()
		return nil, nil, err
	}
	return n, func() { n.Close(); remove() }, nil
}

// measureRawAppend is the raw JetStream append an economy benchmark is
// compared with: count appends of payload over one subject per id, and
// the process's CPU time per append in microseconds.
func measureRawAppend(ctx context.Context, c Common, n *economy.Node, ids []string, count int, payload []byte) (rawFigure, float64, error) {
	progressf(c.Progress, "raw JetStream append: %d messages of %d bytes over %d subjects (sync %s)", count, len(payload), len(ids), c.Sync)
	cpu := processCPU()
	f, err := rawAppend(ctx, n.Conn(), ids, count, payload)
	if err != nil {
		return f, 0, err
	}
	return f, perEvent(processCPU()-cpu, uint64(f.Count)), nil
}

// ledgerScope is the economy the ledger and social benchmarks start: the
// accounts and the transfer manager alone, or the whole economy.
func ledgerScope(whole bool) []economy.Option {
	if whole {
		return nil
	}
	return []economy.Option{economy.WithLedgerOnly()}
}

// ledgerScopeName names ledgerScope(whole) in a report's title.
func ledgerScopeName(whole bool) string {
	if whole {
		return "whole economy"
	}
	return "accounts and transfer manager"
}

// startWithAgents starts the economy on n with opts and creates c.Agents
// agents, ids, for the benchmark name; the caller stops it (stopEconomy).
func startWithAgents(ctx context.Context, c Common, name string, n *economy.Node, ids []string, opts ...economy.Option) (*economy.Economy, error) {
	e, err := startEconomy(n, opts...)
	if err != nil {
		return nil, err
	}
	progressf(c.Progress, "%s: creating %d agents", name, c.Agents)
	if _, err := createAgents(ctx, e, ids, benchGrant(c.Agents), c.Concurrency); err != nil {
		stopEconomy(e, c.Progress)
		return nil, err
	}
	return e, nil
}

// stopAndAudit ends the measures of c's benchmark: it fails if the economy
// failed in the background, else stops it and audits the log.
func stopAndAudit(ctx context.Context, c Common, e *economy.Economy, n *economy.Node) (AuditResult, error) {
	if err := backgroundFailure(e); err != nil {
		return AuditResult{}, err
	}
	stopEconomy(e, c.Progress)
	return auditBench(ctx, c, n)
}

// auditBench audits the log of c's benchmark, once its economy stopped.
func auditBench(ctx context.Context, c Common, n *economy.Node) (AuditResult, error) {
	progressf(c.Progress, "audit of the log")
	return auditLog(ctx, n)
}

// measureTable starts the table of a report's measures, one measureRow
// each; the caller flushes it.
func measureTable(out io.Writer) *tabwriter.Writer {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\t     COUNT\t SECONDS\tPER SECOND\t  P50 MS\t  P99 MS")
	return tw
}

// measureRow is one measure of a measureTable: what was counted, how
// many, over how many seconds, its rate, and the latency of each operation
// counted (nil when the count is not of operations one waits for, as the
// events appended until all settled).
func measureRow[N int | uint64](tw io.Writer, label string, count N, seconds, perSecond float64, lat *latencies) {
	if lat == nil {
		fmt.Fprintf(tw, "%s\t%10d\t%8.2f\t%10.0f\t%8s\t%8s\n", label, count, seconds, perSecond, "-", "-")
		return
	}
	fmt.Fprintf(tw, "%s\t%10d\t%8.2f\t%10.0f\t%8.3f\t%8.3f\n", label, count, seconds, perSecond, lat.P50Millis, lat.P99Millis)
}
