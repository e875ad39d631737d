package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/api/apitest"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections"
	attnview "github.com/agora-econ/agora/projections/attention"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pool is the clearing pool, as the composition root names it.
const pool = "main"

// The markets of the test economy: the defaults of SPEC.md 3.4.
var (
	testMarkets = map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: events.WholeUnits(100), PriceMicros: events.Credits(5), MinPriceMicros: 50_000, MaxPriceMicros: events.Credits(500)},
		"memory_mb":   {SupplyUnits: events.WholeUnits(10_000), PriceMicros: 10_000, MinPriceMicros: 100, MaxPriceMicros: events.Credits(1)},
		"tokens":      {SupplyUnits: events.WholeUnits(10_000), PriceMicros: 100_000, MinPriceMicros: 1_000, MaxPriceMicros: events.Credits(10)},
		"attention":   {SupplyUnits: events.WholeUnits(1), PriceMicros: events.Credits(50), MinPriceMicros: 500_000, MaxPriceMicros: events.Credits(5000)},
	}
	testCleared = []string{"cpu_seconds", "memory_mb", "tokens"}
	testRules   = events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}
	// testAttention are the slot's rules: 50 credits per point, prompts
	// never expire.
	testAttention = attention.Rules{Rates: attention.Rates{Interesting: events.Credits(50), Useful: events.Credits(50),
		Understandable: events.Credits(50)}, Price: testRules}
)

// economyForTest is a real economy on an embedded JetStream server, wired
// as economy/economy.go wires it: the account and book actors, the
// transfer and clearing managers, the history, bid book, markets and
// directory read models, and the System Service over real HTTP.
type economyForTest struct {
	t         testing.TB
	log       *natslog.Log
	host      *runtime.Host
	accounts  *agent.Accounts
	clearing  *clearing.Service
	managers  []*runtime.ManagerRunner
	runners   []*projections.Runner
	tickets   *ticket.Registry
	history   *history.View
	markets   *markets.View
	bids      *bidbook.View
	directory *directory.View
	inbox     *inbox.View
	// attention is the slot's service, attnView its read model.
	attention *attention.Service
	attnView  *attnview.View

	handler http.Handler
	service *system.Service
	server  *httptest.Server
	client  *http.Client
	now     func() time.Time
}

// options of the service under test; the zero value has no upstream.
type harnessOptions struct {
	inference system.Inference
	now       func() time.Time
	// inFlight, when above 0, bounds the calls in flight in place of
	// CallsInFlightMax, a call waiting at most admissionWait for room.
	inFlight      int
	admissionWait time.Duration
	// inboxLimit, when above 0, is economy.inbox_limit.
	inboxLimit int
}

func startEconomy(t testing.TB, o harnessOptions) *economyForTest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js, _ := natstest.Start(t)
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	host, err := runtime.NewHost(log, store, runtime.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &economyForTest{t: t, log: log, host: host, accounts: agent.NewAccounts(host), tickets: ticket.New()}
	transfers, err := runtime.NewManagerRunner(agent.TransferManager(), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	book, err := runtime.NewManagerRunner(clearing.Manager(pool), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.clearing, err = clearing.NewService(host, e.accounts, book, pool); err != nil {
		t.Fatal(err)
	}
	slot, err := runtime.NewManagerRunner(attention.Manager(), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.attention, err = attention.NewService(host, e.accounts, slot, testAttention); err != nil {
		t.Fatal(err)
	}
	e.managers = []*runtime.ManagerRunner{transfers, book, slot}
	if e.history, err = history.New(); err != nil {
		t.Fatal(err)
	}
	e.bids = bidbook.New()
	marketView, err := markets.New(20)
	if err != nil {
		t.Fatal(err)
	}
	e.directory = directory.New()
	e.inbox = inbox.New()
	e.attnView = attnview.New()
	for _, view := range []projections.Projection{e.history, e.bids, marketView, e.directory, e.inbox, e.attnView} {
		r, err := projections.NewRunner(log, view)
		if err != nil {
			t.Fatal(err)
		}
		e.runners = append(e.runners, r)
	}

	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, m := range e.managers {
		wg.Go(func() {
			if err := m.Run(runCtx); err != nil {
				t.Errorf("manager: %v", err)
			}
		})
	}
	for _, r := range e.runners {
		wg.Go(func() {
			if err := r.Run(runCtx); err != nil {
				t.Errorf("projection: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		wg.Wait()
		host.Stop()
	})

	if err := e.clearing.Configure(ctx, testMarkets, testCleared, testRules, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	e.now = time.Now
	if o.now != nil {
		e.now = o.now
	}
	e.markets = marketView
	opts := system.Options{Config: publicConfig(), Inference: o.inference, Now: e.now}
	opts.Config.Economy.InboxLimit = o.inboxLimit
	if o.inFlight > 0 {
		e.service, err = system.NewBounded(e.deps(), opts, o.inFlight, o.admissionWait)
	} else {
		e.service, err = system.New(e.deps(), opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.service.Close)
	e.handler = e.service.Handler()
	e.server = httptest.NewServer(e.handler)
	t.Cleanup(e.server.Close)
	e.client = &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// deps are the real facades and read models, as the composition root
// passes them.
func (e *economyForTest) deps() system.Deps {
	return system.Deps{Tickets: e.tickets, Ledger: e.accounts, Book: e.clearing, History: e.history, Markets: e.markets,
		Bids: e.bids, Directory: e.directory, Freshness: freshness{log: e.log, runners: e.runners}, Inbox: e.inbox,
		Spawner: noSpawner{}, Attention: e.attention, AttentionView: e.attnView}
}

// noSpawner fills the Spawner of this harness, which has no workspaces
// and no spawn manager: POST /social/spawn is tested end to end where the
// economy is wired whole (package economy's spawn tests).
type noSpawner struct{}

func (noSpawner) Spawn(context.Context, string, string, system.SpawnRequest) (system.SpawnReceipt, error) {
	return system.SpawnReceipt{}, errors.New("this harness spawns nothing")
}

// create opens an account with a grant, as the operator would.
func (e *economyForTest) create(id string, grant int64) {
	e.t.Helper()
	if _, err := e.accounts.Do(context.Background(), id, "", agent.Create{GrantMicros: events.Credits(grant)}); err != nil {
		e.t.Fatal(err)
	}
}

// issue starts an "execution" for agent: a ticket as the executor would
// issue it.
func (e *economyForTest) issue(agentID string, tokens int64, deadline time.Time) string {
	e.t.Helper()
	token, err := e.tickets.Issue(agentID, "x-"+agentID+"-"+events.NewID(), map[string]events.Units{
		"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128), "tokens": events.WholeUnits(tokens),
	}, deadline)
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// settle waits until the managers and the read models have caught up with
// the whole log.
func (e *economyForTest) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		last := e.lastSeq()
		for _, m := range e.managers {
			if err := m.WaitFloor(ctx, last); err != nil {
				e.t.Fatal(err)
			}
		}
		for _, r := range e.runners {
			if err := r.WaitFor(ctx, last); err != nil {
				e.t.Fatal(err)
			}
		}
		if e.lastSeq() == last {
			return
		}
	}
}

func (e *economyForTest) lastSeq() uint64 {
	e.t.Helper()
	seq, err := e.log.LastSeq(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return seq
}

func (e *economyForTest) account(id string) agent.Account {
	e.t.Helper()
	a, err := e.accounts.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// answer is an HTTP answer, read whole.
type answer = apitest.Answer

// call makes one request; headers are name, value pairs.
func (e *economyForTest) call(method, path, token string, body any, headers ...string) answer {
	e.t.Helper()
	return apitest.Call(e.t, e.client, e.server.URL, method, path, token, body, headers...)
}

// ok checks a 200 and returns the decoded body.
func (e *economyForTest) ok(a answer) map[string]any {
	e.t.Helper()
	return apitest.OK(e.t, a)
}

// problem checks a problem+json answer with status whose detail contains
// every one of words, and returns its detail.
func (e *economyForTest) problem(a answer, status int, words ...string) string {
	e.t.Helper()
	return apitest.Problem(e.t, a, status, words...)
}

// freshness is the port as the composition root implements it: the log's
// last sequence, then each runner's WaitFor.
type freshness struct {
	log     events.Log
	runners []*projections.Runner
}

func (f freshness) Sync(ctx context.Context) error {
	seq, err := f.log.LastSeq(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range f.runners {
		errs = append(errs, r.WaitFor(ctx, seq))
	}
	return errors.Join(errs...)
}

func publicConfig() system.PublicConfig {
	c := system.PublicConfig{
		Economy: system.PublicEconomy{InitialCreditBudget: system.Credits(events.Credits(1000)),
			AttentionConversionRates: map[string]system.Credits{"interesting": system.Credits(events.Credits(50)),
				"useful": system.Credits(events.Credits(50)), "understandable": system.Credits(events.Credits(50))},
			SpawnCost: system.Credits(events.Credits(100)), MessageCost: system.Credits(events.Credits(1))},
		Resources:  map[string]system.PublicResource{},
		Allocation: system.PublicAllocation{ScheduleSeconds: 10, TransactionHistoryLength: 20, HighMark: 0.8, LowMark: 0.2, PriceStepUp: 0.1, PriceStepDown: 0.1, LeaseTimeoutSeconds: 120},
		Execution:  system.PublicExecution{TimeoutSeconds: 30, DefaultMemoryMB: 100},
	}
	for _, name := range slices.Sorted(maps.Keys(testMarkets)) {
		m := testMarkets[name]
		c.Resources[name] = system.PublicResource{Supply: system.Units(m.SupplyUnits), InitialPrice: system.Credits(m.PriceMicros),
			MinPrice: system.Credits(m.MinPriceMicros), MaxPrice: system.Credits(m.MaxPriceMicros)}
	}
	return c
}

func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(v)
}
