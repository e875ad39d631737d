package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// LedgerOptions are the parameters of `agora bench ledger`.
// Its CPU profile is of the transfer phase; it needs two agents, the
// parties of a transfer.
type LedgerOptions struct {
	Common
	Transfers int
	// Whole runs the whole economy (markets, read models) rather than the
	// ledger alone (accounts and the transfer manager).
	Whole bool
}

func (o LedgerOptions) Validate() error {
	errs := o.Common.validate(2)
	if o.Transfers < 1 {
		errs = append(errs, fmt.Errorf("--transfers must be at least 1, got %d", o.Transfers))
	}
	return errors.Join(errs...)
}

// LedgerReport is what `agora bench ledger --json` prints.
type LedgerReport struct {
	Sync        string `json:"sync"`
	Whole       bool   `json:"whole_economy"`
	Agents      int    `json:"agents"`
	Transfers   int    `json:"transfers"`
	Concurrency int    `json:"concurrency"`
	EventBytes  int    `json:"event_bytes"`

	RawAppend rawFigure `json:"raw_jetstream_append"`
	RawActor  rawFigure `json:"raw_actor_request"`
	// RawBatch is the raw JetStream atomic batch of the same messages over
	// the same subjects: the ceiling of a log-wide group commit.
	RawBatch rawFigure `json:"raw_jetstream_atomic_batch"`

	// AckSeconds runs from the first transfer to the last acknowledgement,
	// SettleSeconds to the moment the transfer manager has settled all.
	AckSeconds         float64   `json:"ack_seconds"`
	SettleSeconds      float64   `json:"settle_seconds"`
	TransfersPerSecond float64   `json:"transfers_per_second"`
	LedgerEvents       uint64    `json:"ledger_events"`
	EventsPerSecond    float64   `json:"ledger_events_per_second"`
	TransferLatency    latencies `json:"transfer_latency"`
	// RatioToRaw is ledger events/s over raw JetStream events/s.
	RatioToRaw float64 `json:"ratio_ledger_to_raw"`
	// RatioToRawBatch is ledger events/s over raw atomic batch events/s;
	// the target is at least TargetRatioToRawBatch.
	RatioToRawBatch       float64 `json:"ratio_ledger_to_raw_atomic_batch"`
	TargetRatioToRawBatch float64 `json:"target_ratio_ledger_to_raw_atomic_batch"`
	// ActorRequestsPerTransfer counts the actor round trips of one
	// transfer (read recipient, debit sender, credit recipient) to relate
	// the ledger to the raw actor rate.
	ActorRequestsPerTransfer int     `json:"actor_requests_per_transfer"`
	RatioActorToRaw          float64 `json:"ratio_actor_requests_to_raw"`
	// The process's CPU time (user and system, the embedded server
	// included) per event appended: by the raw appends and by the ledger.
	// Unlike rates, it hardly moves when other programs load the machine.
	RawCPUMicrosPerEvent      float64 `json:"raw_cpu_micros_per_event"`
	RawBatchCPUMicrosPerEvent float64 `json:"raw_atomic_batch_cpu_micros_per_event"`
	LedgerCPUMicrosPerEvent   float64 `json:"ledger_cpu_micros_per_event"`

	Audit AuditResult `json:"audit"`
}

// actorRequestsPerTransfer: Accounts.Transfer asks the recipient's state,
// then the sender debits; the transfer manager then asks the recipient to
// credit.
const actorRequestsPerTransfer = 3

// ledgerTargetRatioToRawBatch is issue 13's target for the ledger's events
// per second against the raw atomic batch of the same run, at sync always.
const ledgerTargetRatioToRawBatch = 0.6

// RunLedger runs the ledger benchmark on a fresh embedded server.
func RunLedger(ctx context.Context, o LedgerOptions) (LedgerReport, error) {
	rep := LedgerReport{Sync: o.Sync, Whole: o.Whole, Agents: o.Agents, Transfers: o.Transfers, Concurrency: o.Concurrency,
		ActorRequestsPerTransfer: actorRequestsPerTransfer, TargetRatioToRawBatch: ledgerTargetRatioToRawBatch}
	n, closeNode, err := freshNode(ctx, o.Common, 0)
	if err != nil {
		return rep, err
	}
	defer closeNode()

	payload, err := ledgerEventBytes()
	if err != nil {
		return rep, err
	}
	rep.EventBytes = len(payload)
	ids := benchAgentIDs(o.Agents)
	if rep.RawAppend, rep.RawCPUMicrosPerEvent, err = measureRawAppend(ctx, o.Common, n, ids, 2*o.Transfers, payload); err != nil {
		return rep, err
	}
	if rep.RawBatch, rep.RawBatchCPUMicrosPerEvent, err = measureRawBatch(ctx, o.Common, n, ids, 2*o.Transfers, payload); err != nil {
		return rep, err
	}
	progressf(o.Progress, "raw actor request/response: %d requests to %d actors", actorRequestsPerTransfer*o.Transfers, o.Agents)
	if rep.RawActor, err = rawActor(ctx, o.Agents, o.Concurrency, actorRequestsPerTransfer*o.Transfers); err != nil {
		return rep, err
	}

	e, err := startWithAgents(ctx, o.Common, "ledger", n, ids, ledgerScope(o.Whole)...)
	if err != nil {
		return rep, err
	}
	defer stopEconomy(e, o.Progress)
	progressf(o.Progress, "ledger: %d transfers, %d callers", o.Transfers, o.Concurrency)
	var d driven
	err = profile(o.CPUProfile, func() (err error) {
		d, err = driveSettled(ctx, e, func(ctx context.Context) (latencies, error) {
			return driveTransfers(ctx, e, ids, o.Transfers, o.Concurrency)
		})
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.TransferLatency = d.latency
	rep.AckSeconds, rep.SettleSeconds = d.acked.Seconds(), d.settled.Seconds()
	rep.TransfersPerSecond = rate(float64(o.Transfers), d.acked)
	rep.LedgerEvents = d.events
	rep.EventsPerSecond = rate(float64(rep.LedgerEvents), d.settled)
	rep.RatioToRaw = ratio(rep.EventsPerSecond, rep.RawAppend.RatePerSecond)
	rep.RatioToRawBatch = ratio(rep.EventsPerSecond, rep.RawBatch.RatePerSecond)
	rep.RatioActorToRaw = ratio(rep.TransfersPerSecond*actorRequestsPerTransfer, rep.RawActor.RatePerSecond)
	rep.LedgerCPUMicrosPerEvent = perEvent(d.cpu, rep.LedgerEvents)

	if rep.Audit, err = stopAndAudit(ctx, o.Common, e, n); err != nil {
		return rep, err
	}
	if want := uint64(2 * o.Transfers); rep.Audit.OK && rep.LedgerEvents != want {
		rep.Audit.OK = false
		rep.Audit.Problem = fmt.Sprintf("%d ledger events for %d transfers; want %d", rep.LedgerEvents, o.Transfers, want)
	}
	return rep, nil
}

func (r LedgerReport) Print(out io.Writer) error {
	fmt.Fprintf(out, "agora bench ledger: %d agents, %d transfers, %d callers, sync %s, events of %d bytes, %s\n\n",
		r.Agents, r.Transfers, r.Concurrency, r.Sync, r.EventBytes, ledgerScopeName(r.Whole))
	tw := measureTable(out)
	measureRow(tw, fmt.Sprintf("raw JetStream append (async, expected seq, 1 in flight x %d subjects)", r.RawAppend.Parties),
		r.RawAppend.Count, r.RawAppend.Seconds, r.RawAppend.RatePerSecond, r.RawAppend.Latency)
	rawBatchRow(tw, r.RawBatch)
	measureRow(tw, fmt.Sprintf("raw actor request/response (%d actors, %d callers)", r.RawActor.Parties, r.RawActor.Concurrency),
		r.RawActor.Count, r.RawActor.Seconds, r.RawActor.RatePerSecond, r.RawActor.Latency)
	measureRow(tw, "ledger transfers acknowledged", r.Transfers, r.AckSeconds, r.TransfersPerSecond, &r.TransferLatency)
	measureRow(tw, "ledger events, until all settled", r.LedgerEvents, r.SettleSeconds, r.EventsPerSecond, nil)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio ledger events / raw JetStream appends   %.2f\n", r.RatioToRaw)
	fmt.Fprintf(out, "ratio ledger events / raw atomic batches      %.2f   (target >= %.1f at sync always)\n",
		r.RatioToRawBatch, r.TargetRatioToRawBatch)
	fmt.Fprintf(out, "ratio actor requests (%d per transfer) / raw   %.2f\n", r.ActorRequestsPerTransfer, r.RatioActorToRaw)
	fmt.Fprintf(out, "CPU per event, raw / raw batch / ledger        %.1f / %.1f / %.1f µs\n",
		r.RawCPUMicrosPerEvent, r.RawBatchCPUMicrosPerEvent, r.LedgerCPUMicrosPerEvent)
	fmt.Fprintf(out, "transfer latency p50 / p99 / max               %.1f / %.1f / %.1f ms\n",
		r.TransferLatency.P50Millis, r.TransferLatency.P99Millis, r.TransferLatency.MaxMillis)
	printAudit(out, r.Audit)
	return nil
}

// rawBatchRow is the raw atomic batch's row of a measureTable; its latency
// is that of a whole batch.
func rawBatchRow(tw io.Writer, f rawFigure) {
	measureRow(tw, fmt.Sprintf("raw JetStream atomic batches (%d messages, %d in flight, over %d subjects)", f.BatchMessages, f.Concurrency, f.Parties),
		f.Count, f.Seconds, f.RatePerSecond, f.Latency)
}

func printAudit(out io.Writer, a AuditResult) {
	if a.OK {
		fmt.Fprintf(out, "audit                                          OK: %d events, %d agents, nothing in flight (%.2fs)\n",
			a.Events, a.Agents, a.Seconds)
		return
	}
	fmt.Fprintf(out, "audit                                          FAILED: %s\n", a.Problem)
}
