package operator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/records"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/api/apitest"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections"
	attnview "github.com/agora-econ/agora/projections/attention"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
	"github.com/agora-econ/agora/projections/series"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pool is the clearing pool, as in package economy.
const pool = "main"

// operatorToken is the token the tests' operator API is built with.
const operatorToken = "test-operator-token-0123456789abcdef"

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
// as package economy wires it: the account and book actors, the transfer and
// clearing managers, the read models (the directory among them), and on
// one HTTP server the operator API (/admin/..., /metrics) beside the
// System Service (everything else).
type economyForTest struct {
	t        testing.TB
	log      *natslog.Log
	host     *runtime.Host
	accounts *agent.Accounts
	clearing *clearing.Service
	managers []*runtime.ManagerRunner
	runners  []*projections.Runner
	economy  *economyFold
	records  *records.Service
	// natsURL is the embedded server's client URL (natstest.Forge).
	natsURL   string
	tickets   *ticket.Registry
	directory *directory.View
	markets   *markets.View
	history   *history.View
	bids      *bidbook.View
	creator   *creator
	// attention is the slot's service, attnView its read model.
	attention *attention.Service
	attnView  *attnview.View
	// series is the history read model.
	series *series.View

	handler http.Handler
	server  *httptest.Server
	client  *http.Client
}

func startEconomy(t testing.TB) *economyForTest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url, js, _ := natstest.Start(t)
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
	e := &economyForTest{t: t, log: log, host: host, accounts: agent.NewAccounts(host), tickets: ticket.New(),
		natsURL: url}
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
	if e.records, err = records.NewService(host); err != nil {
		t.Fatal(err)
	}
	historyView, err := history.New()
	e.history = historyView
	if err != nil {
		t.Fatal(err)
	}
	bids := bidbook.New()
	e.bids = bids
	if e.markets, err = markets.New(20); err != nil {
		t.Fatal(err)
	}
	e.directory = directory.New()
	e.economy = &economyFold{eco: economy.New()}
	e.attnView = attnview.New()
	if e.series, err = series.New(); err != nil {
		t.Fatal(err)
	}
	for _, view := range []projections.Projection{historyView, bids, e.markets, e.directory, e.economy, e.attnView, e.series} {
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
	fresh := freshness{log: log, runners: e.runners}
	e.creator = &creator{accounts: e.accounts, clearing: e.clearing, root: t.TempDir()}
	adminHandler, _, err := operator.New(e.deps(), operator.Options{Token: operatorToken})
	if err != nil {
		t.Fatal(err)
	}
	systemService, err := system.New(system.Deps{Tickets: e.tickets, Ledger: e.accounts, Book: e.clearing,
		History: historyView, Markets: e.markets, Bids: bids, Directory: e.directory, Freshness: fresh,
		Inbox: inbox.New(), Spawner: noSpawner{}, Attention: e.attention, AttentionView: e.attnView}, system.Options{}) // no message reaches it in these tests
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(systemService.Close)
	systemHandler := systemService.Handler()
	// One listener for both, as package economy serves them.
	e.handler = operator.Beside(adminHandler, systemHandler)
	e.server = httptest.NewServer(e.handler)
	t.Cleanup(e.server.Close)
	e.client = &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// deps are the real read models and the creator, as package economy passes
// them.
func (e *economyForTest) deps() operator.Deps {
	return operator.Deps{Directory: e.directory, Markets: e.markets, Creator: e.creator,
		Freshness: freshness{log: e.log, runners: e.runners}, Economy: e.economy, Accounts: e.accounts, Book: e.clearing,
		Records: e.records, Attention: e.attention, AttentionView: e.attnView, History: e.history,
		Bids: e.bids, Config: config.Default(), Series: e.series}
}

// create opens an account with a grant directly, as genesis is created.
func (e *economyForTest) create(id string, grant int64) {
	e.t.Helper()
	e.do(id, agent.Create{GrantMicros: events.Credits(grant), Reason: "genesis"})
}

// do sends one command to an account.
func (e *economyForTest) do(id string, cmd agent.Command) runtime.Result {
	e.t.Helper()
	res, err := e.accounts.Do(context.Background(), id, "", cmd)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
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

// admin makes one call with the operator token.
func (e *economyForTest) admin(method, path string, body any, headers ...string) answer {
	e.t.Helper()
	return e.call(method, path, operatorToken, body, headers...)
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

// freshness is the port package economy implements: the log's last sequence,
// then each runner's WaitFor.
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

// creator is the Creator port as package economy implements it, over the real
// accounts and book: check what the economy must allow, write the
// workspace, create the account with its grant and command, place the
// first bid. Its workspaces are plain directories under root.
type creator struct {
	accounts *agent.Accounts
	clearing *clearing.Service
	root     string

	mu    sync.Mutex
	calls int // CreateAgent calls that wrote something
}

func (c *creator) CreateAgent(ctx context.Context, req operator.CreateAgent, key string) (string, error) {
	// A retry: the account remembers the key; finish what may be left.
	if _, done, err := c.accounts.Recall(ctx, req.AgentID, key); err != nil {
		return "", err
	} else if done {
		return req.AgentID, c.placeBid(ctx, req, key)
	}
	if bid := req.InitialBid; bid != nil {
		invalid, err := clearing.Inspect(ctx, c.clearing, func(b clearing.Book) error {
			return clearing.Validate(b, events.BidTerms{Pool: pool, Resources: bid.Resources, Payload: bid.Payload}, bid.AmountMicros)
		})
		if err != nil {
			return "", err
		}
		if invalid != nil {
			return "", invalid
		}
	}
	if a, err := c.accounts.Get(ctx, req.AgentID); err != nil {
		return "", err
	} else if a.Exists() {
		return "", fmt.Errorf("%w: %s", agent.ErrAgentExists, req.AgentID)
	}
	if err := c.writeWorkspace(req); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if _, err := c.accounts.Do(ctx, req.AgentID, key, agent.Create{GrantMicros: req.GrantMicros, Command: req.Command,
		Reason: "operator"}); err != nil {
		return "", err
	}
	return req.AgentID, c.placeBid(ctx, req, key)
}

func (c *creator) placeBid(ctx context.Context, req operator.CreateAgent, key string) error {
	bid := req.InitialBid
	if bid == nil {
		return nil
	}
	_, _, err := c.clearing.Place(ctx, req.AgentID, key+"/bid",
		events.BidTerms{Resources: bid.Resources, Payload: bid.Payload}, bid.AmountMicros)
	return err
}

func (c *creator) writeWorkspace(req operator.CreateAgent) error {
	dir := filepath.Join(c.root, req.AgentID)
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%w: a workspace for %s exists", agent.ErrAgentExists, req.AgentID)
	}
	for _, p := range slices.Sorted(maps.Keys(req.Files)) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(req.Files[p]), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// workspaces lists the agents the creator wrote a workspace for.
func (c *creator) workspaces(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(c.root)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// newAgent is a valid body for POST /admin/agents.
func newAgent(grant any, extra ...any) map[string]any {
	b := map[string]any{
		"files":   map[string]any{"main.py": "print('hello')\n", "lib/util.py": "X = 1\n"},
		"command": []any{"python3", "main.py"},
		"grant":   grant,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

// firstBid is a valid first bid (reserve price 2 x 5 + 128 x 0.01 = 11.28).
func firstBid(amount any) map[string]any {
	return map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 128}, "amount": amount, "payload": "hi"}
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

// wantJSON checks fields of a decoded object by their JSON text.
func wantJSON(t *testing.T, got map[string]any, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g := jsonText(got[k]); g != w {
			t.Fatalf("%s = %s, want %s (in %v)", k, g, w, got)
		}
	}
}

// economyFold is the audit fold of the whole log as a read model, as
// package economy keeps it for GET /admin/status.
type economyFold struct {
	mu  sync.RWMutex
	eco *economy.Economy
}

func (f *economyFold) Apply(r events.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.eco.Apply(r)
}

// Skip lists a record the runner skipped (projections.Skipper).
func (f *economyFold) Skip(r events.Record, _ error) { _ = f.Apply(r) }

func (f *economyFold) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eco = economy.New()
}

func (f *economyFold) Summary() economy.Summary {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.eco.Summary()
}

func (f *economyFold) Skipped() []economy.Skipped {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.eco.SkippedRecords()
}

func (f *economyFold) SkippedRecord(seq uint64) (economy.Skipped, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.eco.SkippedRecord(seq)
}

// noSpawner fills the System Service's Spawner in this harness, which
// tests the operator API: spawning is tested where the economy is wired
// whole (package economy).
type noSpawner struct{}

func (noSpawner) Spawn(context.Context, string, string, system.SpawnRequest) (system.SpawnReceipt, error) {
	return system.SpawnReceipt{}, errors.New("this harness spawns nothing")
}
