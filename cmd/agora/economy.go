package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/records"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/cmd/agora/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/markets"
)

// Pool is the clearing pool of the economy: one book for every resource.
const Pool = "main"

// GenesisID is the id of the agent the economy starts with.
const GenesisID = "genesis"

// runtimeEconomy is the running system over a node: the actors, the process
// managers that carry work between them, and the read models.
type runtimeEconomy struct {
	node     *node
	host     *runtime.Host
	accounts *agent.Accounts
	// transfers settles transfers between accounts.
	transfers *runtime.ManagerRunner
	// markets carries the clearing's work (listings, payments, leases).
	markets  *runtime.ManagerRunner
	clearing *clearing.Service
	// records keeps the operator's acknowledgements of skipped records.
	records *records.Service
	history *history.View
	histRun *projections.Runner
	// live is the whole economy folded as events arrive, every invariant
	// checked: the directory the end-of-cycle rule reads.
	live    *liveEconomy
	liveRun *projections.Runner
	// bids is the public bid book; marketView the markets' figures, which
	// mirror keeps in the key-value bucket market_state.
	bids       *bidbook.View
	bidsRun    *projections.Runner
	marketView *markets.View
	marketRun  *projections.Runner
	mirror     *markets.Mirror
	// directory is every agent's record, for the APIs.
	directory *directory.View
	dirRun    *projections.Runner

	ctx    context.Context // ends when the economy stops
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// startEconomy wires the actors and starts the background work. It does not
// create genesis; see ensureGenesis.
func startEconomy(n *node) (*runtimeEconomy, error) { return wireEconomy(n, true, false) }

// startEconomyForRecovery is startEconomy without the read models, which
// the caller starts with startReadModels once the actors have recovered.
func startEconomyForRecovery(n *node) (*runtimeEconomy, error) { return wireEconomy(n, true, true) }

// startLedger wires the accounts and the transfer manager alone: what
// `agora bench ledger` measures by default, without the markets and the
// read models that also follow the log in a whole economy.
func startLedger(n *node) (*runtimeEconomy, error) { return wireEconomy(n, false, false) }

func wireEconomy(n *node, whole, deferReadModels bool) (*runtimeEconomy, error) {
	host, err := runtime.NewHost(n.log, n.store, runtime.Options{
		SnapshotEvery:     n.cfg.Runtime.SnapshotEvery,
		IdempotencyMemory: n.cfg.Runtime.IdempotencyMemory,
		AtomicBatchMin:    atomicBatchMin(n.cfg),
	}, n.logger)
	if err != nil {
		return nil, err
	}
	e := &runtimeEconomy{node: n, host: host, accounts: agent.NewAccounts(host), errs: make(chan error, 4)}
	if e.transfers, err = runtime.NewManagerRunner(agent.TransferManager(), host, n.log, n.store, n.logger); err != nil {
		return nil, err
	}
	if !whole {
		ctx, cancel := context.WithCancel(context.Background())
		e.ctx, e.cancel = ctx, cancel
		e.background(ctx, "transfer manager", e.transfers.Run)
		return e, nil
	}
	if e.markets, err = runtime.NewManagerRunner(clearing.Manager(Pool), host, n.log, n.store, n.logger); err != nil {
		return nil, err
	}
	if e.clearing, err = clearing.NewService(host, e.accounts, e.markets, Pool); err != nil {
		return nil, err
	}
	if e.records, err = records.NewService(host); err != nil {
		return nil, err
	}
	e.live = &liveEconomy{logger: n.logger}
	e.live.Reset()
	if e.liveRun, err = projections.NewRunner(n.log, e.live); err != nil {
		return nil, err
	}
	if e.history, err = history.New(); err != nil {
		return nil, err
	}
	if e.histRun, err = projections.NewRunner(n.log, e.history); err != nil {
		return nil, err
	}
	e.bids = bidbook.New()
	if e.bidsRun, err = projections.NewRunner(n.log, e.bids); err != nil {
		return nil, err
	}
	if e.marketView, err = markets.New(n.cfg.Allocation.TransactionHistoryLength); err != nil {
		return nil, err
	}
	if e.marketRun, err = projections.NewRunner(n.log, e.marketView); err != nil {
		return nil, err
	}
	if e.mirror, err = openMarketMirror(n, e.marketView); err != nil {
		return nil, err
	}
	e.directory = directory.New()
	if e.dirRun, err = projections.NewRunner(n.log, e.directory); err != nil {
		return nil, err
	}
	// The read models skip the records the economy fold skips: a read
	// model alone cannot tell an overspend from a payment; the fold, which
	// runs first on each record (startReadModels), folds every actor with
	// its own Admit.
	for _, r := range []*projections.Runner{e.histRun, e.bidsRun, e.marketRun, e.dirRun} {
		r.AdmitWith(e.live.verdict)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.ctx, e.cancel = ctx, cancel
	// One follow of the log feeds both managers (runtime.RunManagers).
	e.background(ctx, "transfer and market managers", func(ctx context.Context) error {
		return runtime.RunManagers(ctx, e.transfers, e.markets)
	})
	if !deferReadModels {
		e.startReadModels()
	}
	return e, nil
}

// startReadModels starts the projections. They rebuild from the first
// event at every start, so `agora run` starts them only once every actor
// has recovered: the actors then have the server and the processor to
// themselves, and the read models catch up while the economy runs. They
// share one follow of the log (projections.RunShared): the server delivers
// each event once, not once per read model.
func (e *runtimeEconomy) startReadModels() {
	e.background(e.ctx, "read models", func(ctx context.Context) error {
		// The economy fold first: the others ask it about each record.
		return projections.RunShared(ctx, e.node.log, e.liveRun, e.histRun, e.bidsRun, e.marketRun, e.dirRun)
	})
	e.background(e.ctx, "market_state mirror", e.mirror.Run)
}

func (e *runtimeEconomy) background(ctx context.Context, name string, run func(context.Context) error) {
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
func (e *runtimeEconomy) Failed() <-chan error { return e.errs }

// stop ends the background work and the actors.
func (e *runtimeEconomy) stop() {
	e.cancel()
	e.wg.Wait()
	e.host.Stop()
}

// recoverAll loads every agent from its snapshot and the events after it,
// so that the economy answers at full speed from its first command. It
// reads only the agent_created events to find them.
func (e *runtimeEconomy) recoverAll(ctx context.Context, parallel int) (int, error) {
	var ids []string
	err := e.node.log.Read(ctx, events.SubjectRoot+".agent.*."+events.AgentCreated{}.EventType(), 1,
		func(r events.Record) error {
			if events.Check(r) != nil {
				return nil // not an agent's record: skipped, as by every follower
			}
			_, id, _ := events.ActorOf(r)
			ids = append(ids, id)
			return nil
		})
	if err != nil {
		return 0, fmt.Errorf("list agents: %w", err)
	}
	sem := make(chan struct{}, max(parallel, 1))
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := e.accounts.Get(ctx, id); err != nil {
				errs <- fmt.Errorf("recover agent %s: %w", id, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return len(ids), errors.Join(collect(errs)...)
}

func collect(ch <-chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// ensureGenesis creates the genesis agent with the configured grant and
// its program's command if it does not exist. Creation is one event with
// the expectation that the genesis account has no events, so two starts
// can never both create it.
func (e *runtimeEconomy) ensureGenesis(ctx context.Context, command []string, logger *slog.Logger) (bool, error) {
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

// configureMarkets opens the markets of the configuration, or applies its
// changes of supply and bounds; unchanged terms write nothing.
func (e *runtimeEconomy) configureMarkets(ctx context.Context) error {
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
	rules := events.PriceRules{HighMarkPPM: ppm(a.HighMark), LowMarkPPM: ppm(a.LowMark),
		StepUpPPM: ppm(a.PriceStepUp), StepDownPPM: ppm(a.PriceStepDown)}
	return e.clearing.Configure(ctx, terms, cleared, rules, a.LeaseTimeout(), 0)
}

func ppm(f float64) int64 { return int64(math.Round(f * 1_000_000)) }

// scheduler is the clearing schedule of the configuration.
func (e *runtimeEconomy) scheduler() *clearing.Scheduler {
	return &clearing.Scheduler{Service: e.clearing, Accounts: e.accounts, Interval: e.node.cfg.Allocation.Schedule(),
		Directory: e.live.accounts, Logger: e.node.logger}
}

// liveEconomy is the economy fold kept current by a projection runner.
type liveEconomy struct {
	mu     sync.RWMutex
	eco    *economy.Economy
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
		var v *economy.Violation
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
	l.eco = economy.New()
}

// accounts lists the accounts as of the last applied event.
func (l *liveEconomy) accounts() []agent.Account {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]agent.Account, 0, len(l.eco.Accounts))
	for _, a := range l.eco.Accounts {
		a.Holds = maps.Clone(a.Holds)
		out = append(out, a)
	}
	return out
}

// Skipped lists the skipped records (GET /admin/skipped).
func (l *liveEconomy) Skipped() []economy.Skipped {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.SkippedRecords()
}

// SkippedRecord is the skipped record at seq, if it is one.
func (l *liveEconomy) SkippedRecord(seq uint64) (economy.Skipped, bool) {
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
func (l *liveEconomy) Summary() economy.Summary {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.eco.Summary()
}
