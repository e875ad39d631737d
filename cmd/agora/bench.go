package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/bench"
	"github.com/agora-econ/agora/economy/config"
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
	cmd.AddCommand(newBenchLedgerCommand(), newBenchRestartCommand(), newBenchClearingCommand(), newBenchExecCommand(), newBenchSocialCommand(),
		newBenchScaleCommand())
	cmd.AddCommand(newBenchDashboardCommand())
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
	o := bench.LedgerOptions{Common: bench.Common{Agents: 1000}, Transfers: 50000}
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Transfers between agents, against the raw JetStream append and actor request rates",
		Long: `Measure, on one embedded server:
  1. the raw JetStream append rate: PublishAsync of messages the size of a
     ledger event, with the headers an actor's append carries (expected last
     subject sequence, message id), one in flight per subject over --agents
     subjects, 2 x --transfers messages, in a separate stream;
  2. the raw JetStream atomic batch rate: the same messages over the same
     subjects in atomic batches of 100 (the first message of each subject in
     a batch expecting its last sequence), --raw-batches-in-flight batches
     sent at once: the ceiling of a log that commits many actors together;
  3. the raw protoactor request/response rate (an actor that only answers);
  4. the ledger: --agents agents created, then --transfers random transfers
     between distinct agents through the account actors with --concurrency
     callers, until the transfer manager has settled every one.
Every rate of operations one waits for comes with the p50 and p99 latency of
one operation (for the raw batches, of one batch). The ledger's events per
second are reported as ratios to both raw JetStream rates (the target against
the atomic batches is at least 0.6 at sync always). Then the economy audit
folds the whole log; the command fails if it does not pass.`,
	}
	economyBench(cmd, &o, &o.Common, bench.RunLedger,
		"number of agents (and of raw subjects and echo actors)",
		"concurrent callers")
	cmd.Flags().IntVar(&o.Transfers, "transfers", o.Transfers, "number of transfers")
	cmd.Flags().BoolVar(&o.Whole, "whole-economy", false, "run the whole economy (markets, read models following the log) rather than the accounts and the transfer manager alone")
	rawBatchFlag(cmd, &o.Common)
	return cmd
}

func newBenchRestartCommand() *cobra.Command {
	o := bench.RestartOptions{Common: bench.Common{Agents: 1000}, Events: 1_000_000, SnapshotEvery: 100, Parallel: economy.RecoverParallel, Since: 1000}
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
  - audit against a decoded replay: after a read of the whole log that warms
    the caches, the decoded replay (the whole log read with every record's
    event decoded and nothing folded), the economy audit ('agora audit': the
    fold and the chain check) twice, the decoded replay again; the faster of
    each pair is kept; their events per second and ratio (target at least
    0.5; reported, not asserted);
  - restart: start the economy and recover every agent (--parallel at once),
    as 'agora run' does;
  - start-up: make --since transfers with the economy down, then start it as
    'agora run' does until its read models and process managers are current,
    resuming from their saved positions; then the same again with the read
    models rebuilt from the first event.
Reports the restart time, the baseline and their ratio (the target is at most
2; reported, not asserted), both start-ups against the full replay, then
audits the log.`,
	}
	economyBench(cmd, &o, &o.Common, bench.RunRestart,
		"number of agents",
		"concurrent callers while building the log")
	cmd.Flags().IntVar(&o.Events, "events", o.Events, "events in the log before the restart (about)")
	cmd.Flags().IntVar(&o.SnapshotEvery, "snapshot-every", o.SnapshotEvery, "events an actor applies between two snapshots (runtime.snapshot_every)")
	cmd.Flags().IntVar(&o.Parallel, "parallel", o.Parallel, "agents recovered (and read by the baseline) at once, as 'agora run' does")
	cmd.Flags().IntVar(&o.Since, "since", o.Since, "transfers made with the economy down before each start-up measure")
	return cmd
}

// newBenchClearingCommand is `agora bench clearing`.
func newBenchClearingCommand() *cobra.Command {
	o := bench.ClearingOptions{Common: bench.Common{Agents: 1000}, Bids: 100_000, SnapshotEvery: config.Default().Runtime.SnapshotEvery, ReadModels: true}
	cmd := &cobra.Command{
		Use:   "clearing",
		Short: "Bid placement and one allocation cycle over many open bids, against raw JetStream and an in-memory sort",
		Long: `Measure, on one embedded server, with the markets of the built-in
configuration (cpu_seconds, memory_mb, tokens and their supplies and prices):
  1. the raw JetStream append rate, as 'agora bench ledger' measures it:
     messages the size of a bid_listed event, 2 x --bids of them, one in
     flight per subject over --agents subjects, in a separate stream; and
     the same messages in atomic batches of 100, --raw-batches-in-flight
     at once, as 'agora bench ledger' measures them;
  2. placement: --agents agents created with large grants, then --bids bids
     of random bundles (cpu_seconds and memory_mb, tokens two times in three)
     at one to ten times their reserve price, through the clearing service
     (hold, then listing) with --concurrency callers. Reports bids and events
     per second, events per second against both raw rates (the target
     against the atomic batches is at least 0.5), the p50 and p99 latency of
     a placement, and the process's CPU time per event (raw and placement;
     the embedded server included);
  3. one allocation cycle over all the open bids: the time from sending Clear
     to the book until its cycle_cleared event is durable, and until every
     payment and lease it causes is applied; beside it, the time to sort the
     same bids in memory with clearing.Order (the median of 5 sorts of a
     fresh copy) and the time the book's decision alone takes. The target is
     a cycle within 3 x the sort; it is reported, not enforced.
Every actor snapshots its state every --snapshot-every events, as 'agora run'
does; the book's snapshot holds every open bid. The read models (projections)
follow the log beside the actors, as in 'agora run', unless --read-models=false:
then the figures are those of the actors and their managers alone, as 'agora
bench ledger' measures by default. Then the economy audit folds the whole log;
the command fails if it does not pass, or if a market leases more than its
supply.`,
	}
	economyBench(cmd, &o, &o.Common, bench.RunClearing,
		"number of bidding agents (and of raw subjects)",
		"concurrent callers placing bids")
	cmd.Flags().IntVar(&o.Bids, "bids", o.Bids, "number of bids placed, then cleared in one cycle")
	cmd.Flags().BoolVar(&o.ReadModels, "read-models", o.ReadModels,
		"run the read models (projections) beside the actors, as 'agora run' does; false measures the actors and managers alone")
	cmd.Flags().IntVar(&o.SnapshotEvery, "snapshot-every", o.SnapshotEvery,
		"events an actor applies between two snapshots (runtime.snapshot_every); the book's snapshot holds every open bid")
	rawBatchFlag(cmd, &o.Common)
	return cmd
}

// newBenchExecCommand is `agora bench exec`.
func newBenchExecCommand() *cobra.Command {
	var f benchFlags
	o := bench.ExecOptions{Runs: 100}
	cmd := &cobra.Command{
		Use:   "exec",
		Short: "Trivial programs run in the execution sandbox, against the same programs run directly",
		Long: `Run each trivial program --runs times directly (os/exec, in the same directory
with the same environment, its output collected through a pipe) and --runs
times through the sandbox of executions as an execution runs there (bwrap when
it works here, the service socket bound in, its limits, the measurement and
the output log), alternating the two so that both see the same machine. The
programs are /bin/true, the cost of the sandbox alone, and python3 -c pass,
about the least an agent's execution costs (when /usr/bin/python3 exists).

Reports the time of each execution (p50, p99, max, mean), executions per
second, and the ratio of the mean sandboxed time to the mean direct time; the
target for python3 is at most 1.5 (reported, not enforced).

With --workers N, each program also runs --runs times through the work queue
of execution workers (an embedded NATS server, N in-process workers with one
program each, each execution's workspace fetched from and written back to the
object store) against --runs times run by the node itself, N at a time, in
the same run: executions per second both ways and their ratio. On one machine
(2 cores here) that is the cost of the queue, not how workers on other
machines scale. --sync does not apply.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("sync") {
				return exitError{2, errors.New("--sync does not apply to bench exec")}
			}
			o.CPUProfile = f.cpuProfile
			if err := o.Validate(); err != nil {
				return exitError{2, err}
			}
			o.Progress = cmd.ErrOrStderr()
			ctx, stop := benchContext(cmd)
			defer stop()
			rep, err := bench.RunExec(ctx, o)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), f.asJSON, rep, rep.Print)
		},
	}
	f.register(cmd)
	_ = cmd.Flags().MarkHidden("sync")
	cmd.Flags().IntVar(&o.Runs, "runs", o.Runs, "executions of each program, directly and in the sandbox")
	cmd.Flags().IntVar(&o.Workers, "workers", 0, "also run them through the work queue to this many in-process workers")
	return cmd
}

// economyBench gives cmd, a bench that builds an economy, the flags every
// bench shares, --agents and --concurrency (the callers, --agents unless
// set) into c, the parameters o has in common with every such bench; and
// a RunE that takes no arguments, validates o and runs it, printing its
// report and failing when its audit fails.
func economyBench[O interface{ Validate() error }, R auditedReport](cmd *cobra.Command, o *O, c *bench.Common,
	run func(context.Context, O) (R, error), agentsUsage, concurrencyUsage string,
) {
	var f benchFlags
	f.register(cmd)
	cmd.Flags().IntVar(&c.Agents, "agents", c.Agents, agentsUsage)
	cmd.Flags().IntVar(&c.Concurrency, "concurrency", 0, concurrencyUsage+" (default: --agents)")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if !cmd.Flags().Changed("concurrency") {
			c.Concurrency = c.Agents
		}
		c.Sync, c.CPUProfile = f.sync, f.cpuProfile
		if err := (*o).Validate(); err != nil {
			return exitError{2, err}
		}
		c.Logger, c.Progress = benchLogger(cmd), cmd.ErrOrStderr()
		return finishBench(cmd, f.asJSON, func(ctx context.Context) (R, error) { return run(ctx, *o) })
	}
}

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

// auditedReport is the report of a bench that audits the log it built.
type auditedReport interface {
	Print(out io.Writer) error
	Audited() bench.AuditResult
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
	if err := printReport(cmd.OutOrStdout(), asJSON, rep, rep.Print); err != nil {
		return err
	}
	if a := rep.Audited(); !a.OK {
		return exitError{1, fmt.Errorf("audit failed: %s", a.Problem)}
	}
	return nil
}

// newBenchSocialCommand is `agora bench social`.
func newBenchSocialCommand() *cobra.Command {
	o := bench.SocialOptions{Common: bench.Common{Agents: 1000}, Messages: 50000, ContentBytes: 256, Spawns: 1000}
	cmd := &cobra.Command{
		Use:   "social",
		Short: "Messages between agents and spawns, against the raw JetStream append rate",
		Long: `Measure, on one embedded server:
  1. the raw JetStream append rate: PublishAsync of messages the size of a
     message_sent event with --content-bytes of content, with the headers an
     actor's append carries (expected last subject sequence, message id), one
     in flight per subject over --agents subjects, 2 x --messages messages, in
     a separate stream;
  2. messages: --agents agents created, then --messages messages between
     random distinct agents through the accounts' front door (the recipient
     checked, the sender charged economy.message_cost) with --concurrency
     callers, until the transfer manager has delivered every one;
  3. spawns: --spawns children of random agents, each with a one-file
     program, initial credits and a first bid, through the economy's spawner
     (as POST /social/spawn: the checks, the workspace, the parent charged)
     with --concurrency callers, each call until its child exists and its
     first bid is listed. Spawns need the whole economy: without
     --whole-economy it is opened whole on the same node after the messages.
Reports messages sent per second, message events (sent and delivered) per
second until all are delivered, spawns per second and spawn events
(child_spawned, agent_created, hold_placed, bid_listed) per second, and their
ratios to the raw appends per second. Then the economy audit folds the whole
log; the command fails if it does not pass.`,
	}
	economyBench(cmd, &o, &o.Common, bench.RunSocial,
		"number of agents (and of raw subjects)",
		"concurrent callers")
	cmd.Flags().BoolVar(&o.Whole, "whole-economy", false, "run the whole economy (markets, read models following the log, the inbox among them) rather than the accounts and the transfer manager alone")
	cmd.Flags().IntVar(&o.Messages, "messages", o.Messages, "number of messages")
	cmd.Flags().IntVar(&o.ContentBytes, "content-bytes", o.ContentBytes, "bytes of content of each message")
	cmd.Flags().IntVar(&o.Spawns, "spawns", o.Spawns, "number of children spawned (0: no spawns)")
	return cmd
}

// rawBatchFlag gives cmd, a bench that measures raw atomic batches, the
// flag of how many it sends at once.
func rawBatchFlag(cmd *cobra.Command, c *bench.Common) {
	c.RawBatchInFlight = bench.RawBatchInFlightDefault
	cmd.Flags().IntVar(&c.RawBatchInFlight, "raw-batches-in-flight", c.RawBatchInFlight,
		"raw atomic batches sent at once, each by a sender of its own share of the subjects")
}

// newBenchScaleCommand is `agora bench scale`.
func newBenchScaleCommand() *cobra.Command {
	o := bench.ScaleOptions{Common: bench.Common{Agents: 100_000, Concurrency: 1000}, Alive: 10_000}
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "Memory and start-up of an economy of many agents, few of them alive, against one pass over its data",
		Long: `Build an economy (the whole economy, with the server's interval sync for speed)
of --agents agents created through their actors, all but --alive of them then
killed as the operator kills, and a bid placed for each living one (so that it
has work pending: an open bid), with --concurrency callers; every reaction
settled, the read models current, then stopped. Then measure, each on a freshly
opened node (with --sync):
  - single pass: the agents listed from their creations, every value of the
    state bucket (snapshots, positions) read in one pass, then the log read
    once from the oldest agent snapshot, counting each agent's tail;
  - start-up: the economy opened and started with its read models, the
    agents with work pending loaded (and no other), as 'agora run' does, until
    the read models and managers are current with the log.
Reports startup_seconds, single_pass_read_seconds and their ratio (target at
most 2 with 100000 agents of which 10000 alive); heap_bytes_per_idle_agent, the
Go heap in use (after a collection) after the start-up less before it, over
--agents (target at most 2048; --memprofile FILE writes the heap profile then,
for 'go tool pprof'); rss_bytes,
the process's resident memory after the start-up (the embedded server runs in
the process). Targets are reported, not enforced. Then the economy audit folds
the whole log; the command fails if it does not pass.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Sync, o.CPUProfile = f.sync, f.cpuProfile
			if err := o.Validate(); err != nil {
				return exitError{2, err}
			}
			o.Logger, o.Progress = benchLogger(cmd), cmd.ErrOrStderr()
			return finishBench(cmd, f.asJSON, func(ctx context.Context) (bench.ScaleReport, error) { return bench.RunScale(ctx, o) })
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&o.Agents, "agents", o.Agents, "agents created")
	cmd.Flags().IntVar(&o.Alive, "alive", o.Alive, "agents left alive, each with an open bid; the others are killed")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", o.Concurrency, "concurrent callers while building")
	cmd.Flags().StringVar(&o.MemProfile, "memprofile", "", "write a heap profile after the start-up to this file (go tool pprof)")
	return cmd
}

// newBenchDashboardCommand is `agora bench dashboard`.
func newBenchDashboardCommand() *cobra.Command {
	o := bench.DashboardOptions{Common: bench.Common{Agents: 1000}, Events: 100_000, Requests: 200, Loads: 20}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "The web dashboard's overview over a big log, against a static page of the same size",
		Long: `Build an economy whose log holds about --events events over --agents agents
(the agents created, then random transfers between them through the actors,
--concurrency callers, every one settled), serve it as 'agora run' does (no
genesis; the HTTP APIs and the dashboard on a free loopback port), log in to
the dashboard with the operator token, then measure in the same run:
  1. the server: --requests GETs of the overview (/) one at a time, from
     sending the request to reading the whole page, and as many of a static
     page of the same byte size served by a net/http server in the same
     process, in turn (p50, p99, max, and the ratios of the overview's to the
     static page's);
  2. the browser (headless chromium, 1366x768, when installed): --loads
     loads of the overview and of the static page in turn in one logged-in
     tab, its scripts and styles cached after a first load; the first
     contentful paint and the load event as the page's own performance
     timeline measures them, and their ratios.
The targets (issue 14) are an overview under 200 ms and a first paint under
1 s, at p99; they are reported, not enforced. Then the economy audit folds
the whole log; the command fails if it does not pass.`,
	}
	economyBench(cmd, &o, &o.Common, bench.RunDashboard,
		"number of agents",
		"concurrent callers while building the log")
	cmd.Flags().IntVar(&o.Events, "events", o.Events, "events in the log before the measures (about)")
	cmd.Flags().IntVar(&o.Requests, "requests", o.Requests, "GETs of the overview, and of the static page")
	cmd.Flags().IntVar(&o.Loads, "loads", o.Loads, "loads of the overview, and of the static page, in the browser (0: the server alone)")
	return cmd
}
