// Package economy is the economy as one running system over a NATS node:
// the actors, the process managers that carry work between them, the read
// models, and, for `agora run`, the executions and the HTTP APIs. It is the
// one composition root of the project: `agora run`, the benchmarks
// (economy/bench) and the tests wire the economy through it and nowhere
// else. A configuration is chosen by named options (WithLedgerOnly,
// WithReadModelsAfterRecovery), not by flags to a constructor.
package economy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/records"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
)

// Pool is the clearing pool of the economy: one book for every resource.
const Pool = "main"

// GenesisID is the id of the agent the economy starts with.
const GenesisID = "genesis"

// RecoverParallel is how many agents `agora run` recovers at once.
const RecoverParallel = 16

// Economy is the running system over a node: the actors, the process
// managers that carry work between them, and the read models. Open wires
// it, Start starts its background work, Stop ends it; the node stays the
// caller's to close.
type Economy struct {
	node     *Node
	opts     options
	host     *runtime.Host
	accounts *agent.Accounts
	// transfers settles transfers between accounts.
	transfers *runtime.ManagerRunner
	// markets carries the clearing's work (listings, payments, leases).
	markets *runtime.ManagerRunner
	// spawns creates spawned children and places their first bids.
	spawns   *runtime.ManagerRunner
	clearing *clearing.Service
	// records keeps the operator's acknowledgements of skipped records.
	records *records.Service
	history *history.View
	histRun *projections.Runner
	// live is the whole economy folded as events arrive, every invariant
	// checked: it judges each record for the other read models (a read
	// model alone cannot tell an overspend from a payment), lists the
	// skipped records and gives the operator's status summary.
	live    *liveEconomy
	liveRun *projections.Runner
	// bids is the public bid book; marketView the markets' figures, which
	// mirror keeps in the key-value bucket market_state.
	bids       *bidbook.View
	bidsRun    *projections.Runner
	marketView *markets.View
	marketRun  *projections.Runner
	mirror     *markets.Mirror
	// directory is every agent's record, for the APIs and the end-of-cycle
	// rule.
	directory *directory.View
	dirRun    *projections.Runner
	// inbox is every agent's messages, for GET /social/inbox.
	inbox    *inbox.View
	inboxRun *projections.Runner
	// readModels are the read models above, saved and restored at one
	// sequence; follower is the one follow of the log that feeds them,
	// the managers and the executor.
	readModels *projections.Group
	follower   *follow.Follower

	// executions are the workspaces, sandbox and execution tokens, once
	// Serve has opened them; the sandbox closes after the executor stops.
	executions *executions

	ctx    context.Context // ends when the economy stops
	cancel context.CancelFunc
	// started is set by Start: only then do the managers follow the log,
	// and a stop waits for them (drain). stopSchedule ends the clearing
	// schedule alone, once Serve has started it.
	started      bool
	stopSchedule context.CancelFunc
	// readModelsStarted is set by StartReadModels (see Resume).
	readModelsStarted bool
	// executor runs the executions, once Serve has started it; a clean
	// stop halts it before it waits for the managers.
	executor *executor.Executor
	wg       sync.WaitGroup
	stopOnce sync.Once
	errs     chan error

	// attention is the human's attention slot (attention.go).
	attention attentionParts
	// series is the history read model (series.go).
	series seriesParts
}

// options are the configuration Open wires.
type options struct {
	ledgerOnly        bool
	deferReadModels   bool
	rebuildReadModels bool
}

// Option chooses what Open wires.
type Option func(*options)

// WithLedgerOnly wires the accounts and the transfer manager alone: what
// `agora bench ledger` measures by default, without the markets and the
// read models that also follow the log in a whole economy.
func WithLedgerOnly() Option { return func(o *options) { o.ledgerOnly = true } }

// WithReadModelsAfterRecovery leaves the read models out of Start: the
// caller starts them with StartReadModels once the actors have recovered,
// as `agora run` does.
func WithReadModelsAfterRecovery() Option { return func(o *options) { o.deferReadModels = true } }

// WithReadModelsRebuilt makes the read models ignore their snapshots and
// fold the log from the first event, saving none: what every start did
// before they kept a position, which `agora bench restart` measures.
func WithReadModelsRebuilt() Option { return func(o *options) { o.rebuildReadModels = true } }

// Open wires the economy over n: the actors, the managers and, unless
// WithLedgerOnly, the clearing and the read models. It starts nothing; see
// Start. It does not create genesis; see EnsureGenesis.
func Open(n *Node, opts ...Option) (*Economy, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	host, err := runtime.NewHost(n.appendLog(), n.store, runtime.Options{
		SnapshotEvery:     n.cfg.Runtime.SnapshotEvery,
		IdempotencyMemory: n.cfg.Runtime.IdempotencyMemory,
		AtomicBatchMin:    atomicBatchMin(n.cfg),
		IdleTimeout:       n.cfg.Runtime.IdleTimeout(),
	}, n.logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Economy{node: n, opts: o, host: host, accounts: agent.NewAccounts(host), errs: make(chan error, 4),
		ctx: ctx, cancel: cancel}
	if err := e.wire(); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Economy) wire() (err error) {
	n := e.node
	if e.transfers, err = runtime.NewManagerRunner(agent.TransferManager(), e.host, n.appendLog(), n.store, n.logger); err != nil {
		return err
	}
	if e.follower, err = follow.New(n.log, follow.Options{Logger: n.logger, OnError: e.consumerFailed}); err != nil {
		return err
	}
	e.follower.Add(e.transfers)
	if e.opts.ledgerOnly {
		return nil
	}
	if e.markets, err = runtime.NewManagerRunner(clearing.Manager(Pool), e.host, n.appendLog(), n.store, n.logger); err != nil {
		return err
	}
	e.follower.Add(e.markets)
	if e.spawns, err = runtime.NewManagerRunner(agent.SpawnManager(), e.host, n.appendLog(), n.store, n.logger); err != nil {
		return err
	}
	e.follower.Add(e.spawns)
	if e.clearing, err = clearing.NewService(e.host, e.accounts, e.markets, Pool); err != nil {
		return err
	}
	if e.records, err = records.NewService(e.host); err != nil {
		return err
	}
	e.live = &liveEconomy{logger: n.logger}
	e.live.Reset()
	if e.liveRun, err = projections.NewRunner(n.log, e.live); err != nil {
		return err
	}
	if e.history, err = history.New(); err != nil {
		return err
	}
	if e.histRun, err = projections.NewRunner(n.log, e.history); err != nil {
		return err
	}
	e.bids = bidbook.New()
	if e.bidsRun, err = projections.NewRunner(n.log, e.bids); err != nil {
		return err
	}
	if e.marketView, err = markets.New(n.cfg.Allocation.TransactionHistoryLength); err != nil {
		return err
	}
	if e.marketRun, err = projections.NewRunner(n.log, e.marketView); err != nil {
		return err
	}
	if e.mirror, err = openMarketMirror(n, e.marketView); err != nil {
		return err
	}
	e.directory = directory.New()
	if e.dirRun, err = projections.NewRunner(n.log, e.directory); err != nil {
		return err
	}
	e.inbox = inbox.New()
	if e.inboxRun, err = projections.NewRunner(n.log, e.inbox); err != nil {
		return err
	}
	e.inboxRun.AdmitWith(e.live.verdict)
	// The read models skip the records the economy fold skips: a read
	// model alone cannot tell an overspend from a payment; the fold, which
	// runs first on each record (StartReadModels), folds every actor with
	// its own Admit.
	for _, r := range []*projections.Runner{e.histRun, e.bidsRun, e.marketRun, e.dirRun} {
		r.AdmitWith(e.live.verdict)
	}
	if err := e.wireAttention(); err != nil {
		return err
	}
	if err := e.wireSeries(); err != nil {
		return err
	}
	var store events.Store = n.store
	if e.opts.rebuildReadModels {
		store = nil
	}
	e.readModels, err = e.newReadModels(store)
	return err
}

// newReadModels groups the read models, their snapshots kept in store
// (nil: none, rebuilt from the first event at every start).
func (e *Economy) newReadModels(store events.Store) (*projections.Group, error) {
	g, err := projections.NewGroup(projections.GroupOptions{Name: "economy", Store: store, Logger: e.node.logger})
	if err != nil {
		return nil, err
	}
	// The economy fold first: the others ask it about each record.
	for _, v := range []struct {
		name string
		r    *projections.Runner
	}{{"economy", e.liveRun}, {"history", e.histRun}, {"bidbook", e.bidsRun}, {"markets", e.marketRun}, {"directory", e.dirRun},
		{"inbox", e.inboxRun}, {"attention", e.attention.run}, {"series", e.series.run}} {
		if err := g.Add(v.name, v.r); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Start starts the process managers and, unless the economy was opened
// WithReadModelsAfterRecovery, the read models.
func (e *Economy) Start() {
	e.started = true
	// One follow of the log feeds the managers, then the read models and
	// the executor as they are added (follow.Follower).
	e.background(e.ctx, "follower", e.follower.Run)
	if !e.opts.ledgerOnly && !e.opts.deferReadModels {
		e.StartReadModels()
	}
}

// StartReadModels starts the projections: restored from their snapshot
// (those that are projections.Durable), they catch up from it; the others
// rebuild from the first event. `agora run` starts them with the managers
// (Start): Resume waits for the directory to learn which agents have work
// pending. `agora bench restart` still starts them once every actor has
// recovered (RecoverAll), as every start did before actors slept.
func (e *Economy) StartReadModels() {
	e.readModelsStarted = true
	e.follower.Add(e.readModels)
	e.background(e.ctx, "market_state mirror", e.mirror.Run)
}

// consumerFailed reports a manager, the executor or the read models
// stopped on an error as background work that stopped.
func (e *Economy) consumerFailed(name string, err error) {
	select {
	case e.errs <- fmt.Errorf("%s: %w", name, err):
	default: // an earlier failure is being reported
	}
}

func (e *Economy) background(ctx context.Context, name string, run func(context.Context) error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			e.node.logger.Error("background work stopped", "what", name, "err", err)
			e.errs <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// Failed delivers the first error of background work.
func (e *Economy) Failed() <-chan error { return e.errs }

// StopDrainTimeout bounds how long a clean stop waits for the process
// managers to finish what the log obliges them to (see Economy.Stop).
const StopDrainTimeout = 5 * time.Second

// Stop ends the clearing schedule, halts the executor (a program still
// running is interrupted: it runs again at the next start), waits (at most StopDrainTimeout) until
// the process managers have done what the log already obliges them to (an
// ended execution's leases released, a payment made, a transfer
// settled), then ends the background work and the actors, and closes the
// sandbox (its control groups go once the executor has stopped). Without
// the wait, what ended just before a stop stayed leased until the next
// start; a crash still leaves it so, and the next start does it.
func (e *Economy) Stop() { e.stopOnce.Do(func() { e.stop(true) }) }

// StopAtOnce is Stop without the wait for the process managers: what a
// node that lost the lease of the actors does (Leadership.Lost), as
// another node may be running them already. What the managers still owed
// is done by that node, which resumes them from their cursors.
func (e *Economy) StopAtOnce() { e.stopOnce.Do(func() { e.stop(false) }) }

func (e *Economy) stop(drain bool) {
	if e.stopSchedule != nil {
		e.stopSchedule()
	}
	if e.executor != nil {
		e.executor.Halt()
	}
	if e.started && drain {
		e.drain(StopDrainTimeout)
	}
	e.cancel()
	e.wg.Wait()
	e.host.Stop()
	if e.executions != nil {
		e.executions.sandbox.Close()
	}
}

// drain waits until every manager has reacted to the log as it is, again
// while reactions write more, for at most timeout.
func (e *Economy) drain(timeout time.Duration) {
	managers := []*runtime.ManagerRunner{e.transfers}
	if e.markets != nil {
		managers = append(managers, e.markets)
	}
	if e.spawns != nil {
		managers = append(managers, e.spawns)
	}
	if e.attention.manager != nil {
		managers = append(managers, e.attention.manager)
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	last, err := e.node.log.LastSeq(ctx)
	for err == nil {
		for _, m := range managers {
			if err := m.WaitFloor(ctx, last); err != nil {
				e.node.logger.Warn("stop: the process managers did not catch up with the log; the next start finishes their work",
					"seq", last, "err", err)
				return
			}
		}
		var now uint64
		if now, err = e.node.log.LastSeq(ctx); err == nil && now == last {
			return
		}
		last = now
	}
}

// RecoverAll loads every agent from its snapshot and the events after it,
// dead or alive, reading only the agent_created events to find them: how
// every start recovered before actors were woken on demand, kept for
// `agora bench restart` and `agora load`. `agora run` calls Resume, which
// loads only the agents with work pending.
func (e *Economy) RecoverAll(ctx context.Context, parallel int) (int, error) {
	ids, err := executor.AgentsInLog(e.node.log)(ctx)
	if err != nil {
		return 0, fmt.Errorf("list agents: %w", err)
	}
	return len(ids), runtime.Each(ids, parallel, func(id string) error {
		if _, err := e.accounts.Get(ctx, id); err != nil {
			return fmt.Errorf("recover agent %s: %w", id, err)
		}
		return nil
	})
}

// EnsureGenesis creates the genesis agent with the configured grant and
// its program's command if it does not exist. Creation is one event with
// the expectation that the genesis account has no events, so two starts
// can never both create it.
func (e *Economy) EnsureGenesis(ctx context.Context, command []string, logger *slog.Logger) (bool, error) {
	_, err := e.accounts.Do(ctx, GenesisID, "", agent.Create{
		GrantMicros: e.node.cfg.Economy.InitialCreditBudget.Micros(),
		Reason:      "genesis",
		Command:     command,
	})
	if errors.Is(err, agent.ErrAgentExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create genesis: %w", err)
	}
	logger.Info("fresh log: genesis created", "agent", GenesisID, "grant", e.node.cfg.Economy.InitialCreditBudget.String())
	return true, nil
}

// ConfigureMarkets opens the markets of the configuration, or applies its
// changes of supply and bounds; unchanged terms write nothing.
func (e *Economy) ConfigureMarkets(ctx context.Context) error {
	cfg := e.node.cfg
	terms := map[string]events.MarketTerms{}
	var cleared []string
	for _, name := range cfg.ResourceNames() {
		r := cfg.Resources[name]
		terms[name] = events.MarketTerms{SupplyUnits: events.Units(r.Supply), PriceMicros: r.InitialPrice.Micros(),
			MinPriceMicros: r.MinPrice.Micros(), MaxPriceMicros: r.MaxPrice.Micros()}
		if name != config.ResourceAttention { // attention is bid for with prompts
			cleared = append(cleared, name)
		}
	}
	a := cfg.Allocation
	rules := eventsPriceRules(a.HighMark, a.LowMark, a.PriceStepUp, a.PriceStepDown)
	return e.clearing.Configure(ctx, terms, cleared, rules, a.LeaseTimeout(), 0)
}

func ppm(f float64) int64 { return int64(math.Round(f * 1_000_000)) }

// eventsPriceRules are the price rules of the configuration's fractions,
// for the clearing and for the attention market alike.
func eventsPriceRules(high, low, up, down float64) events.PriceRules {
	return events.PriceRules{HighMarkPPM: ppm(high), LowMarkPPM: ppm(low), StepUpPPM: ppm(up), StepDownPPM: ppm(down)}
}

// Scheduler is the clearing schedule of the configuration. Its end-of-cycle
// rule lists the accounts from the directory read model.
func (e *Economy) Scheduler() *clearing.Scheduler {
	return &clearing.Scheduler{Service: e.clearing, Accounts: e.accounts, Interval: e.node.cfg.Allocation.Schedule(),
		Directory: e.standings, Logger: e.node.logger, Then: e.attention.service.Tick}
}

// standings are the directory's accounts as the end-of-cycle rule reads
// them (clearing.Broke): status, balance, held and open holds.
func (e *Economy) standings() []agent.Account {
	list := e.directory.Standings()
	out := make([]agent.Account, len(list))
	for i, s := range list {
		status := agent.StatusDead
		if s.Alive {
			status = agent.StatusAlive
		}
		out[i] = agent.Account{ID: s.ID, Status: status, BalanceMicros: s.BalanceMicros, HeldMicros: s.HeldMicros, Holds: s.Holds}
	}
	return out
}

// liveEconomy is the economy fold (projections/economy) kept current by a
// projection runner, first in the read models' group: it judges each record
// for the other read models (Runner.AdmitWith), lists the skipped records
// and gives the status summary. It is no source of accounts for the
// end-of-cycle rule, which reads the directory.
type liveEconomy struct {
	mu     sync.RWMutex
	eco    *ecofold.Economy
	logger *slog.Logger
}

// Apply folds one record. A broken invariant is logged loudly (agora audit
// gives the full report) but does not stop the read model. A skipped
// record is logged once, here: this fold sees each record once and skips
// exactly what the actors skip.
func (l *liveEconomy) Apply(r events.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	skipped := len(l.eco.Skipped)
	err := l.eco.Apply(r)
	if len(l.eco.Skipped) > skipped {
		k := l.eco.Skipped[skipped]
		l.logger.Error("record skipped: it is not a fact of the economy; see agora skipped", "seq", k.Seq,
			"subject", k.Subject, "reason", k.Reason, "detail", k.Detail)
	}
	if err != nil {
		var v *ecofold.Violation
		if errors.As(err, &v) {
			l.logger.Error("invariant violated; run agora audit", "violation", v.Error())
			return nil
		}
		return err
	}
	return nil
}

// Skip folds a record the runner skipped (it is not a sound event): the
// fold keeps it in its list of skipped records (projections.Skipper).
func (l *liveEconomy) Skip(r events.Record, _ error) {
	if err := l.Apply(r); err != nil {
		l.logger.Error("economy fold: a skipped record", "seq", r.Seq, "err", err)
	}
}

// Reset empties the fold.
func (l *liveEconomy) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.eco = ecofold.New()
}

// Skipped lists the skipped records (GET /admin/skipped).
func (l *liveEconomy) Skipped() []ecofold.Skipped {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.SkippedRecords()
}

// SkippedRecord is the skipped record at seq, if it is one.
func (l *liveEconomy) SkippedRecord(seq uint64) (ecofold.Skipped, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.SkippedRecord(seq)
}

// verdict is the fold's judgement of a record it has applied: the
// *events.BadRecord of one it skipped, else nil (projections.AdmitWith).
func (l *liveEconomy) verdict(r events.Record) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if k, ok := l.eco.SkippedRecord(r.Seq); ok {
		return &events.BadRecord{Seq: k.Seq, Subject: k.Subject, Reason: k.Reason, Err: errors.New(k.Detail)}
	}
	return nil
}

// Summary is the fold's headline figures (GET /admin/status).
func (l *liveEconomy) Summary() ecofold.Summary {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.Summary()
}

// Snapshot is the fold as of the last applied record (ecofold.Economy's),
// so that a restart resumes from it rather than fold the log again.
func (l *liveEconomy) Snapshot() ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.Snapshot()
}

// Restore replaces the fold with the one a Snapshot holds; a snapshot it
// refuses leaves the fold as it was.
func (l *liveEconomy) Restore(data []byte) error {
	eco := ecofold.New()
	if err := eco.Restore(data); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.eco = eco
	return nil
}

// Accessors of what the economy wires, for the commands, the benchmarks and
// the tests. WithLedgerOnly wires neither the clearing nor the read models:
// their accessors then give nil, and StartReadModels, Sync, WaitHistory,
// Scheduler and Serve are not to be called.

// Node is the node the economy runs over.
func (e *Economy) Node() *Node { return e.node }

// Log is the event log.
func (e *Economy) Log() *natslog.Log { return e.node.log }

// Host is the actor host.
func (e *Economy) Host() *runtime.Host { return e.host }

// Accounts are the agents' account actors.
func (e *Economy) Accounts() *agent.Accounts { return e.accounts }

// Transfers is the transfer manager, which settles transfers.
func (e *Economy) Transfers() *runtime.ManagerRunner { return e.transfers }

// Markets is the clearing manager (listings, payments, leases); nil
// WithLedgerOnly.
func (e *Economy) Markets() *runtime.ManagerRunner { return e.markets }

// Spawns is the spawn manager (children created, first bids placed); nil
// WithLedgerOnly.
func (e *Economy) Spawns() *runtime.ManagerRunner { return e.spawns }

// Clearing is the clearing service over the book and the markets; nil
// WithLedgerOnly.
func (e *Economy) Clearing() *clearing.Service { return e.clearing }

// Bids is the public bid book read model.
func (e *Economy) Bids() *bidbook.View { return e.bids }

// MarketView is the markets' figures read model.
func (e *Economy) MarketView() *markets.View { return e.marketView }

// Directory is every agent's record.
func (e *Economy) Directory() *directory.View { return e.directory }

// Inbox is the read model of the agents' inboxes.
func (e *Economy) Inbox() *inbox.View { return e.inbox }

// History is the recent transactions read model.
func (e *Economy) History() *history.View { return e.history }

// WaitHistory waits until the history read model has applied seq.
func (e *Economy) WaitHistory(ctx context.Context, seq uint64) error {
	return e.histRun.WaitFor(ctx, seq)
}

// FollowerStats lists the followers of the log (managers, read models,
// executor): the position each resumed from and the records it was
// delivered since.
func (e *Economy) FollowerStats() []follow.Stat { return e.follower.Stats() }

// ReadModelStats lists the read models: the sequence each resumed from (0:
// rebuilt from the first event) and the records it applied since.
func (e *Economy) ReadModelStats() []projections.ViewStat { return e.readModels.Stats() }

// Sync waits until every read model has applied what the log held when it
// was called: the economy then reads its own writes.
func (e *Economy) Sync(ctx context.Context) error { return e.freshness().Sync(ctx) }
