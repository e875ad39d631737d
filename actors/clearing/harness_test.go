package clearing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/projections/economy"
)

// The economy the property and crash tests run: three cleared markets and
// attention (a market only), small supplies so that bids compete.
var (
	testPool    = "main"
	testCleared = []string{"cpu_seconds", "memory_mb", "tokens"}
	testMarkets = map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: events.WholeUnits(10), PriceMicros: events.Credits(1), MinPriceMicros: 10_000, MaxPriceMicros: events.Credits(100)},
		"memory_mb":   {SupplyUnits: events.WholeUnits(1000), PriceMicros: 10_000, MinPriceMicros: 100, MaxPriceMicros: events.Credits(1)},
		"tokens":      {SupplyUnits: events.WholeUnits(10_000), PriceMicros: 1_000, MinPriceMicros: 10, MaxPriceMicros: 100_000},
		"attention":   {SupplyUnits: events.WholeUnits(1), PriceMicros: events.Credits(50), MinPriceMicros: events.Credits(1), MaxPriceMicros: events.Credits(500)},
	}
	testRules        = events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}
	testLeaseTimeout = time.Minute
)

// failer is what both *testing.T and *rapid.T offer.
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// node is one process of the economy: a host with the accounts, the book
// and the markets, the transfer and clearing managers, over a log and a
// store that outlive it.
type node struct {
	log      events.Log
	store    events.Store
	host     *runtime.Host
	accounts *agent.Accounts
	svc      *clearing.Service

	clearingMgr, transfersMgr   *runtime.ManagerRunner
	stopClearing, stopTransfers context.CancelFunc
	clearingDone, transfersDone chan error

	// agentSeq is the last agent record (events.agent.*.>) seen by
	// settle, scanned up to scanned.
	agentSeq, scanned uint64
}

// nodeOptions tune a node; the zero value is a plain one.
type nodeOptions struct {
	runtime runtime.Options
}

// boot starts a node and configures the book, as `agora run` does at every
// start (a no-op when nothing changed).
func boot(t failer, log events.Log, store events.Store, o nodeOptions) *node {
	t.Helper()
	host, err := runtime.NewHost(log, store, o.runtime, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{log: log, store: store, host: host, accounts: agent.NewAccounts(host),
		clearingDone: make(chan error, 1), transfersDone: make(chan error, 1)}
	n.transfersMgr, err = runtime.NewManagerRunner(agent.TransferManager(), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.clearingMgr, err = runtime.NewManagerRunner(clearing.Manager(testPool), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every actor kind is registered before a manager runs: a reaction to
	// a kind not registered yet is rejected, and a rejection is final.
	n.svc, err = clearing.NewService(host, n.accounts, n.clearingMgr, testPool)
	if err != nil {
		t.Fatal(err)
	}
	transfersCtx, stopTransfers := context.WithCancel(context.Background())
	clearingCtx, stopClearing := context.WithCancel(context.Background())
	n.stopTransfers, n.stopClearing = stopTransfers, stopClearing
	go func() { n.transfersDone <- n.transfersMgr.Run(transfersCtx) }()
	go func() { n.clearingDone <- n.clearingMgr.Run(clearingCtx) }()
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.svc.Configure(cctx, testMarkets, testCleared, testRules, testLeaseTimeout, 0); err != nil {
		t.Fatal(err)
	}
	return n
}

// haltClearing stops the clearing manager and waits until it has.
func (n *node) haltClearing(t failer) {
	t.Helper()
	if n.stopClearing == nil {
		return
	}
	n.stopClearing()
	n.stopClearing = nil
	if err := <-n.clearingDone; err != nil {
		t.Fatalf("clearing manager: %v", err)
	}
}

// close stops the managers, then the host.
func (n *node) close(t failer) {
	t.Helper()
	n.haltClearing(t)
	if n.stopTransfers != nil {
		n.stopTransfers()
		n.stopTransfers = nil
		if err := <-n.transfersDone; err != nil {
			t.Fatalf("transfer manager: %v", err)
		}
	}
	n.host.Stop()
}

// settle waits until both managers have reacted to every record in the
// log, including the records their reactions wrote. Each manager is waited
// on with a sequence of the log: the clearing manager with the log's last,
// the transfer manager, which reacts to agent records only, with the last
// agent record (both follow events.>, so either sequence is one they see).
func (n *node) settle(t failer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		last, err := n.log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.clearingMgr.WaitFloor(ctx, last); err != nil {
			t.Fatalf("settle: clearing manager at %d of %d: %v", n.clearingMgr.Floor(), last, err)
		}
		err = n.log.Read(ctx, events.SubjectRoot+".agent.*.>", n.scanned+1, func(r events.Record) error {
			n.agentSeq = r.Seq
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		n.scanned = max(n.scanned, last)
		if err := n.transfersMgr.WaitFloor(ctx, n.agentSeq); err != nil {
			t.Fatalf("settle: transfer manager at %d of %d: %v", n.transfersMgr.Floor(), n.agentSeq, err)
		}
		now, err := n.log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now == last {
			return
		}
	}
}

// auditor folds the log incrementally through the audit: after each call
// every record so far has passed every check, exactly as a full `agora
// audit` would have, every actor's hash chain included.
type auditor struct {
	eco   *economy.Economy
	links chain.Verifier
	next  uint64
}

func newAuditor() *auditor { return &auditor{eco: economy.New(), next: 1} }

func (a *auditor) catchUp(t failer, log events.Log) *economy.Economy {
	t.Helper()
	err := log.Read(context.Background(), events.SubjectRoot+".>", a.next, func(r events.Record) error {
		a.next = r.Seq + 1
		if err := a.links.Check(r); err != nil {
			return err
		}
		return a.eco.Apply(r)
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if a.links.Unlinked != 0 {
		t.Fatalf("audit: %d events name no previous event", a.links.Unlinked)
	}
	return a.eco
}

// fullAudit folds the whole log from sequence 1.
func fullAudit(t failer, log events.Log) *economy.Economy {
	t.Helper()
	return newAuditor().catchUp(t, log)
}

func jsonOf(t failer, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameAsReplayed checks that the live actors hold exactly the replayed
// state: every account, every market, the book (SPEC.md section 4,
// invariant 7).
func (n *node) sameAsReplayed(t failer, eco *economy.Economy, agents []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range agents {
		live, err := n.accounts.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		replayed, ok := eco.Accounts[id]
		if !ok {
			replayed = agent.New(id)
		}
		if l, r := jsonOf(t, live), jsonOf(t, replayed); l != r {
			t.Fatalf("agent %s:\n live     %s\n replayed %s", id, l, r)
		}
	}
	for r := range testMarkets {
		live, err := runtime.Inspect(ctx, n.host, events.KindMarket, r, func(m market.Market) string { return jsonOf(t, m) })
		if err != nil {
			t.Fatal(err)
		}
		replayed, ok := eco.Markets[r]
		if !ok {
			t.Fatalf("market %s was never configured", r)
		}
		if want := jsonOf(t, replayed); live != want {
			t.Fatalf("market %s:\n live     %s\n replayed %s", r, live, want)
		}
		shown, err := n.svc.Market(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		replayed.Leases = nil
		if l, r := jsonOf(t, shown), jsonOf(t, replayed); l != r {
			t.Fatalf("Service.Market(%s):\n live     %s\n replayed %s", r, l, r)
		}
	}
	live, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) string { return jsonOf(t, b) })
	if err != nil {
		t.Fatal(err)
	}
	if want := jsonOf(t, eco.Books[testPool]); live != want {
		t.Fatalf("book:\n live     %s\n replayed %s", live, want)
	}
}

// createAgents opens the accounts with their grants.
func (n *node) createAgents(t failer, grant events.Micros, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := n.accounts.Do(context.Background(), id, "", agent.Create{GrantMicros: grant}); err != nil {
			t.Fatal(err)
		}
	}
}

// clearDirect appends the next cycle without waiting for any reaction: the
// decision alone, as it stands at a crash right after it. An idle cycle
// writes nothing: the zero event and sequence 0.
func (n *node) clearDirect(t failer, at time.Time) (events.CycleCleared, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cycle, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) uint64 { return b.Cycle })
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.host.Ask(ctx, events.KindClearing, testPool, runtime.Request{Command: clearing.Clear{Cycle: cycle + 1, At: at}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Event == nil {
		return events.CycleCleared{}, 0
	}
	cc, ok := res.Event.(events.CycleCleared)
	if !ok {
		t.Fatalf("clear wrote %T", res.Event)
	}
	return cc, res.Seq
}

// rejections are the typed errors a caller may get.
var rejections = []error{
	clearing.ErrBelowReserve, clearing.ErrInvalidBundle, clearing.ErrUnknownResource, clearing.ErrExceedsSupply,
	clearing.ErrBidNotOpen, clearing.ErrNotYourBid, clearing.ErrExecutionNotRunning, clearing.ErrBookFull,
	agent.ErrInsufficientCredits, agent.ErrUnknownAgent, agent.ErrAgentDead, agent.ErrAmountNotRaised,
	agent.ErrHoldNotOpen, agent.ErrTooManyHolds, agent.ErrTransferToSelf, events.ErrInvalidAmount,
	agent.ErrExecutionNotRunning,
}

// isTypedRejection reports whether err is one of the rejections.
func isTypedRejection(err error) bool { return rejection(err) != "untyped" }

// rejection names err's rejection: "ok" for nil, "untyped" for none.
func rejection(err error) string {
	if err == nil {
		return "ok"
	}
	for _, want := range rejections {
		if errors.Is(err, want) {
			return want.Error()
		}
	}
	return "untyped"
}

func requireTyped(t failer, what string, err error) {
	t.Helper()
	if err != nil && !isTypedRejection(err) {
		t.Fatalf("%s: untyped error %v", what, err)
	}
}

// outcomes counts, from the log, each allocation's payments (hold_posted
// of the bid by its bidder, and their amounts), refusals, and each
// execution's grants per market.
type outcomes struct {
	allocations map[string]events.Allocation // bid id -> allocation
	posted      map[string][]events.Micros   // bid id -> amounts posted
	refused     map[string]int
	granted     map[string]map[string]int // execution -> market -> grants
}

func readOutcomes(t failer, log events.Log) outcomes {
	t.Helper()
	o := outcomes{allocations: map[string]events.Allocation{}, posted: map[string][]events.Micros{},
		refused: map[string]int{}, granted: map[string]map[string]int{}}
	err := log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		_, id, _, _ := events.ParseSubject(r.Envelope.Subject)
		switch e := e.(type) {
		case events.CycleCleared:
			for _, a := range e.Allocations {
				if _, dup := o.allocations[a.BidID]; dup {
					return fmt.Errorf("bid %s allocated twice", a.BidID)
				}
				o.allocations[a.BidID] = a
			}
		case events.HoldPosted:
			if a, ok := o.allocations[e.HoldID]; ok && a.AgentID == id {
				o.posted[e.HoldID] = append(o.posted[e.HoldID], e.AmountMicros)
			}
		case events.PaymentRefused:
			o.refused[e.HoldID]++
		case events.MarketCleared:
			for _, l := range e.Granted {
				if o.granted[l.ExecutionID] == nil {
					o.granted[l.ExecutionID] = map[string]int{}
				}
				o.granted[l.ExecutionID][id]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// exactlyOnce checks that every allocation was paid exactly once for its
// amount (or refused once) and each of its leases recorded exactly once in
// each market of its bundle.
func (o outcomes) exactlyOnce(t failer) {
	t.Helper()
	for bid, a := range o.allocations {
		paid, refused := o.posted[bid], o.refused[bid]
		switch {
		case len(paid)+refused != 1:
			t.Fatalf("bid %s: %d payments %v and %d refusals, want exactly one outcome", bid, len(paid), paid, refused)
		case len(paid) == 1 && paid[0] != a.AmountMicros:
			t.Fatalf("bid %s won for %s, paid %s", bid, a.AmountMicros, paid[0])
		}
		for r := range a.Resources {
			if g := o.granted[a.ExecutionID][r]; g != 1 {
				t.Fatalf("execution %s leased %d times in %s, want once", a.ExecutionID, g, r)
			}
		}
		if len(o.granted[a.ExecutionID]) != len(a.Resources) {
			t.Fatalf("execution %s leased in %v, its bundle is %v", a.ExecutionID, o.granted[a.ExecutionID], a.Resources)
		}
	}
}

// withdrawBidsFor works around a known bug (testdata/beneficiary_died.txt,
// TestDeadBeneficiaryNeverRuns): the book keeps, and allocates, bids naming
// a dead beneficiary. Before who dies, the sponsors of such bids withdraw
// them. It does not wait for the clearing manager (which may be halted):
// the void of each sponsor's hold follows from the log.
func (n *node) withdrawBidsFor(t failer, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	open, err := clearing.Inspect(ctx, n.svc, func(b clearing.Book) []clearing.Bid {
		return slices.Collect(maps.Values(b.Bids))
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(open, clearing.Order)
	for _, b := range open {
		if b.BeneficiaryID == who && b.AgentID != who {
			_, err := n.host.Ask(ctx, events.KindClearing, testPool, runtime.Request{
				Command: clearing.WithdrawBid{BidID: b.ID, AgentID: b.AgentID, Reason: "beneficiary dies"}})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}
