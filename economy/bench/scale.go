package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// `agora bench scale` measures what an economy costs that has created many
// more agents than live (issue 13, part B): its memory after a start-up and
// the time of that start-up, against one pass over the data a start-up may
// have to read. Its baseline reads the snapshots in one pass over the state
// bucket and the tails in one pass over the log, not per agent: a baseline
// that reads per agent, as `bench restart`'s does, costs as much as a
// start-up that loads every agent, and so hides that cost.

// ScaleOptions are the parameters of `agora bench scale`. Its
// Concurrency is that of the callers while building; its CPU profile that
// of the start-up.
type ScaleOptions struct {
	Common
	// Alive is how many of the Agents stay alive, each with an open bid;
	// the others are killed, as the operator kills (agora agent kill).
	Alive int
	// MemProfile, when set, is where a heap profile is written once the
	// start-up is measured: what the living and the dead cost, by site.
	MemProfile string
}

func (o ScaleOptions) Validate() error {
	errs := o.Common.validate(1)
	if o.Agents > config.MaxAgentsMax {
		errs = append(errs, fmt.Errorf("--agents must be at most %d, got %d", config.MaxAgentsMax, o.Agents))
	}
	if o.Alive < 0 || o.Alive > o.Agents {
		errs = append(errs, fmt.Errorf("--alive must be within 0 and --agents (%d), got %d", o.Agents, o.Alive))
	}
	return errors.Join(errs...)
}

// Targets of issue 13 with 100000 agents of which 10000 alive.
const (
	scaleTargetHeapPerIdleAgent = 2048
	scaleTargetRatio            = 2
)

// ScaleReport is what `agora bench scale --json` prints.
type ScaleReport struct {
	Sync      string `json:"sync"`
	BuildSync string `json:"build_sync"`
	Agents    int    `json:"agents"`
	Alive     int    `json:"alive"`
	Dead      int    `json:"dead"`
	// Events is the log's last sequence once built.
	Events uint64 `json:"events"`

	Build scaleBuild `json:"build"`

	// SinglePass is the baseline: the agents listed from the log as a
	// start-up lists them, every value of the state bucket read in one
	// pass (snapshots of every actor, positions of the read models and
	// managers), then the log read once from the oldest agent snapshot,
	// counting each agent's events after its snapshot (its tail).
	SinglePass            singlePass `json:"single_pass_read"`
	SinglePassReadSeconds float64    `json:"single_pass_read_seconds"`

	// StartupSeconds is a start-up as `agora run` makes it, on a freshly
	// opened node: the economy opened and started with its read models,
	// the agents with work pending loaded (AgentsRecovered is what
	// Economy.Resume answered: no dead agent, no idle one), until the read
	// models and the managers are current with the log.
	StartupSeconds  float64 `json:"startup_seconds"`
	AgentsRecovered int     `json:"agents_recovered"`
	// OpenBids are the bids the book holds after the start-up: Alive.
	OpenBids int `json:"open_bids"`

	// The Go heap in use (runtime.MemStats.HeapAlloc after a collection)
	// with the node open but no economy, and after the start-up; their
	// difference over the agents, all idle once started, is the heap an
	// idle agent costs. The embedded server runs in the process: its own
	// growth while the start-up reads counts too.
	HeapBytesBefore       uint64  `json:"heap_bytes_before_startup"`
	HeapBytesAfter        uint64  `json:"heap_bytes_after_startup"`
	HeapBytesPerIdleAgent float64 `json:"heap_bytes_per_idle_agent"`
	// RSSBytes is the process's resident memory after the start-up
	// (VmRSS of /proc/self/status; 0 where there is none); RSSBytesBefore
	// the same with the node open but no economy, after the build's memory
	// was given back to the system.
	RSSBytes       uint64 `json:"rss_bytes"`
	RSSBytesBefore uint64 `json:"rss_bytes_before_startup"`
	// Processes is how many protoactor processes (actors and pending
	// requests) the economy's actor system holds after the start-up.
	Processes int `json:"processes_after_startup"`

	RatioStartupToSinglePass float64 `json:"ratio_startup_to_single_pass_read"`
	TargetHeapPerIdleAgent   float64 `json:"target_heap_bytes_per_idle_agent"`
	TargetRatio              float64 `json:"target_ratio_startup_to_single_pass_read"`

	Audit AuditResult `json:"audit"`
}

// Audited is the economy audit of the log the scale benchmark built.
func (r ScaleReport) Audited() AuditResult { return r.Audit }

type scaleBuild struct {
	Seconds     float64 `json:"seconds"`
	Concurrency int     `json:"concurrency"`
	// The phases of the build, each through the economy's actors: the
	// agents created, the dead killed, the bids placed.
	CreateSeconds float64 `json:"create_seconds"`
	KillSeconds   float64 `json:"kill_seconds"`
	BidSeconds    float64 `json:"bid_seconds"`
}

type singlePass struct {
	Agents int `json:"agents"`
	// Values and ValueBytes are everything the state bucket holds;
	// Snapshots those of agents.
	Values     int   `json:"values"`
	ValueBytes int64 `json:"value_bytes"`
	Snapshots  int   `json:"agent_snapshots"`
	// From is the sequence the pass over the log started at; Records how
	// many it read, TailEvents how many of them are agents' events after
	// their snapshot.
	From       uint64 `json:"from_seq"`
	Records    int64  `json:"records"`
	TailEvents int64  `json:"tail_events"`
}

// RunScale builds the economy, then reads it in one pass and restarts it,
// each on a freshly opened node.
func RunScale(ctx context.Context, o ScaleOptions) (ScaleReport, error) {
	rep := ScaleReport{Sync: o.Sync, BuildSync: config.SyncInterval, Agents: o.Agents, Alive: o.Alive, Dead: o.Agents - o.Alive,
		TargetHeapPerIdleAgent: scaleTargetHeapPerIdleAgent, TargetRatio: scaleTargetRatio}
	dir, remove, err := benchDir()
	if err != nil {
		return rep, err
	}
	defer remove()
	if rep.Build, err = buildScale(ctx, dir, o); err != nil {
		return rep, fmt.Errorf("build: %w", err)
	}
	// The build's actors are gone with its economy: give their memory
	// back, so that the figures below are of the start-up alone.
	debug.FreeOSMemory()
	steps := []struct {
		name    string
		measure func(context.Context, *economy.Node) error
	}{
		{"single_pass_read", func(ctx context.Context, n *economy.Node) (err error) {
			progressf(o.Progress, "single pass: the state bucket, then the log from the oldest agent snapshot")
			started := time.Now()
			rep.SinglePass, err = singlePassRead(ctx, n)
			rep.SinglePassReadSeconds = time.Since(started).Seconds()
			return err
		}},
		{"startup", func(ctx context.Context, n *economy.Node) error {
			progressf(o.Progress, "start-up as agora run makes it, %d agents of which %d alive", o.Agents, o.Alive)
			return measureScaleStartup(ctx, n, o, &rep)
		}},
	}
	for _, step := range steps {
		n, err := openBenchNode(ctx, dir, o.Sync, 0, o.Logger)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", step.name, err)
		}
		if rep.Events == 0 {
			rep.Events, err = n.Log().LastSeq(ctx)
		}
		if err == nil {
			err = step.measure(ctx, n)
		}
		n.Close()
		if err != nil {
			return rep, fmt.Errorf("%s: %w", step.name, err)
		}
	}
	rep.RatioStartupToSinglePass = ratio(rep.StartupSeconds, rep.SinglePassReadSeconds)
	switch {
	case !rep.Audit.OK:
	case rep.Audit.Agents != o.Agents:
		rep.Audit.OK, rep.Audit.Problem = false, fmt.Sprintf("the log holds %d agents; %d were created", rep.Audit.Agents, o.Agents)
	case rep.OpenBids != o.Alive:
		rep.Audit.OK, rep.Audit.Problem = false, fmt.Sprintf("%d bids open after the start-up; %d were placed", rep.OpenBids, o.Alive)
	}
	return rep, nil
}

// buildScale fills a log in dir through the actors of a whole economy, as
// it would have filled: o.Agents agents created, all but o.Alive killed
// as the operator kills, then a bid placed for each living one; every
// reaction settled and the read models current before it stops, so that
// each follower starts again from the end. It runs with the server's
// interval sync, for speed: the measurements reopen the node with o.Sync.
func buildScale(ctx context.Context, dir string, o ScaleOptions) (scaleBuild, error) {
	b := scaleBuild{Concurrency: o.Concurrency}
	started := time.Now()
	n, err := openBenchNode(ctx, dir, config.SyncInterval, 0, o.Logger)
	if err != nil {
		return b, err
	}
	defer n.Close()
	e, err := startEconomy(n)
	if err != nil {
		return b, err
	}
	defer stopEconomy(e, o.Progress)
	if err := e.ConfigureMarkets(ctx); err != nil {
		return b, err
	}
	ids := benchAgentIDs(o.Agents)
	progressf(o.Progress, "build: creating %d agents, %d callers", o.Agents, o.Concurrency)
	phase := time.Now()
	if _, err := createAgents(ctx, e, ids, benchGrant(o.Agents), o.Concurrency); err != nil {
		return b, err
	}
	b.CreateSeconds = time.Since(phase).Seconds()
	progressf(o.Progress, "build: %d agents created (%.0f/s); killing %d", o.Agents, rate(float64(o.Agents), time.Since(phase)), o.Agents-o.Alive)
	phase = time.Now()
	dead := ids[o.Alive:]
	err = parallel(ctx, len(dead), o.Concurrency, func(ctx context.Context, _, i int) error {
		if _, err := e.Accounts().Do(ctx, dead[i], "", agent.Die{Reason: "bench: killed by the operator"}); err != nil {
			return fmt.Errorf("kill agent %s: %w", dead[i], err)
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	b.KillSeconds = time.Since(phase).Seconds()
	if o.Alive > 0 {
		progressf(o.Progress, "build: placing a bid for each of the %d living agents", o.Alive)
		phase = time.Now()
		f, err := placeBids(ctx, e, ids[:o.Alive], newBundleMaker(n.Config()), o.Alive, o.Concurrency)
		if err != nil {
			return b, err
		}
		if f.Open != o.Alive {
			return b, fmt.Errorf("%d bids open after placing %d", f.Open, o.Alive)
		}
		b.BidSeconds = time.Since(phase).Seconds()
	}
	if err := backgroundFailure(e); err != nil {
		return b, err
	}
	if err := waitCurrent(ctx, e); err != nil {
		return b, err
	}
	b.Seconds = time.Since(started).Seconds()
	return b, nil
}

// singlePassRead reads what a start-up may have to read, each part in one
// pass: the agents listed from their creations (as Economy.RecoverAll lists
// them), every value of the state bucket, then the log from the oldest
// agent snapshot on (from the first event when an agent has none), keeping
// each agent's records after its own snapshot. Neither the snapshots nor
// the events are decoded beyond the snapshot's sequence and the record's
// envelope.
func singlePassRead(ctx context.Context, n *economy.Node) (singlePass, error) {
	var f singlePass
	ids, err := listAgents(ctx, n)
	if err != nil {
		return f, err
	}
	f.Agents = len(ids)
	after := make(map[string]uint64, len(ids))
	for _, id := range ids {
		after[id] = 0
	}
	prefix := "snapshot." + string(events.KindAgent) + "."
	err = readBucket(ctx, n, func(key string, value []byte) error {
		f.Values++
		f.ValueBytes += int64(len(value))
		if id, ok := strings.CutPrefix(key, prefix); ok {
			var snap struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal(value, &snap); err != nil {
				return fmt.Errorf("snapshot of %s: %w", id, err)
			}
			if _, listed := after[id]; listed {
				after[id] = snap.Seq
				f.Snapshots++
			}
		}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("state bucket: %w", err)
	}
	oldest := uint64(0)
	first := true
	for _, seq := range after {
		if first || seq < oldest {
			oldest, first = seq, false
		}
	}
	f.From = oldest + 1
	err = n.Log().Read(ctx, events.SubjectRoot+".>", f.From, func(r events.Record) error {
		f.Records++
		kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
		if seq, ok := after[id]; err == nil && kind == events.KindAgent && ok && r.Seq > seq {
			f.TailEvents++
		}
		return nil
	})
	return f, err
}

// measureScaleStartup measures a start-up as `agora run` makes it (open and
// start the economy, its read models among it, and load the agents with
// work pending) until the read models and the managers are
// current, and the memory it leaves; then stops the economy and audits the
// log.
func measureScaleStartup(ctx context.Context, n *economy.Node, o ScaleOptions, rep *ScaleReport) error {
	rep.HeapBytesBefore = heapInUse()
	rep.RSSBytesBefore = processRSS()
	var e *economy.Economy
	started := time.Now()
	err := profile(o.CPUProfile, func() (err error) {
		if e, err = startEconomy(n); err != nil {
			return err
		}
		// As agora run: the read models start with the actors, and only
		// the agents with work pending are loaded (economy.Resume).
		if rep.AgentsRecovered, err = e.Resume(ctx); err != nil {
			return err
		}
		return waitCurrent(ctx, e)
	})
	rep.StartupSeconds = time.Since(started).Seconds()
	if e != nil {
		defer stopEconomy(e, o.Progress)
	}
	if err != nil {
		return err
	}
	rep.HeapBytesAfter = heapInUse()
	rep.RSSBytes = processRSS()
	if err := writeHeapProfile(o.MemProfile); err != nil {
		return err
	}
	rep.HeapBytesPerIdleAgent = ratio(float64(rep.HeapBytesAfter)-float64(rep.HeapBytesBefore), float64(o.Agents))
	for _, m := range e.Host().ActorSystem().ProcessRegistry.LocalPIDs.LocalPIDs {
		rep.Processes += m.Count()
	}
	if rep.OpenBids, err = clearing.Inspect(ctx, e.Clearing(), func(b clearing.Book) int { return len(b.Bids) }); err != nil {
		return err
	}
	if err := backgroundFailure(e); err != nil {
		return err
	}
	stopEconomy(e, o.Progress)
	progressf(o.Progress, "audit of the log")
	rep.Audit, err = auditLog(ctx, n)
	return err
}

// heapInUse is the Go heap in use after a full collection.
func heapInUse() uint64 {
	goruntime.GC()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}

// processRSS is the process's resident set size (VmRSS in
// /proc/self/status), 0 where it cannot be read.
func processRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmRSS:")); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func (r ScaleReport) Print(out io.Writer) error {
	fmt.Fprintf(out, "agora bench scale: %d agents, %d alive with an open bid, %d killed, %d events, sync %s (built with sync %s)\n\n",
		r.Agents, r.Alive, r.Dead, r.Events, r.Sync, r.BuildSync)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE (each on a freshly opened node, in this order)\t SECONDS")
	fmt.Fprintf(tw, "build: create %d, kill %d, place %d bids, %d callers (%.1f / %.1f / %.1f s)\t%8.2f\n",
		r.Agents, r.Dead, r.Alive, r.Build.Concurrency, r.Build.CreateSeconds, r.Build.KillSeconds, r.Build.BidSeconds, r.Build.Seconds)
	p := r.SinglePass
	fmt.Fprintf(tw, "single pass: %d agents listed, %d bucket values (%d bytes, %d agent snapshots), %d records from %d (%d tail events)\t%8.2f\n",
		p.Agents, p.Values, p.ValueBytes, p.Snapshots, p.Records, p.From, p.TailEvents, r.SinglePassReadSeconds)
	fmt.Fprintf(tw, "start-up as agora run: %d agents recovered, read models and managers current\t%8.2f\n",
		r.AgentsRecovered, r.StartupSeconds)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nratio start-up / single pass read   %.2f   (target <= %.0f)\n", r.RatioStartupToSinglePass, r.TargetRatio)
	fmt.Fprintf(out, "heap per idle agent                 %.0f bytes   (target <= %.0f; %d before, %d after the start-up)\n",
		r.HeapBytesPerIdleAgent, r.TargetHeapPerIdleAgent, r.HeapBytesBefore, r.HeapBytesAfter)
	fmt.Fprintf(out, "resident memory after start-up      %d bytes   (%d before)\n", r.RSSBytes, r.RSSBytesBefore)
	fmt.Fprintf(out, "actor processes after start-up      %d; open bids %d\n", r.Processes, r.OpenBids)
	printAudit(out, r.Audit)
	return nil
}

// readBucket calls fn with the key and value of every value the state
// bucket holds, in one pass over the last message of each key (a
// key-value watch would do the same through a push consumer, whose flow
// control Agora's user may not answer). Deleted keys are skipped.
func readBucket(ctx context.Context, n *economy.Node, fn func(key string, value []byte) error) error {
	keyPrefix := "$KV." + natslog.DefaultBucket + "."
	return readStream(ctx, n, "KV_"+natslog.DefaultBucket, jetstream.DeliverLastPerSubjectPolicy, func(m jetstream.Msg) error {
		if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil
		}
		return fn(strings.TrimPrefix(m.Subject(), keyPrefix), m.Data())
	})
}

// readStream calls fn with every message of stream that deliver selects,
// in order, through an ordered pull consumer, until none is pending. The
// stream must not grow meanwhile.
func readStream(ctx context.Context, n *economy.Node, stream string, deliver jetstream.DeliverPolicy, fn func(jetstream.Msg) error) error {
	js, err := jetstream.New(n.Conn())
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	if s.CachedInfo().State.Msgs == 0 {
		return nil
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{DeliverPolicy: deliver})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if err := fn(m); err != nil {
			return err
		}
		if meta.NumPending == 0 {
			return nil
		}
	}
}

// writeHeapProfile writes the heap profile to path (nothing when empty),
// after a collection, so that it shows what stays.
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	goruntime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile: %w", err)
	}
	return f.Close()
}
