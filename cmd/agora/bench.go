package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/cmd/agora/config"
)

// The bench commands measure the economy against the raw limits of what it
// is built on (JetStream appends, protoactor requests) in the same run, on a
// fresh embedded server in a temporary directory, so that every figure is a
// ratio to something measured on the same machine a moment before (SPEC.md
// section 5).
func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the economy against raw JetStream and actor figures",
		Long: `Benchmarks of the economy, each on a fresh embedded NATS server in a temporary
directory (removed at the end) on a free port. Every figure is reported beside
the raw JetStream and actor rates measured in the same run, and as a ratio to
them. A benchmark never fails because the machine is slow; it fails only when
the economy's audit does.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBenchLedgerCommand(), newBenchRestartCommand(), newBenchClearingCommand(), newBenchExecCommand())
	return cmd
}

// benchFlags are the flags every bench command shares.
type benchFlags struct {
	sync       string
	asJSON     bool
	cpuProfile string
}

func (f *benchFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.sync, "sync", config.SyncAlways, `fsync policy of the embedded server: "always" or "interval"`)
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the report as one JSON object")
	cmd.Flags().StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase to this file (go tool pprof)")
}

func newBenchLedgerCommand() *cobra.Command {
	var f benchFlags
	o := ledgerOptions{Agents: 1000, Transfers: 50000}
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Transfers between agents, against the raw JetStream append and actor request rates",
		Long: `Measure, on one embedded server:
  1. the raw JetStream append rate: PublishAsync of messages the size of a
     ledger event, with the headers an actor's append carries (expected last
     subject sequence, message id), one in flight per subject over --agents
     subjects, 2 x --transfers messages, in a separate stream;
  2. the raw protoactor request/response rate (an actor that only answers);
  3. the ledger: --agents agents created, then --transfers random transfers
     between distinct agents through the account actors with --concurrency
     callers, until the transfer manager has settled every one.
Then the economy audit folds the whole log; the command fails if it does not
pass.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("concurrency") {
				o.Concurrency = o.Agents
			}
			o.Sync, o.CPUProfile = f.sync, f.cpuProfile
			if err := o.validate(); err != nil {
				return exitError{2, err}
			}
			o.Logger, o.Progress = benchLogger(cmd), cmd.ErrOrStderr()
			return finishBench(cmd, f.asJSON, func(ctx context.Context) (ledgerReport, error) { return runLedger(ctx, o) })
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&o.Agents, "agents", o.Agents, "number of agents (and of raw subjects and echo actors)")
	cmd.Flags().IntVar(&o.Transfers, "transfers", o.Transfers, "number of transfers")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 0, "concurrent callers (default: --agents)")
	cmd.Flags().BoolVar(&o.Whole, "whole-economy", false, "run the whole economy (markets, read models following the log) rather than the accounts and the transfer manager alone")
	return cmd
}

func newBenchRestartCommand() *cobra.Command {
	var f benchFlags
	o := restartOptions{Agents: 1000, Events: 1_000_000, SnapshotEvery: 100, Parallel: recoverParallel}
	cmd := &cobra.Command{
		Use:   "restart",
		Short: "Recovery of every actor after a restart, against reading the same data raw",
		Long: `Build an economy whose log holds about --events events over --agents agents:
the agents created, then random transfers between them through the actors
(--concurrency callers, with the server's interval sync for speed), each
settled by the transfer manager; every actor snapshots each --snapshot-every
of its own events, so each ends with a snapshot and a short tail after it.
Stop it, then measure on a freshly opened node (with --sync):
  - baseline: list the agents as recovery does, then for each agent read its
    snapshot from the store and its events after the snapshot from the log,
    without decoding them into events or folding them (--parallel at once);
  - full replay: read the whole log once;
  - restart: start the economy and recover every agent (--parallel at once),
    as 'agora run' does.
Reports the restart time, the baseline and their ratio (the target is at most
2; reported, not asserted), then audits the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("concurrency") {
				o.Concurrency = o.Agents
			}
			o.Sync, o.CPUProfile = f.sync, f.cpuProfile
			if err := o.validate(); err != nil {
				return exitError{2, err}
			}
			o.Logger, o.Progress = benchLogger(cmd), cmd.ErrOrStderr()
			return finishBench(cmd, f.asJSON, func(ctx context.Context) (restartReport, error) { return runRestart(ctx, o) })
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&o.Agents, "agents", o.Agents, "number of agents")
	cmd.Flags().IntVar(&o.Events, "events", o.Events, "events in the log before the restart (about)")
	cmd.Flags().IntVar(&o.SnapshotEvery, "snapshot-every", o.SnapshotEvery, "events an actor applies between two snapshots (runtime.snapshot_every)")
	cmd.Flags().IntVar(&o.Parallel, "parallel", o.Parallel, "agents recovered (and read by the baseline) at once, as 'agora run' does")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 0, "concurrent callers while building the log (default: --agents)")
	return cmd
}

// recoverParallel is how many agents `agora run` recovers at once.
const recoverParallel = 16

// benchContext ends on SIGINT or SIGTERM, so that an interrupted benchmark
// still stops its server and removes its directory.
func benchContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
}

// benchLogger reports only errors of the economy under measurement, on
// stderr: a rejected reaction or a failed snapshot is worth seeing, and
// anything chattier would disturb the figures.
func benchLogger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelError}))
}

// printReport writes rep as indented JSON or as the human table.
func printReport(out io.Writer, asJSON bool, rep any, table func(io.Writer) error) error {
	if !asJSON {
		return table(out)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// profile runs fn under the CPU profiler when path is set.
func profile(path string, fn func() error) (err error) {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// progressf reports a phase of a long benchmark; w may be nil.
func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "bench: "+format+"\n", args...)
	}
}

// processCPU is the CPU time this process has used (user and system), the
// embedded server's included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perEvent is d in microseconds per event.
func perEvent(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// auditedReport is the report of a bench that audits the log it built.
type auditedReport interface {
	print(out io.Writer) error
	audited() auditResult
}

// finishBench runs a bench whose options are valid, with a context that
// ends on SIGINT, and prints its report; a failed audit fails the command.
func finishBench[R auditedReport](cmd *cobra.Command, asJSON bool, run func(context.Context) (R, error)) error {
	ctx, stop := benchContext(cmd)
	defer stop()
	rep, err := run(ctx)
	if err != nil {
		return err
	}
	if err := printReport(cmd.OutOrStdout(), asJSON, rep, rep.print); err != nil {
		return err
	}
	if a := rep.audited(); !a.OK {
		return exitError{1, fmt.Errorf("audit failed: %s", a.Problem)}
	}
	return nil
}

func (r ledgerReport) audited() auditResult   { return r.Audit }
func (r restartReport) audited() auditResult  { return r.Audit }
func (r clearingReport) audited() auditResult { return r.Audit }
