package attention_test

import (
	"context"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections/economy"
)

var (
	epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rules = attention.Rules{Rates: attention.Rates{Interesting: events.Credits(50), Useful: events.Credits(50),
		Understandable: events.Credits(50)}, Expiry: time.Minute,
		Price: events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}}
)

// node is one process of the slot over a log and a store that outlive it:
// its actors, and, when running, the attention manager.
type node struct {
	host     *runtime.Host
	accounts *agent.Accounts
	mgr      *runtime.ManagerRunner
	svc      *attention.Service
	stop     context.CancelFunc
	done     chan error
}

// jetstream opens a log and a store on an embedded JetStream server.
func jetstream(t *testing.T) (events.Log, events.Store) {
	t.Helper()
	_, js, _ := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return log, store
}

// boot starts a process over log: the actors recover from it; the manager
// keeps its cursor in cursors (another store than the actors' starts it
// from the first record: every reaction is delivered again).
func boot(t *testing.T, log events.Log, store, cursors events.Store) *node {
	t.Helper()
	host, err := runtime.NewHost(log, store, runtime.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.Register(host, market.Aggregate())
	n := &node{host: host, accounts: agent.NewAccounts(host), done: make(chan error, 1)}
	if n.mgr, err = runtime.NewManagerRunner(attention.Manager(), host, log, cursors, nil); err != nil {
		t.Fatal(err)
	}
	if n.svc, err = attention.NewService(host, n.accounts, n.mgr, rules); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = host.Ask(ctx, events.KindMarket, attention.Resource, runtime.Request{Command: market.Configure{Terms: events.MarketTerms{
		SupplyUnits: events.WholeUnits(1), PriceMicros: events.Credits(50), MinPriceMicros: events.Credits(1), MaxPriceMicros: events.Credits(500)}}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *node) run() {
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	go func() { n.done <- n.mgr.Run(ctx) }()
}

// crash ends the process without waiting for anything to settle.
func (n *node) crash(t *testing.T) {
	t.Helper()
	if n.stop != nil {
		n.stop()
		if err := <-n.done; err != nil {
			t.Fatalf("manager: %v", err)
		}
	}
	n.host.Stop()
}

func (n *node) settle(t *testing.T, log events.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		last, err := log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.mgr.WaitFloor(ctx, last); err != nil {
			t.Fatal(err)
		}
		if now, _ := log.LastSeq(ctx); now == last {
			return
		}
	}
}

func (n *node) ask(t *testing.T, kind events.Kind, id string, cmd any) runtime.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.host.Ask(ctx, kind, id, runtime.Request{Command: cmd})
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return res
}

// count counts the records of each type; audit folds the log as `agora
// audit` does and fails on a broken invariant or a skipped record.
func count(t *testing.T, log events.Log) map[string]int {
	t.Helper()
	out := map[string]int{}
	if err := log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error {
		out[r.Envelope.Type]++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func audit(t *testing.T, log events.Log) economy.Summary {
	t.Helper()
	eco := economy.New()
	if err := log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error { return eco.Apply(r) }); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if s := eco.Summary(); s.SkippedRecords != 0 {
		t.Fatalf("audit: skipped %+v", eco.Skipped)
	}
	return eco.Summary()
}

// TestCrashesSettleOnce: the process dies after the slot recorded an
// activation and before the manager paid it, and again after the human's
// response and before the reward; each restart settles what was left
// exactly once, the last one redelivering every reaction from the first
// record (its cursor lost): the bid is paid once, the unit leased and
// released once, the reward minted once, and the audit passes.
func TestCrashesSettleOnce(t *testing.T) {
	log, store := jetstream(t)
	ctx := context.Background()

	// First process: the hold and the slot's own records, as the manager
	// would have written them, and no manager: it dies before it reacts.
	n := boot(t, log, store, store)
	if _, err := n.accounts.Do(ctx, "a", "", agent.Create{GrantMicros: events.Credits(100)}); err != nil {
		t.Fatal(err)
	}
	hold, err := n.accounts.Do(ctx, "a", "", agent.PlaceHold{HoldID: "p-1", AmountMicros: events.Credits(60),
		Purpose: events.PurposePrompt, Prompt: &events.PromptTerms{Content: "read me"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := func(seq uint64) events.Trigger { return events.Trigger{Manager: attention.ManagerName, Seq: seq} }
	q := n.ask(t, events.KindAttention, events.SlotID, attention.Queue{PromptID: "p-1", AgentID: "a", Content: "read me",
		AmountMicros: events.Credits(60), PlacedAt: epoch, Trigger: tr(hold.Seq)})
	n.ask(t, events.KindAttention, events.SlotID, attention.Activate{At: epoch, Trigger: tr(q.Seq)})
	n.crash(t)
	if c := count(t, log); c["prompt_activated"] != 1 || c["hold_posted"] != 0 {
		t.Fatalf("before the restart: %v", c)
	}

	// Second process: the manager pays the activation and leases the unit;
	// then the human answers and the process dies before the reward.
	n = boot(t, log, store, store)
	n.run()
	n.settle(t, log)
	if a, _ := n.accounts.Get(ctx, "a"); a.BalanceMicros != events.Credits(40) || a.HeldMicros != 0 {
		t.Fatalf("after the restart: %+v; want the bid paid once", a)
	}
	n.crash(t)
	n = boot(t, log, store, store)
	n.ask(t, events.KindAttention, events.SlotID, attention.Answer{PromptID: "p-1", Scores: attention.Scores{Interesting: 1, Useful: 2,
		Understandable: 3}, Rates: rules.Rates, At: epoch.Add(time.Minute)})
	n.crash(t)

	// Third process: the reward is minted; fourth: every reaction again
	// from the first record (another cursor store), which changes nothing.
	n = boot(t, log, store, store)
	n.run()
	n.settle(t, log)
	n.crash(t)
	n = boot(t, log, store, memlog.NewStore())
	n.run()
	n.settle(t, log)
	defer n.crash(t)

	if a, _ := n.accounts.Get(ctx, "a"); a.BalanceMicros != events.Credits(40+300) || a.RewardedMicros != events.Credits(300) {
		t.Fatalf("after the restarts: %+v; want 40 + a reward of 300, once", a)
	}
	c := count(t, log)
	for typ, want := range map[string]int{"prompt_queued": 1, "prompt_activated": 1, "hold_posted": 1, "lease_granted": 1,
		"prompt_answered": 1, "human_rewarded": 1, "lease_released": 1} {
		if c[typ] != want {
			t.Errorf("%d %s; want %d (%v)", c[typ], typ, want, c)
		}
	}
	s := audit(t, log)
	if s.Attention.Activations != 1 || s.Attention.RewardedMicros != events.Credits(300) || s.Attention.UnpaidPrompts != 0 ||
		s.Attention.UnmintedRewards != 0 || s.Markets[attention.Resource].LeasedUnits != 0 {
		t.Fatalf("audit: %+v", s)
	}
}

// TestUnpaidAndExpired: an agent that dies between its prompt's
// activation and the payment leaves a refused payment; the slot drops the
// prompt as unpaid, frees the unit and shows the next. A waiting prompt
// older than the expiry is dropped at the next tick and its hold
// released; the attention market's price follows its utilization.
func TestUnpaidAndExpired(t *testing.T) {
	log, store := jetstream(t)
	ctx := context.Background()
	n := boot(t, log, store, store)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := n.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(100)}); err != nil {
			t.Fatal(err)
		}
	}
	// a's prompt is queued and activated with no manager running; a dies
	// before the payment.
	hold, err := n.accounts.Do(ctx, "a", "", agent.PlaceHold{HoldID: "p-a", AmountMicros: events.Credits(90),
		Purpose: events.PurposePrompt, Prompt: &events.PromptTerms{Content: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	tr := func(seq uint64) events.Trigger { return events.Trigger{Manager: attention.ManagerName, Seq: seq} }
	q := n.ask(t, events.KindAttention, events.SlotID, attention.Queue{PromptID: "p-a", AgentID: "a", Content: "a",
		AmountMicros: events.Credits(90), PlacedAt: epoch, Trigger: tr(hold.Seq)})
	n.ask(t, events.KindAttention, events.SlotID, attention.Activate{At: epoch, Trigger: tr(q.Seq)})
	if _, err := n.accounts.Do(ctx, "a", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	n.run()
	defer n.crash(t)
	n.settle(t, log)
	if c := count(t, log); c["payment_refused"] != 1 || c["prompts_dropped"] != 1 || c["hold_posted"] != 0 {
		t.Fatalf("after a's death: %v", c)
	}
	if sl, _ := n.svc.Slot(ctx); sl.Active != nil || len(sl.Waiting) != 0 {
		t.Fatalf("slot after the unpaid prompt: %+v", sl)
	}

	// b's prompt activates at once; c's waits and expires.
	if _, _, _, err := n.svc.Place(ctx, "b", "", "b", events.Credits(60)); err != nil {
		t.Fatal(err)
	}
	id, status, pos, err := n.svc.Place(ctx, "c", "", "c", events.Credits(50))
	if err != nil || status != attention.StatusWaiting || pos != 1 {
		t.Fatalf("c's prompt: %s %s %d %v", id, status, pos, err)
	}
	if _, _, _, err := n.svc.Place(ctx, "c", "", "c", events.Credits(49)); err == nil {
		t.Fatal("a prompt below the attention price was placed")
	}
	if err := n.svc.Tick(ctx, time.Now()); err != nil { // not old enough: the price rises (a unit leased)
		t.Fatal(err)
	}
	if c, _ := n.accounts.Get(ctx, "c"); c.HeldMicros != events.Credits(50) {
		t.Fatalf("c before the expiry: %+v", c)
	}
	if err := n.svc.Tick(ctx, time.Now().Add(rules.Expiry)); err != nil {
		t.Fatal(err)
	}
	n.settle(t, log)
	if c, _ := n.accounts.Get(ctx, "c"); c.HeldMicros != 0 || c.BalanceMicros != events.Credits(100) {
		t.Fatalf("c after the expiry: %+v", c)
	}
	sl, _ := n.svc.Slot(ctx)
	if len(sl.Waiting) != 0 || sl.Active == nil {
		t.Fatalf("slot after the expiry: %+v", sl)
	}
	m, err := runtime.Inspect(ctx, n.host, events.KindMarket, attention.Resource, func(m market.Market) market.Market { return m })
	if err != nil {
		t.Fatal(err)
	}
	if m.PriceMicros != events.Credits(50)*121/100 || m.LeasedUnits != events.WholeUnits(1) {
		t.Fatalf("attention market after two busy ticks: price %s, leased %s; want 60.5 and 1", m.PriceMicros, m.LeasedUnits)
	}
	audit(t, log)
}
