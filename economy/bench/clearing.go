package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// ClearingOptions are the parameters of `agora bench clearing`.
// Its CPU profile is of placement and the cycle.
type ClearingOptions struct {
	Common
	Bids          int
	SnapshotEvery int
	// ReadModels runs the projections beside the actors, as `agora run`
	// does.
	ReadModels bool
}

func (o ClearingOptions) Validate() error {
	errs := o.Common.validate(1)
	if o.Bids < 1 || o.Bids > clearing.BidsMax {
		errs = append(errs, fmt.Errorf("--bids must be in [1, %d] (the book's limit), got %d", clearing.BidsMax, o.Bids))
	}
	if o.SnapshotEvery < 1 {
		errs = append(errs, fmt.Errorf("--snapshot-every must be at least 1, got %d", o.SnapshotEvery))
	}
	return errors.Join(errs...)
}

// ClearingReport is what `agora bench clearing --json` prints.
type ClearingReport struct {
	Sync          string `json:"sync"`
	Bids          int    `json:"bids"`
	Agents        int    `json:"agents"`
	Concurrency   int    `json:"concurrency"`
	SnapshotEvery int    `json:"snapshot_every"`
	ReadModels    bool   `json:"read_models"`
	EventBytes    int    `json:"event_bytes"`

	RawAppend rawFigure `json:"raw_jetstream_append"`
	// RawCPUMicrosPerEvent is the process's CPU time (user and system, the
	// embedded server included) per raw append.
	RawCPUMicrosPerEvent float64 `json:"raw_cpu_micros_per_event"`
	// RawBatch is the raw JetStream atomic batch of the same messages over
	// the same subjects: the ceiling of a log-wide group commit.
	RawBatch                  rawFigure `json:"raw_jetstream_atomic_batch"`
	RawBatchCPUMicrosPerEvent float64   `json:"raw_atomic_batch_cpu_micros_per_event"`

	Place placeFigures `json:"place"`
	Cycle cycleFigures `json:"cycle"`
	// Markets are the market actors after the cycle, as they lease.
	Markets map[string]marketFigures `json:"markets"`

	Audit AuditResult `json:"audit"`
}

// placeFigures measure the placement of every bid.
type placeFigures struct {
	// Seconds run from the first Place to the last answer (each answer
	// comes once the bid is listed, so every event is durable by then).
	Seconds       float64 `json:"seconds"`
	BidsPerSecond float64 `json:"bids_per_second"`
	// Events are the events appended meanwhile: a hold and a listing per
	// bid.
	Events          uint64    `json:"events"`
	EventsPerBid    float64   `json:"events_per_bid"`
	EventsPerSecond float64   `json:"events_per_second"`
	RatioToRaw      float64   `json:"ratio_events_to_raw"`
	Latency         latencies `json:"latency"`
	Open            int       `json:"open_bids"`
	// CPUMicrosPerEvent is the process's CPU time (user and system, the
	// embedded server, the managers and the read models included) per
	// event appended while placing. Unlike rates, it hardly moves when
	// other programs load the machine.
	CPUMicrosPerEvent float64 `json:"cpu_micros_per_event"`
	// RatioToRawBatch is events/s over the raw atomic batch's; the target
	// is at least TargetRatioToRawBatch.
	RatioToRawBatch       float64 `json:"ratio_events_to_raw_atomic_batch"`
	TargetRatioToRawBatch float64 `json:"target_ratio_events_to_raw_atomic_batch"`
}

// cycleFigures measure one allocation cycle over every open bid.
type cycleFigures struct {
	OpenBids int `json:"open_bids"`
	// SortSeconds is the median time to sort a fresh copy of the open bids
	// with clearing.Order, over SortRuns sorts.
	SortSeconds float64 `json:"sort_seconds"`
	SortRuns    int     `json:"sort_runs"`
	// DecideSeconds is clearing.Decide(Clear) alone, inside the book actor:
	// the decision without the append.
	DecideSeconds float64 `json:"decide_seconds"`
	// DurableSeconds runs from sending Clear to the book until its
	// cycle_cleared event is durable (the book's answer).
	DurableSeconds float64 `json:"durable_seconds"`
	// AppliedSeconds runs from sending Clear until every payment and lease
	// it causes is applied.
	AppliedSeconds float64 `json:"applied_seconds"`
	Allocations    int     `json:"allocations"`
	EventBytes     int     `json:"cycle_event_bytes"`
	// RatioToSort is DurableSeconds / SortSeconds; the target is at most
	// TargetRatio. RatioDecideToSort is DecideSeconds / SortSeconds.
	RatioToSort       float64 `json:"ratio_cycle_to_sort"`
	RatioDecideToSort float64 `json:"ratio_decide_to_sort"`
	TargetRatio       float64 `json:"target_ratio"`
}

// marketFigures are one market after the cycle.
type marketFigures struct {
	SupplyUnits events.Units  `json:"supply_units"`
	LeasedUnits events.Units  `json:"leased_units"`
	PriceMicros events.Micros `json:"price_micros"`
}

// Measurement constants of the clearing benchmark.
const (
	clearingSortRuns    = 5
	clearingTargetRatio = 3
	// clearingBundleShare: each resource of a random bundle asks for at
	// most 1/clearingBundleShare of its market's supply, so that a cycle
	// has several winners.
	clearingBundleShare = 10
	// clearingTargetRatioToRawBatch is issue 13's target for the events of
	// placement per second against the raw atomic batch of the same run.
	clearingTargetRatioToRawBatch = 0.5
)

// RunClearing runs the clearing benchmark on a fresh embedded server.
func RunClearing(ctx context.Context, o ClearingOptions) (ClearingReport, error) {
	rep := ClearingReport{Sync: o.Sync, Bids: o.Bids, Agents: o.Agents, Concurrency: o.Concurrency, SnapshotEvery: o.SnapshotEvery,
		ReadModels: o.ReadModels}
	rep.Cycle.SortRuns, rep.Cycle.TargetRatio = clearingSortRuns, clearingTargetRatio
	n, closeNode, err := freshNode(ctx, o.Common, o.SnapshotEvery)
	if err != nil {
		return rep, err
	}
	defer closeNode()
	bundles := newBundleMaker(n.Config())

	payload, err := bidEventBytes(bundles)
	if err != nil {
		return rep, err
	}
	rep.EventBytes = len(payload)
	ids := benchAgentIDs(o.Agents)
	if rep.RawAppend, rep.RawCPUMicrosPerEvent, err = measureRawAppend(ctx, o.Common, n, ids, 2*o.Bids, payload); err != nil {
		return rep, err
	}
	if rep.RawBatch, rep.RawBatchCPUMicrosPerEvent, err = measureRawBatch(ctx, o.Common, n, ids, 2*o.Bids, payload); err != nil {
		return rep, err
	}

	// Without the read models: the economy as it recovers, before they
	// start.
	var scope []economy.Option
	if !o.ReadModels {
		scope = append(scope, economy.WithReadModelsAfterRecovery())
	}
	e, err := startEconomy(n, scope...)
	if err != nil {
		return rep, err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			e.Stop()
		}
	}
	defer stop()
	if err := e.ConfigureMarkets(ctx); err != nil {
		return rep, err
	}
	progressf(o.Progress, "clearing: creating %d agents", o.Agents)
	if _, err := createAgents(ctx, e, ids, benchGrant(o.Agents), o.Concurrency); err != nil {
		return rep, err
	}
	if err := clearingSettle(ctx, e); err != nil {
		return rep, err
	}
	err = profile(o.CPUProfile, func() error {
		progressf(o.Progress, "clearing: placing %d bids, %d callers", o.Bids, o.Concurrency)
		if rep.Place, err = placeBids(ctx, e, ids, bundles, o.Bids, o.Concurrency); err != nil {
			return err
		}
		rep.Place.RatioToRaw = ratio(rep.Place.EventsPerSecond, rep.RawAppend.RatePerSecond)
		rep.Place.RatioToRawBatch = ratio(rep.Place.EventsPerSecond, rep.RawBatch.RatePerSecond)
		rep.Place.TargetRatioToRawBatch = clearingTargetRatioToRawBatch
		progressf(o.Progress, "clearing: one cycle over %d open bids", rep.Place.Open)
		rep.Cycle, err = measureCycle(ctx, e, rep.Cycle)
		return err
	})
	if err != nil {
		return rep, err
	}
	if rep.Markets, err = marketsAfter(ctx, e, n.Config()); err != nil {
		return rep, err
	}
	if err := backgroundFailure(e); err != nil {
		return rep, err
	}
	if err := clearingSettle(ctx, e); err != nil {
		return rep, err
	}
	stop()

	if rep.Audit, err = auditBench(ctx, o.Common, n); err != nil {
		return rep, err
	}
	switch {
	case !rep.Audit.OK:
	case rep.Place.Open != o.Bids:
		rep.Audit.OK = false
		rep.Audit.Problem = fmt.Sprintf("%d bids open after placing %d", rep.Place.Open, o.Bids)
	default:
		for _, name := range slices.Sorted(maps.Keys(rep.Markets)) {
			if m := rep.Markets[name]; m.LeasedUnits > m.SupplyUnits {
				rep.Audit.OK = false
				rep.Audit.Problem = fmt.Sprintf("market %s leases %s of a supply of %s", name, m.LeasedUnits, m.SupplyUnits)
			}
		}
	}
	return rep, nil
}

// clearingSettle waits until the clearing manager has reacted to every
// record in the log. (settle waits on the transfer manager, which sees only
// agent events: it would wait forever when the last record is a market's.
// The clearing manager follows every event.)
func clearingSettle(ctx context.Context, e *economy.Economy) error {
	last, err := e.Log().LastSeq(ctx)
	if err != nil {
		return err
	}
	if err := e.Markets().WaitFloor(ctx, last); err != nil {
		return fmt.Errorf("wait for the clearing manager: %w", err)
	}
	return nil
}

// bundleMaker draws random bundles that the configured markets can hold,
// and their reserve price at the initial prices (no cycle runs while the
// bids are placed, so the posted prices are the initial ones).
type bundleMaker struct {
	names  []string // in a fixed order, so that a seed gives one bundle
	supply map[string]events.Units
	price  map[string]events.Micros
}

func newBundleMaker(cfg config.Config) bundleMaker {
	m := bundleMaker{supply: map[string]events.Units{}, price: map[string]events.Micros{}}
	for _, r := range []string{config.ResourceCPUSeconds, config.ResourceMemoryMB, config.ResourceTokens} {
		if res, ok := cfg.Resources[r]; ok {
			m.names = append(m.names, r)
			m.supply[r], m.price[r] = events.Units(res.Supply), res.InitialPrice.Micros()
		}
	}
	return m
}

// bundle is a random bundle: cpu_seconds and memory_mb always, tokens two
// times in three, each up to a tenth of its supply to the micro-unit; and
// an amount of one to ten times its reserve.
func (m bundleMaker) bundle(rng *rand.Rand) (map[string]events.Units, events.Micros) {
	res := make(map[string]events.Units, len(m.names))
	var reserve events.Micros
	for _, r := range m.names {
		supply := m.supply[r]
		if r == config.ResourceTokens && rng.IntN(3) == 0 {
			continue
		}
		u := 1 + events.Units(rng.Int64N(int64(max(supply/clearingBundleShare, 1))))
		res[r] = u
		c, _ := events.Cost(u, m.price[r])
		reserve += c
	}
	reserve = max(reserve, 1)
	return res, reserve + events.Micros(rng.Int64N(int64(9*reserve)+1))
}

// bidEventBytes is a bid_listed envelope of a typical bundle, as the log
// stores it: the size of the raw messages.
func bidEventBytes(m bundleMaker) ([]byte, error) {
	res, amount := m.bundle(rand.New(rand.NewPCG(1, 2)))
	id := clearing.BidIDPrefix + events.NewID()
	env, err := events.Encode(events.KindClearing, economy.Pool, events.BidListed{BidID: id, AgentID: "a000001",
		Resources: res, AmountMicros: amount, PlacedAt: time.Now(),
		Trigger: events.Trigger{Manager: clearing.ManagerName, Seq: 123456}}, events.Meta{Time: time.Now(), Prev: samplePrev})
	if err != nil {
		return nil, err
	}
	return events.Marshal(env)
}

// placeBids places count bids through the clearing service, bid i for
// agent i mod len(ids), with workers callers, each with an idempotency key
// as the System Service gives.
func placeBids(ctx context.Context, e *economy.Economy, ids []string, m bundleMaker, count, workers int) (placeFigures, error) {
	var f placeFigures
	before, err := e.Log().LastSeq(ctx)
	if err != nil {
		return f, err
	}
	workers = max(min(workers, count), 1)
	lat := make([][]time.Duration, workers)
	rngs := make([]*rand.Rand, workers)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w), 0x5eed))
	}
	cpu := processCPU()
	started := time.Now()
	err = parallel(ctx, count, workers, func(ctx context.Context, w, i int) error {
		res, amount := m.bundle(rngs[w])
		began := time.Now()
		id, status, err := e.Clearing().Place(ctx, ids[i%len(ids)], events.NewID(), events.BidTerms{Resources: res}, amount)
		if err != nil {
			return fmt.Errorf("place bid %d: %w", i, err)
		}
		if status != clearing.StatusOpen {
			return fmt.Errorf("bid %s is %s, not open", id, status)
		}
		lat[w] = append(lat[w], time.Since(began))
		return nil
	})
	elapsed, cpuUsed := time.Since(started), processCPU()-cpu
	if err != nil {
		return f, err
	}
	after, err := e.Log().LastSeq(ctx)
	if err != nil {
		return f, err
	}
	f.Seconds, f.BidsPerSecond = elapsed.Seconds(), rate(float64(count), elapsed)
	f.Events = after - before
	f.EventsPerBid = float64(f.Events) / float64(count)
	f.EventsPerSecond = rate(float64(f.Events), elapsed)
	f.CPUMicrosPerEvent = perEvent(cpuUsed, f.Events)
	f.Latency = summarise(slices.Concat(lat...))
	f.Open, err = clearing.Inspect(ctx, e.Clearing(), func(b clearing.Book) int { return len(b.Bids) })
	return f, err
}

// measureCycle sorts the open bids in memory, times the decision alone in
// the book, then runs the cycle for real: Clear sent to the book, its
// answer (the event durable), then the clearing manager's reactions
// (payments and leases) applied.
func measureCycle(ctx context.Context, e *economy.Economy, f cycleFigures) (cycleFigures, error) {
	bids, err := clearing.Inspect(ctx, e.Clearing(), func(b clearing.Book) []clearing.Bid {
		return slices.Collect(maps.Values(b.Bids))
	})
	if err != nil {
		return f, err
	}
	f.OpenBids = len(bids)
	sorts := make([]time.Duration, f.SortRuns)
	for i := range sorts {
		c := slices.Clone(bids)
		rand.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
		goruntime.GC()
		began := time.Now()
		slices.SortFunc(c, clearing.Order)
		sorts[i] = time.Since(began)
	}
	slices.Sort(sorts)
	f.SortSeconds = sorts[len(sorts)/2].Seconds()

	cycle, err := clearing.Inspect(ctx, e.Clearing(), func(b clearing.Book) uint64 { return b.Cycle })
	if err != nil {
		return f, err
	}
	clear := clearing.Clear{Cycle: cycle + 1, At: time.Now()}
	goruntime.GC()
	decided, err := clearing.Inspect(ctx, e.Clearing(), func(b clearing.Book) time.Duration {
		began := time.Now()
		_, _ = clearing.Decide(b, clear) // pure: the book is left as it was
		return time.Since(began)
	})
	if err != nil {
		return f, err
	}
	f.DecideSeconds = decided.Seconds()

	goruntime.GC()
	began := time.Now()
	res, err := e.Host().Ask(ctx, events.KindClearing, economy.Pool, runtime.Request{Command: clear})
	durable := time.Since(began)
	if err != nil {
		return f, fmt.Errorf("clear: %w", err)
	}
	cc, ok := res.Event.(events.CycleCleared)
	if !ok {
		return f, fmt.Errorf("clear: no cycle written (%T)", res.Event)
	}
	if err := e.Markets().WaitFloor(ctx, res.Seq); err != nil {
		return f, fmt.Errorf("wait for the payments and leases: %w", err)
	}
	applied := time.Since(began)
	f.DurableSeconds, f.AppliedSeconds = durable.Seconds(), applied.Seconds()
	f.Allocations = len(cc.Allocations)
	if env, err := events.Encode(events.KindClearing, economy.Pool, cc, events.Meta{Time: cc.At, Prev: samplePrev}); err == nil {
		if b, err := events.Marshal(env); err == nil {
			f.EventBytes = len(b)
		}
	}
	f.RatioToSort = ratio(f.DurableSeconds, f.SortSeconds)
	f.RatioDecideToSort = ratio(f.DecideSeconds, f.SortSeconds)
	return f, nil
}

// marketsAfter reads the cleared market actors.
func marketsAfter(ctx context.Context, e *economy.Economy, cfg config.Config) (map[string]marketFigures, error) {
	out := map[string]marketFigures{}
	for _, name := range cfg.ResourceNames() {
		if name == config.ResourceAttention {
			continue
		}
		m, err := e.Clearing().Market(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("market %s: %w", name, err)
		}
		out[name] = marketFigures{SupplyUnits: m.SupplyUnits, LeasedUnits: m.LeasedUnits, PriceMicros: m.PriceMicros}
	}
	return out, nil
}

func (r ClearingReport) Print(out io.Writer) error {
	scope := "whole economy"
	if !r.ReadModels {
		scope = "actors and managers without the read models"
	}
	fmt.Fprintf(out, "agora bench clearing: %d bids by %d agents, %d callers, sync %s, snapshot every %d events, events of %d bytes, %s\n\n",
		r.Bids, r.Agents, r.Concurrency, r.Sync, r.SnapshotEvery, r.EventBytes, scope)
	tw := measureTable(out)
	measureRow(tw, fmt.Sprintf("raw JetStream append (async, expected seq, 1 in flight x %d subjects)", r.RawAppend.Parties),
		r.RawAppend.Count, r.RawAppend.Seconds, r.RawAppend.RatePerSecond, r.RawAppend.Latency)
	rawBatchRow(tw, r.RawBatch)
	measureRow(tw, "bids placed (hold + listing, answered once listed)", r.Bids, r.Place.Seconds, r.Place.BidsPerSecond, &r.Place.Latency)
	measureRow(tw, fmt.Sprintf("events appended while placing (%.2f per bid)", r.Place.EventsPerBid),
		r.Place.Events, r.Place.Seconds, r.Place.EventsPerSecond, nil)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio placement events / raw JetStream appends   %.2f\n", r.Place.RatioToRaw)
	fmt.Fprintf(out, "ratio placement events / raw atomic batches      %.2f   (target >= %.1f)\n",
		r.Place.RatioToRawBatch, r.Place.TargetRatioToRawBatch)
	fmt.Fprintf(out, "CPU per event, raw / raw batch / placement       %.1f / %.1f / %.1f µs\n",
		r.RawCPUMicrosPerEvent, r.RawBatchCPUMicrosPerEvent, r.Place.CPUMicrosPerEvent)
	fmt.Fprintf(out, "placement latency p50 / p99 / max                 %.1f / %.1f / %.1f ms\n",
		r.Place.Latency.P50Millis, r.Place.Latency.P99Millis, r.Place.Latency.MaxMillis)

	c := r.Cycle
	fmt.Fprintf(out, "\none cycle over %d open bids: %d allocations, cycle_cleared of %d bytes\n", c.OpenBids, c.Allocations, c.EventBytes)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\t MILLISECONDS")
	fmt.Fprintf(tw, "sort of the bids in memory (slices.SortFunc, clearing.Order; median of %d)\t%13.1f\n", c.SortRuns, 1000*c.SortSeconds)
	fmt.Fprintf(tw, "decision alone (clearing.Decide in the book)\t%13.1f\n", 1000*c.DecideSeconds)
	fmt.Fprintf(tw, "Clear sent -> cycle_cleared durable\t%13.1f\n", 1000*c.DurableSeconds)
	fmt.Fprintf(tw, "Clear sent -> payments and leases applied\t%13.1f\n", 1000*c.AppliedSeconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "within"
	if c.RatioToSort > c.TargetRatio {
		verdict = "ABOVE"
	}
	fmt.Fprintf(out, "\nratio cycle durable / sort    %.2f (%s the target of %.0f)\n", c.RatioToSort, verdict, c.TargetRatio)
	fmt.Fprintf(out, "ratio decision / sort         %.2f\n", c.RatioDecideToSort)
	for _, name := range slices.Sorted(maps.Keys(r.Markets)) {
		m := r.Markets[name]
		fmt.Fprintf(out, "market %-12s leased %s of %s, price %s\n", name, m.LeasedUnits, m.SupplyUnits, m.PriceMicros)
	}
	printAudit(out, r.Audit)
	return nil
}
