package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
	"github.com/agora-econ/agora/projections"
)

// RestartOptions are the parameters of `agora bench restart`.
// Its Concurrency is that of the callers while building, its CPU profile
// that of the restart (start and recover all).
type RestartOptions struct {
	Common
	Events        int
	SnapshotEvery int
	Parallel      int // agents recovered at once
	// Since is how many transfers are made while the economy is down
	// (on a bare actor host, no manager) before each start-up measure:
	// the events the read models and managers have to catch up.
	Since int
}

func (o RestartOptions) Validate() error {
	errs := o.Common.validate(2)
	if o.Events < o.Agents {
		errs = append(errs, fmt.Errorf("--events must be at least --agents (one creation each), got %d", o.Events))
	}
	if o.SnapshotEvery < 1 {
		errs = append(errs, fmt.Errorf("--snapshot-every must be at least 1, got %d", o.SnapshotEvery))
	}
	if o.Parallel < 1 {
		errs = append(errs, fmt.Errorf("--parallel must be at least 1, got %d", o.Parallel))
	}
	if o.Since < 0 {
		errs = append(errs, fmt.Errorf("--since must not be negative, got %d", o.Since))
	}
	return errors.Join(errs...)
}

// buildTransfers is how many transfers the build drives through the
// actors after the creations: each writes two events.
func (o RestartOptions) buildTransfers() int {
	return max(o.Events-o.Agents, 0) / 2
}

// RestartReport is what `agora bench restart --json` prints.
type RestartReport struct {
	Sync          string `json:"sync"`
	BuildSync     string `json:"build_sync"`
	Agents        int    `json:"agents"`
	SnapshotEvery int    `json:"snapshot_every"`
	Parallel      int    `json:"parallel"`
	Events        uint64 `json:"events"`

	Build buildFigures `json:"build"`

	// Each measurement runs on a freshly opened node, in this order; the
	// opening (server start, stream recovery) is not counted.
	MeasurementOrder []string `json:"measurement_order"`
	OpenSeconds      float64  `json:"open_seconds"`
	// Baseline is the target's reference: per agent, the snapshot and the
	// events after it, read raw, as many agents at once as recovery.
	Baseline baselineFigures `json:"baseline"`
	// Sequential reads the same tails in one pass over the log from the
	// oldest snapshot: what a recovery of all agents at once could cost.
	Sequential baselineFigures `json:"baseline_sequential"`
	Replay     rawFigure       `json:"full_replay"`
	// ActorsSeconds recovers every agent on a bare actor host: no process
	// manager, no projection.
	ActorsSeconds  float64 `json:"recover_actors_only_seconds"`
	RestartSeconds float64 `json:"restart_seconds"`
	// StartSeconds is the part of the restart spent opening and starting the
	// economy (economy.Open and Start), before the agents recover.
	StartSeconds    float64 `json:"start_economy_seconds"`
	AgentsRecovered int     `json:"agents_recovered"`
	// HistorySeconds is when the history projection, which replays the
	// whole log at start, had caught up (from the start of the restart).
	HistorySeconds float64 `json:"history_caught_up_seconds"`

	Ratio             float64     `json:"ratio_restart_to_baseline"`
	RatioActors       float64     `json:"ratio_actors_only_to_baseline"`
	RatioToReplay     float64     `json:"ratio_restart_to_full_replay"`
	Target            string      `json:"target"`
	TailPerAgent      float64     `json:"tail_events_per_agent"`
	SnapshotBytesMean float64     `json:"snapshot_bytes_mean"`
	Audit             AuditResult `json:"audit"`

	// Resume is the start-up with the positions saved by the previous
	// run (read models from their snapshots, managers from their
	// cursors); Rebuild the same with the read models rebuilt from the
	// first event, as every start did before they kept a position.
	Resume          StartupFigures `json:"startup_resume"`
	Rebuild         StartupFigures `json:"startup_rebuild"`
	RatioRebuild    float64        `json:"ratio_rebuild_to_resume"`
	RatioResumeRead float64        `json:"ratio_resume_to_full_replay"`

	// AuditFold is the economy audit (the fold and the chain check of
	// `agora audit`) over the whole log; DecodedReplay the whole log read
	// with every record's envelope and event decoded, nothing folded. Each
	// is the faster of two runs, in the order replay, audit, audit, replay
	// after a read that warms the caches (auditAgainstReplay).
	AuditFold           rawFigure `json:"audit_fold"`
	DecodedReplay       rawFigure `json:"decoded_replay"`
	RatioAuditToReplay  float64   `json:"ratio_audit_to_decoded_replay"`
	TargetAuditToReplay float64   `json:"target_ratio_audit_to_decoded_replay"`
}

// restartTargetAuditToReplay is issue 13's target for the audit's events
// per second against the decoded replay of the same log.
const restartTargetAuditToReplay = 0.5

// StartupFigures is one start-up of the economy until its read models and
// managers are current with the log.
type StartupFigures struct {
	// Since are the events appended while the economy was down, after
	// sequence From.
	Since uint64 `json:"events_since"`
	From  uint64 `json:"from_seq"`
	// Last is the log's last sequence once everything is current (the
	// managers' reactions to the events since add some).
	Last    uint64  `json:"last_seq"`
	Seconds float64 `json:"seconds"`
	// Consumers are the followers of the log: the position each resumed
	// from and the records it was delivered; Views the read models: the
	// sequence each resumed from (0: rebuilt) and the records it applied.
	Consumers []follow.Stat          `json:"consumers"`
	Views     []projections.ViewStat `json:"views"`
}

type buildFigures struct {
	Seconds         float64 `json:"seconds"`
	Transfers       int     `json:"transfers"`
	Concurrency     int     `json:"concurrency"`
	EventsPerSecond float64 `json:"events_per_second"`
}

type baselineFigures struct {
	Seconds       float64 `json:"seconds"`
	Agents        int     `json:"agents"`
	Snapshots     int     `json:"snapshots"`
	SnapshotBytes int64   `json:"snapshot_bytes"`
	TailEvents    int64   `json:"tail_events"`
}

// RunRestart builds the economy, then takes each measurement on a freshly
// opened node.
func RunRestart(ctx context.Context, o RestartOptions) (RestartReport, error) {
	rep := RestartReport{Sync: o.Sync, BuildSync: config.SyncInterval, Agents: o.Agents, SnapshotEvery: o.SnapshotEvery,
		Parallel: o.Parallel, Target: "restart <= 2 x baseline (reported, not asserted)"}
	dir, remove, err := benchDir()
	if err != nil {
		return rep, err
	}
	defer remove()
	if rep.Build, err = buildEconomy(ctx, dir, o); err != nil {
		return rep, fmt.Errorf("build: %w", err)
	}
	steps := []struct {
		name    string
		measure func(context.Context, *economy.Node) error
	}{
		{"baseline", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "baseline: raw reads of each agent's snapshot and tail, %d at once", o.Parallel)
			rep.Baseline, err = baselineRead(ctx, n, o.Parallel)
			return err
		}},
		{"baseline_sequential", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "baseline: snapshots, then one pass over the log from the oldest")
			rep.Sequential, err = sequentialRead(ctx, n, o.Parallel)
			return err
		}},
		{"full_replay", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "full replay of the log")
			rep.Replay, err = fullReplay(ctx, n)
			return err
		}},
		{"audit_and_decoded_replay", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "warm-up read, then decoded replay, economy audit twice, decoded replay of the log")
			rep.AuditFold, rep.DecodedReplay, err = auditAgainstReplay(ctx, n)
			if err == nil {
				// Said at once: a later step that fails (on a loaded
				// machine, a timeout) ends the run without a report.
				progressf(o.Progress, "audit %.0f events/s, decoded replay %.0f/s: ratio %.2f", rep.AuditFold.RatePerSecond,
					rep.DecodedReplay.RatePerSecond, ratio(rep.AuditFold.RatePerSecond, rep.DecodedReplay.RatePerSecond))
			}
			return err
		}},
		{"recover_actors_only", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "recovery of every agent on a bare actor host")
			rep.ActorsSeconds, err = recoverActorsOnly(ctx, n, o)
			return err
		}},
		{"restart", func(ctx context.Context, n *economy.Node) error {
			return measureRestart(ctx, n, o, &rep)
		}},
		{"startup_resume", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "start-up from the saved positions, %d transfers since", o.Since)
			rep.Resume, err = measureStartup(ctx, n, o)
			return err
		}},
		{"startup_rebuild", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "start-up with the read models rebuilt from the first event, %d transfers since", o.Since)
			rep.Rebuild, err = measureStartup(ctx, n, o, economy.WithReadModelsRebuilt())
			return err
		}},
	}
	for _, step := range steps {
		opened := time.Now()
		n, err := openBenchNode(ctx, dir, o.Sync, o.SnapshotEvery, o.Logger)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", step.name, err)
		}
		rep.OpenSeconds = max(rep.OpenSeconds, time.Since(opened).Seconds())
		var last uint64
		if last, err = n.Log().LastSeq(ctx); err == nil {
			if rep.Events == 0 {
				rep.Events = last // as built
			}
			err = step.measure(ctx, n)
		}
		n.Close()
		if err != nil {
			return rep, fmt.Errorf("%s: %w", step.name, err)
		}
		rep.MeasurementOrder = append(rep.MeasurementOrder, step.name)
	}
	rep.Ratio = ratio(rep.RestartSeconds, rep.Baseline.Seconds)
	rep.RatioActors = ratio(rep.ActorsSeconds, rep.Baseline.Seconds)
	rep.RatioToReplay = ratio(rep.RestartSeconds, rep.Replay.Seconds)
	rep.TailPerAgent = ratio(float64(rep.Baseline.TailEvents), float64(rep.Baseline.Agents))
	rep.SnapshotBytesMean = ratio(float64(rep.Baseline.SnapshotBytes), float64(rep.Baseline.Snapshots))
	rep.RatioRebuild = ratio(rep.Rebuild.Seconds, rep.Resume.Seconds)
	rep.RatioResumeRead = ratio(rep.Resume.Seconds, rep.Replay.Seconds)
	rep.RatioAuditToReplay = ratio(rep.AuditFold.RatePerSecond, rep.DecodedReplay.RatePerSecond)
	rep.TargetAuditToReplay = restartTargetAuditToReplay
	return rep, nil
}

// buildEconomy fills a log in dir through the actors, as the economy
// would have: the agents created, then random transfers between them until
// the log holds about o.Events events, every one settled. Each actor
// snapshots every o.SnapshotEvery events of its own, so at the end each has
// a snapshot and a tail of fewer events than that after it. It runs with the
// server's interval sync, for speed: the measurements reopen the node with
// o.Sync.
func buildEconomy(ctx context.Context, dir string, o RestartOptions) (buildFigures, error) {
	b := buildFigures{Transfers: o.buildTransfers(), Concurrency: o.Concurrency}
	started := time.Now()
	n, err := openBenchNode(ctx, dir, config.SyncInterval, o.SnapshotEvery, o.Logger)
	if err != nil {
		return b, err
	}
	defer n.Close()
	// The build runs a whole economy, managers and read models, as a real
	// one does, so that each has its position at the end of the log when
	// it restarts (a manager without a cursor would replay the whole log
	// during the measured restart).
	e, err := startEconomy(n)
	if err != nil {
		return b, err
	}
	defer stopEconomy(e, o.Progress)
	ids := benchAgentIDs(o.Agents)
	progressf(o.Progress, "build: creating %d agents", o.Agents)
	if _, err := createAgents(ctx, e, ids, benchGrant(o.Agents), o.Concurrency); err != nil {
		return b, err
	}
	progressf(o.Progress, "build: %d transfers through the actors, %d callers", b.Transfers, o.Concurrency)
	for done := 0; done < b.Transfers; {
		chunk := min(b.Transfers-done, buildChunk)
		if _, err := driveTransfers(ctx, e, ids, chunk, o.Concurrency); err != nil {
			return b, err
		}
		if err := backgroundFailure(e); err != nil {
			return b, err
		}
		done += chunk
		progressf(o.Progress, "build: %d / %d transfers (%.0f events/s)", done, b.Transfers,
			rate(float64(2*done+o.Agents), time.Since(started)))
	}
	last, err := settle(ctx, e)
	if err != nil {
		return b, err
	}
	// The read models current, their snapshot at the stop is of the end.
	if err := waitCurrent(ctx, e); err != nil {
		return b, err
	}
	b.Seconds = time.Since(started).Seconds()
	b.EventsPerSecond = rate(float64(last), time.Since(started))
	return b, nil
}

// buildChunk is how many transfers the build drives between two progress
// lines.
const buildChunk = 50_000

// listAgents reads the agent_created events, as Economy.RecoverAll does.
func listAgents(ctx context.Context, n *economy.Node) ([]string, error) {
	var ids []string
	err := n.Log().Read(ctx, events.SubjectRoot+".agent.*."+events.AgentCreated{}.EventType(), 1, func(r events.Record) error {
		_, id, _, err := events.ParseSubject(r.Envelope.Subject)
		ids = append(ids, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return ids, nil
}

// snapshotSeq reads agent id's snapshot raw and returns its sequence (0:
// none) and size. Only the sequence is parsed.
func snapshotSeq(ctx context.Context, n *economy.Node, id string) (uint64, int, error) {
	b, ok, err := n.Store().Get(ctx, "snapshot."+string(events.KindAgent)+"."+id)
	if err != nil || !ok {
		return 0, 0, err
	}
	var snap struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		return 0, 0, fmt.Errorf("snapshot of %s: %w", id, err)
	}
	return snap.Seq, len(b), nil
}

// baselineRead is Economy.RecoverAll without actors: the same listing, then per
// agent the snapshot's bytes and the records after its sequence (the
// envelope is read, the event is neither decoded nor folded), parallelMax
// agents at once.
func baselineRead(ctx context.Context, n *economy.Node, parallelMax int) (baselineFigures, error) {
	started := time.Now()
	ids, err := listAgents(ctx, n)
	if err != nil {
		return baselineFigures{}, err
	}
	var snapshots, snapshotBytes, tail atomic.Int64
	err = parallel(ctx, len(ids), parallelMax, func(ctx context.Context, _, i int) error {
		seq, size, err := snapshotSeq(ctx, n, ids[i])
		if err != nil {
			return err
		}
		if size > 0 {
			snapshots.Add(1)
			snapshotBytes.Add(int64(size))
		}
		return n.Log().Read(ctx, events.Filter(events.KindAgent, ids[i]), seq+1, func(events.Record) error {
			tail.Add(1)
			return nil
		})
	})
	if err != nil {
		return baselineFigures{}, err
	}
	return baselineFigures{Seconds: time.Since(started).Seconds(), Agents: len(ids), Snapshots: int(snapshots.Load()),
		SnapshotBytes: snapshotBytes.Load(), TailEvents: tail.Load()}, nil
}

// sequentialRead gets the same data as baselineRead with one read of the
// log from the oldest snapshot on, keeping each agent's records after its
// own snapshot.
func sequentialRead(ctx context.Context, n *economy.Node, parallelMax int) (baselineFigures, error) {
	started := time.Now()
	ids, err := listAgents(ctx, n)
	if err != nil {
		return baselineFigures{}, err
	}
	seqs, sizes := make([]uint64, len(ids)), make([]int, len(ids))
	err = parallel(ctx, len(ids), parallelMax, func(ctx context.Context, _, i int) (err error) {
		seqs[i], sizes[i], err = snapshotSeq(ctx, n, ids[i])
		return err
	})
	if err != nil {
		return baselineFigures{}, err
	}
	f := baselineFigures{Agents: len(ids)}
	after := make(map[string]uint64, len(ids))
	oldest := uint64(0)
	for i, id := range ids {
		after[id] = seqs[i]
		if i == 0 || seqs[i] < oldest {
			oldest = seqs[i]
		}
		if sizes[i] > 0 {
			f.Snapshots++
			f.SnapshotBytes += int64(sizes[i])
		}
	}
	err = n.Log().Read(ctx, events.SubjectRoot+".>", oldest+1, func(r events.Record) error {
		kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
		if seq, ok := after[id]; err == nil && kind == events.KindAgent && ok && r.Seq > seq {
			f.TailEvents++
		}
		return nil
	})
	f.Seconds = time.Since(started).Seconds()
	return f, err
}

// fullReplay reads the whole log once.
func fullReplay(ctx context.Context, n *economy.Node) (rawFigure, error) {
	started := time.Now()
	var count int
	err := n.Log().Read(ctx, events.SubjectRoot+".>", 1, func(events.Record) error { count++; return nil })
	elapsed := time.Since(started)
	return rawFigure{Count: count, Parties: 1, Concurrency: 1, Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed)}, err
}

// decodedReplay reads the whole log once, raw, and decodes every record:
// its envelope (events.Unmarshal) and its event (events.Decode), folding
// nothing. It reads with an ordered consumer of the stream, JetStream's
// fastest sequential delivery, not through the log's Read, which the
// audit uses: the figure is what any fold of the log must at least do,
// whatever the log's own read path costs.
func decodedReplay(ctx context.Context, n *economy.Node) (rawFigure, error) {
	started := time.Now()
	var count int
	err := readStream(ctx, n, n.Log().Stream(), jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		env, err := events.Unmarshal(m.Data())
		if err != nil {
			return fmt.Errorf("decode record on %s: %w", m.Subject(), err)
		}
		if _, err := events.Decode(env); err != nil {
			return fmt.Errorf("decode record on %s: %w", m.Subject(), err)
		}
		count++
		return nil
	})
	elapsed := time.Since(started)
	return rawFigure{Count: count, Parties: 1, Concurrency: 1, Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed)}, err
}

// auditAgainstReplay measures the economy audit over the whole log against
// the decoded replay of the same log, symmetrically: after a read of the
// whole log that warms the server's caches for both (not counted), each
// runs twice in the order replay, audit, audit, replay, after a garbage
// collection so that neither pays for the other's garbage, and the faster
// of each pair is kept. Neither side gains from its place in the order, and
// one disturbance by others' load on the machine spoils one run of a pair,
// not the figure.
func auditAgainstReplay(ctx context.Context, n *economy.Node) (audit, replay rawFigure, err error) {
	if _, err := fullReplay(ctx, n); err != nil {
		return audit, replay, err
	}
	replayOnce := func() error {
		goruntime.GC()
		r, err := decodedReplay(ctx, n)
		if err == nil && r.RatePerSecond > replay.RatePerSecond {
			replay = r
		}
		return err
	}
	auditOnce := func() error {
		goruntime.GC()
		a, err := auditLog(ctx, n)
		if err != nil {
			return err
		}
		if !a.OK {
			return fmt.Errorf("audit: %s", a.Problem)
		}
		if r := ratio(float64(a.Events), a.Seconds); r > audit.RatePerSecond {
			audit = rawFigure{Count: int(a.Events), Parties: 1, Concurrency: 1, Seconds: a.Seconds, RatePerSecond: r}
		}
		return nil
	}
	for _, measure := range []func() error{replayOnce, auditOnce, auditOnce, replayOnce} {
		if err := measure(); err != nil {
			return audit, replay, err
		}
	}
	return audit, replay, nil
}

// recoverActorsOnly recovers every agent on an actor host with nothing
// else running: the cost of the actors themselves (snapshot decode, tail
// decode and fold) over the baseline, without the economy's background
// work.
func recoverActorsOnly(ctx context.Context, n *economy.Node, o RestartOptions) (float64, error) {
	host, err := runtime.NewHost(n.Log(), n.Store(), runtime.Options{
		SnapshotEvery:     n.Config().Runtime.SnapshotEvery,
		IdempotencyMemory: n.Config().Runtime.IdempotencyMemory,
	}, n.Logger())
	if err != nil {
		return 0, err
	}
	defer host.Stop()
	accounts := agent.NewAccounts(host)
	started := time.Now()
	ids, err := listAgents(ctx, n)
	if err != nil {
		return 0, err
	}
	err = parallel(ctx, len(ids), o.Parallel, func(ctx context.Context, _, i int) error {
		_, err := accounts.Get(ctx, ids[i])
		return err
	})
	return time.Since(started).Seconds(), err
}

// measureRestart times opening and starting the economy plus RecoverAll,
// as `agora run` starts; then waits for the history projection (which replays the whole
// log in the background) and audits the log.
func measureRestart(ctx context.Context, n *economy.Node, o RestartOptions, rep *RestartReport) error {
	last, err := n.Log().LastSeq(ctx)
	if err != nil {
		return err
	}
	progressf(o.Progress, "restart: start the economy and recover every agent, %d at once", o.Parallel)
	var e *economy.Economy
	started := time.Now()
	err = profile(o.CPUProfile, func() error {
		var err error
		if e, err = startEconomy(n, economy.WithReadModelsAfterRecovery()); err != nil {
			return err
		}
		rep.StartSeconds = time.Since(started).Seconds()
		rep.AgentsRecovered, err = e.RecoverAll(ctx, o.Parallel)
		if err == nil {
			e.StartReadModels() // as agora run: after the actors
		}
		return err
	})
	elapsed := time.Since(started)
	if e != nil {
		defer stopEconomy(e, o.Progress)
	}
	if err != nil {
		return err
	}
	rep.RestartSeconds = elapsed.Seconds()
	if rep.AgentsRecovered != o.Agents {
		return fmt.Errorf("recovered %d agents; the log has %d", rep.AgentsRecovered, o.Agents)
	}
	if err := e.WaitHistory(ctx, last); err != nil {
		return fmt.Errorf("history projection: %w", err)
	}
	rep.HistorySeconds = time.Since(started).Seconds()
	if err := backgroundFailure(e); err != nil {
		return err
	}
	stopEconomy(e, o.Progress)
	progressf(o.Progress, "audit of the log")
	rep.Audit, err = auditLog(ctx, n)
	return err
}

// measureStartup makes o.Since transfers on a bare actor host (no
// manager, no read model runs: they all fall behind), then times a
// start-up as agora run makes it (open and start the economy, recover
// every agent, start the read models) until the read models and the
// managers are current with the log.
func measureStartup(ctx context.Context, n *economy.Node, o RestartOptions, opts ...economy.Option) (StartupFigures, error) {
	var f StartupFigures
	var err error
	if f.From, err = n.Log().LastSeq(ctx); err != nil {
		return f, err
	}
	if err := transfersWhileDown(ctx, n, o.Since); err != nil {
		return f, err
	}
	last, err := n.Log().LastSeq(ctx)
	if err != nil {
		return f, err
	}
	f.Since = last - f.From
	started := time.Now()
	e, err := startEconomy(n, append(opts, economy.WithReadModelsAfterRecovery())...)
	if err != nil {
		return f, err
	}
	defer stopEconomy(e, o.Progress)
	if _, err := e.RecoverAll(ctx, o.Parallel); err != nil {
		return f, err
	}
	e.StartReadModels()
	if err := waitCurrent(ctx, e); err != nil {
		return f, err
	}
	f.Seconds = time.Since(started).Seconds()
	f.Consumers, f.Views = e.FollowerStats(), e.ReadModelStats()
	if f.Last, err = n.Log().LastSeq(ctx); err != nil {
		return f, err
	}
	return f, backgroundFailure(e)
}

// transfersWhileDown makes count transfers between the log's agents on a
// bare actor host: their events are in the log, their settlement waits
// for the transfer manager of the next start.
func transfersWhileDown(ctx context.Context, n *economy.Node, count int) error {
	host, err := runtime.NewHost(n.Log(), n.Store(), runtime.Options{
		SnapshotEvery:     n.Config().Runtime.SnapshotEvery,
		IdempotencyMemory: n.Config().Runtime.IdempotencyMemory,
	}, n.Logger())
	if err != nil {
		return err
	}
	defer host.Stop()
	accounts := agent.NewAccounts(host)
	ids, err := listAgents(ctx, n)
	if err != nil {
		return err
	}
	for i := range count {
		from, to := ids[i%len(ids)], ids[(i+1)%len(ids)]
		key := events.NewID()
		if _, err := accounts.Transfer(ctx, from, key, agent.Transfer{TransferID: key, To: to, AmountMicros: 1, Memo: "since"}); err != nil {
			return fmt.Errorf("transfer %s -> %s: %w", from, to, err)
		}
	}
	return nil
}

// waitCurrent waits until the read models and the managers are current
// with the log: every record applied, every reaction done, and nothing
// appended meanwhile (a reaction appends events of its own).
func waitCurrent(ctx context.Context, e *economy.Economy) error {
	for seen := uint64(0); ; {
		last, err := e.Log().LastSeq(ctx)
		if err != nil || last == seen {
			return err
		}
		if err := e.Sync(ctx); err != nil {
			return fmt.Errorf("read models: %w", err)
		}
		for _, m := range []*runtime.ManagerRunner{e.Transfers(), e.Markets(), e.Spawns()} {
			if err := m.WaitFloor(ctx, last); err != nil {
				return fmt.Errorf("%s: %w", m.Name(), err)
			}
		}
		seen = last
	}
}

func (r RestartReport) Print(out io.Writer) error {
	fmt.Fprintf(out, "agora bench restart: %d agents, %d events, snapshot every %d, %d agents at once, sync %s (built with sync %s)\n\n",
		r.Agents, r.Events, r.SnapshotEvery, r.Parallel, r.Sync, r.BuildSync)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE (each on a freshly opened node, in this order)\t SECONDS")
	fmt.Fprintf(tw, "build: %d transfers through the actors, %d callers (%.0f events/s)\t%8.2f\n",
		r.Build.Transfers, r.Build.Concurrency, r.Build.EventsPerSecond, r.Build.Seconds)
	fmt.Fprintf(tw, "open node (server start, stream recovery; not counted), at most\t%8.2f\n", r.OpenSeconds)
	fmt.Fprintf(tw, "baseline: list, %d snapshots (%.0f bytes each), %d tail events (%.1f per agent), per agent\t%8.2f\n",
		r.Baseline.Snapshots, r.SnapshotBytesMean, r.Baseline.TailEvents, r.TailPerAgent, r.Baseline.Seconds)
	fmt.Fprintf(tw, "baseline, sequential: the same, tails in one pass from the oldest snapshot\t%8.2f\n", r.Sequential.Seconds)
	fmt.Fprintf(tw, "full replay: read %d events (%.0f/s)\t%8.2f\n", r.Replay.Count, r.Replay.RatePerSecond, r.Replay.Seconds)
	fmt.Fprintf(tw, "recover every agent on a bare actor host\t%8.2f\n", r.ActorsSeconds)
	fmt.Fprintf(tw, "restart: start the economy, recover %d agents\t%8.2f\n", r.AgentsRecovered, r.RestartSeconds)
	fmt.Fprintf(tw, "  of which startEconomy\t%8.2f\n", r.StartSeconds)
	fmt.Fprintf(tw, "  history projection caught up (from start)\t%8.2f\n", r.HistorySeconds)
	fmt.Fprintf(tw, "start-up from saved positions, %d events since: read models and managers current\t%8.2f\n",
		r.Resume.Since, r.Resume.Seconds)
	fmt.Fprintf(tw, "start-up, read models rebuilt from the first event, %d events since\t%8.2f\n",
		r.Rebuild.Since, r.Rebuild.Seconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio restart / baseline                 %.2f   (target <= 2)\n", r.Ratio)
	fmt.Fprintf(out, "ratio actors-only recovery / baseline    %.2f\n", r.RatioActors)
	fmt.Fprintf(out, "ratio restart / full replay              %.2f\n", r.RatioToReplay)
	fmt.Fprintf(out, "ratio start-up rebuilt / resumed         %.2f\n", r.RatioRebuild)
	fmt.Fprintf(out, "ratio start-up resumed / full replay     %.2f\n", r.RatioResumeRead)
	fmt.Fprintf(out, "audit: %d events at %.0f/s; decoded replay: %d at %.0f/s\n",
		r.AuditFold.Count, r.AuditFold.RatePerSecond, r.DecodedReplay.Count, r.DecodedReplay.RatePerSecond)
	fmt.Fprintf(out, "ratio audit / decoded replay             %.2f   (target >= %.1f)\n", r.RatioAuditToReplay, r.TargetAuditToReplay)
	fmt.Fprintln(out, "\nstart-up from saved positions, per follower of the log (resumed after, records since):")
	for _, c := range r.Resume.Consumers {
		fmt.Fprintf(out, "  %-28s %10d %10d\n", c.Name, c.From, c.Delivered)
	}
	for _, v := range r.Resume.Views {
		fmt.Fprintf(out, "  read model %-17s %10d %10d\n", v.Name, v.From, v.Applied)
	}
	printAudit(out, r.Audit)
	return nil
}
