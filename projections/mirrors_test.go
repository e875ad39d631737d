package projections_test

import (
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/eventgen"
	attnview "github.com/agora-econ/agora/projections/attention"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
	"github.com/agora-econ/agora/projections/series"
)

// actorsFold is what the actors hold: each account, market and clearing
// book folded through its own Admit and Evolve, as each actor reads its
// log. A record its actor's Admit refuses is skipped.
type actorsFold struct {
	accounts map[string]agent.Account
	markets  map[string]market.Market
	books    map[string]clearing.Book
	slot     attention.Slot
}

func newActorsFold() *actorsFold {
	return &actorsFold{accounts: map[string]agent.Account{}, markets: map[string]market.Market{}, books: map[string]clearing.Book{},
		slot: attention.New(events.SlotID)}
}

func (f *actorsFold) account(id string) agent.Account {
	if a, ok := f.accounts[id]; ok {
		return a
	}
	return agent.New(id)
}

func (f *actorsFold) market(id string) market.Market {
	if m, ok := f.markets[id]; ok {
		return m
	}
	return market.New(id)
}

func (f *actorsFold) book(id string) clearing.Book {
	if b, ok := f.books[id]; ok {
		return b
	}
	return clearing.New(id)
}

// apply folds e into its actor and reports whether the actor admitted it.
func (f *actorsFold) apply(kind events.Kind, id string, e events.Event) bool {
	switch kind {
	case events.KindAgent:
		a := f.account(id)
		if agent.Admit(a, e) != nil {
			return false
		}
		f.accounts[id] = agent.Evolve(a, e)
	case events.KindMarket:
		m := f.market(id)
		if market.Admit(m, e) != nil {
			return false
		}
		f.markets[id] = market.Evolve(m, e)
	case events.KindClearing:
		b := f.book(id)
		if clearing.Admit(b, e) != nil {
			return false
		}
		f.books[id] = clearing.Evolve(b, e)
	case events.KindAttention:
		if attention.Admit(f.slot, e) != nil {
			return false
		}
		f.slot = attention.Evolve(f.slot, e)
	}
	return true
}

// mirrors are the read models fed as `agora run` feeds them: each record
// the economy fold admits, in log order.
type mirrors struct {
	bids    *bidbook.View
	markets *markets.View
	dir     *directory.View
	hist    *history.View
	inbox   *inbox.View
	slot    *attnview.View
	// series is the history read model, with limits small enough that
	// random runs thin it.
	series *series.View
}

func newMirrors(t *rapid.T) *mirrors {
	m, err := markets.New(3)
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.New(history.WithHistoryLengthMax(4), history.WithRecentLengthMax(6))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := series.New(series.WithWindowCycles(2), series.WithPointsMax(6), series.WithAgentPointsMax(5))
	if err != nil {
		t.Fatal(err)
	}
	return &mirrors{bids: bidbook.New(), markets: m, dir: directory.New(), hist: h, inbox: inbox.New(), slot: attnview.New(),
		series: sr}
}

func (m *mirrors) apply(t *rapid.T, rec events.Record) {
	for _, v := range []interface{ Apply(events.Record) error }{m.bids, m.markets, m.dir, m.hist, m.inbox, m.slot, m.series} {
		// The economy fold admitted the record: every view must apply it.
		if err := v.Apply(rec); err != nil {
			t.Fatalf("%T refuses record %d (%s), which the actors admit: %v", v, rec.Seq, rec.Envelope.Type, err)
		}
	}
}

// admittedTypes counts, over every run, the records of each type the
// actors admitted: a type never admitted is a type the equivalence never
// exercised.
var admittedTypes = struct {
	sync.Mutex
	n    map[string]int
	runs int
}{n: map[string]int{}}

// TestMirrorsAreTheActors drives random sequences of events of every type,
// every field drawn (eventgen), often shaped from what the actors hold so
// that they are admitted, through the actors' own Admit and Evolve and
// through the read models fed as the runner feeds them (the records the
// economy fold skips are skipped), and checks after every record that each
// read model answers what its actor holds: the bid book the clearing
// books' bids, the markets the markets' figures and the books' open bids,
// the directory and the history the accounts' balances and status.
func TestMirrorsAreTheActors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		admittedTypes.Lock()
		admittedTypes.runs++
		admittedTypes.Unlock()
		actors, eco, views := newActorsFold(), economy.New(), newMirrors(t)
		n := rapid.IntRange(200, 400).Draw(t, "records")
		for seq := uint64(1); seq <= uint64(n); seq++ {
			rec, kind, id, e := drawRecord(t, seq, actors)
			admitted := actors.apply(kind, id, e)
			_ = eco.Apply(rec) // a broken invariant is the audit's; skipping is the verdict
			if _, skipped := eco.SkippedRecord(seq); skipped == admitted {
				t.Fatalf("record %d (%s): the actor admits it %v, the economy fold skips it %v", seq, e.EventType(), admitted, skipped)
			}
			if !admitted {
				continue
			}
			admittedTypes.Lock()
			admittedTypes.n[e.EventType()]++
			admittedTypes.Unlock()
			views.apply(t, rec)
			checkMirrors(t, actors, views)
		}
	})
	admittedTypes.Lock()
	defer admittedTypes.Unlock()
	if admittedTypes.runs < 100 {
		// Fewer runs than rapid's default (-rapid.checks) may not reach
		// every type; the default always has in practice (the rarest,
		// lease_released, about 20 times).
		t.Logf("%d runs: too few to require every type admitted", admittedTypes.runs)
		return
	}
	for _, name := range events.Types() {
		if admittedTypes.n[name] == 0 {
			t.Errorf("no %s was ever admitted: the equivalence never exercised it", name)
		}
	}
}

// weighted is every event type, those that need others before them to be
// admitted (a hold posted needs a hold placed, a lease released a cycle
// that granted it) several times, and a death once for every four draws of
// the others, so that sequences get deep before their agents die.
var weighted = func() []reflect.Type {
	var out []reflect.Type
	for _, typ := range eventgen.Types() {
		switch reflect.Zero(typ).Interface().(events.Event).EventType() {
		case "agent_died":
			out = append(out, typ)
			continue
		case "hold_placed", "hold_posted", "hold_voided", "bid_listed", "cycle_cleared", "market_cleared", "execution_started":
			out = append(out, typ, typ, typ, typ, typ, typ, typ, typ)
		case "execution_released", "lease_released", "lease_renewed", "hold_increased", "execution_resumed",
			"message_delivered", "messages_read":
			for range 20 {
				out = append(out, typ)
			}
		}
		out = append(out, typ, typ, typ, typ)
	}
	return out
}()

// drawRecord draws the next record: an event of any type on the subjects
// of an actor of its kind, half the time shaped from what that actor
// holds.
func drawRecord(t *rapid.T, seq uint64, actors *actorsFold) (events.Record, events.Kind, string, events.Event) {
	e := eventgen.Draw(t, rapid.SampledFrom(weighted).Draw(t, "type"))
	kind := eventgen.Kinds[e.EventType()]
	id := rapid.SampledFrom(eventgen.IDs).Draw(t, "actor")
	if kind == events.KindSystem {
		id = events.RecordsID
	}
	if kind == events.KindAttention {
		id = events.SlotID // one slot
	}
	if rapid.IntRange(0, 3).Draw(t, "shaped") > 0 {
		e = shape(t, e, id, actors)
	}
	return eventgen.Record(t, seq, kind, id, e), kind, id, e
}

func checkMirrors(t *rapid.T, actors *actorsFold, v *mirrors) {
	checkBids(t, actors, v.bids)
	checkMarkets(t, actors, v.markets)
	checkAccounts(t, actors, v.dir, v.hist)
	checkInboxes(t, actors, v.inbox)
	checkSlot(t, actors, v.slot)
}

// checkSlot: the attention read model's active prompt and queue are the
// slot's, in the slot's order, and so are its counts.
func checkSlot(t *rapid.T, actors *actorsFold, view *attnview.View) {
	active, queue := view.Queue()
	s := actors.slot
	if (active == nil) != (s.Active == nil) || active != nil && !reflect.DeepEqual(*active, *s.Active) {
		t.Fatalf("attention: active %+v; the slot holds %+v", active, s.Active)
	}
	if want := s.Queue(); !reflect.DeepEqual(queue, want) {
		t.Fatalf("attention: queue %+v; the slot holds %+v", queue, want)
	}
	if c := view.Counts(); c.Waiting != len(s.Waiting) || c.Activations != s.Activations || c.Responses != s.Responses {
		t.Fatalf("attention: counts %+v; the slot holds %d waiting, %d activations, %d responses", c, len(s.Waiting), s.Activations, s.Responses)
	}
}

// checkInboxes: each inbox's unread messages are the ids its account holds
// unread, and a page of it hands out the unread ones first.
func checkInboxes(t *rapid.T, actors *actorsFold, view *inbox.View) {
	for _, id := range slices.Sorted(maps.Keys(actors.accounts)) {
		want := slices.Sorted(maps.Keys(actors.accounts[id].Unread))
		got := view.Unread(id)
		if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Fatalf("inbox: %s unread %v; the account holds %v", id, got, want)
		}
		page, _, err := view.Page(id, len(want)+1, "")
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range page {
			if m.Read() != (i >= len(want)) {
				t.Fatalf("inbox: %s message %d of a page (%s) read %v with %d unread", id, i, m.ID, m.Read(), len(want))
			}
		}
	}
}

// checkBids: the bid book pages exactly the books' open bids, in the
// clearing order, with their terms.
func checkBids(t *rapid.T, actors *actorsFold, view *bidbook.View) {
	var want []bidbook.Bid
	for _, pool := range slices.Sorted(maps.Keys(actors.books)) {
		for _, b := range actors.books[pool].Bids {
			want = append(want, bidbook.Bid{ID: b.ID, Pool: pool, AgentID: b.AgentID, BeneficiaryID: b.BeneficiaryID,
				Resources: b.Resources, AmountMicros: b.AmountMicros, PlacedAt: b.PlacedAt})
		}
	}
	slices.SortStableFunc(want, func(x, y bidbook.Bid) int {
		if c := bidbook.Order(x, y); c != 0 {
			return c
		}
		return compareStrings(x.Pool, y.Pool)
	})
	got := pageBids(t, view, "")
	if len(got) != len(want) || view.Count() != len(want) {
		t.Fatalf("bid book: %d bids paged, Count %d; the books hold %d", len(got), view.Count(), len(want))
	}
	for i := range want {
		if !sameBid(got[i], want[i]) {
			t.Fatalf("bid book, bid %d: %+v; the books hold %+v", i, got[i], want[i])
		}
	}
	for _, r := range eventgen.IDs {
		n := 0
		for _, b := range want {
			if b.Names(r) {
				n++
			}
		}
		if view.CountFor(r) != n || len(pageBids(t, view, r)) != n {
			t.Fatalf("bid book: CountFor(%s) %d, %d paged; the books hold %d", r, view.CountFor(r), len(pageBids(t, view, r)), n)
		}
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func sameBid(x, y bidbook.Bid) bool {
	return x.ID == y.ID && x.Pool == y.Pool && x.AgentID == y.AgentID && x.BeneficiaryID == y.BeneficiaryID &&
		x.AmountMicros == y.AmountMicros && x.PlacedAt.Equal(y.PlacedAt) && maps.Equal(x.Resources, y.Resources)
}

func pageBids(t *rapid.T, view *bidbook.View, resource string) []bidbook.Bid {
	var out []bidbook.Bid
	cursor := ""
	for range 1000 {
		page, next, err := view.Page(resource, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
	t.Fatal("paging does not end")
	return nil
}

// checkMarkets: each configured market's figures are the market actor's,
// its open bids the books' bids naming it, the cycle the books' latest.
func checkMarkets(t *rapid.T, actors *actorsFold, view *markets.View) {
	st := view.State()
	var cycle uint64
	active := map[string]int{}
	for _, b := range actors.books {
		cycle = max(cycle, b.Cycle)
		for _, bid := range b.Bids {
			for r := range bid.Resources {
				active[r]++
			}
		}
	}
	if st.Cycle != cycle {
		t.Fatalf("markets: cycle %d; the books cleared %d", st.Cycle, cycle)
	}
	var open []string
	for _, r := range slices.Sorted(maps.Keys(actors.markets)) {
		if actors.markets[r].Open() {
			open = append(open, r)
		}
	}
	if len(st.Markets) != len(open) {
		t.Fatalf("markets: %d shown; %d open", len(st.Markets), len(open))
	}
	for i, r := range open {
		m, got := actors.markets[r], st.Markets[i]
		if got.Resource != r || got.SupplyUnits != m.SupplyUnits || got.LeasedUnits != m.LeasedUnits ||
			got.PriceMicros != m.PriceMicros || got.ActiveBids != active[r] {
			t.Fatalf("market %s: %+v; the actor holds %+v with %d open bids", r, got, m, active[r])
		}
	}
}

// checkAccounts: the directory's records and the history's balances are
// the accounts'.
func checkAccounts(t *rapid.T, actors *actorsFold, dir *directory.View, hist *history.View) {
	var living []string
	var balance, held events.Micros
	for _, id := range slices.Sorted(maps.Keys(actors.accounts)) {
		a := actors.accounts[id]
		if b, seen := hist.Balance(id); !seen || b != a.BalanceMicros {
			t.Fatalf("history: balance of %s %s (seen %v); the account holds %s", id, b, seen, a.BalanceMicros)
		}
		if !a.Exists() {
			if dir.Exists(id) {
				t.Fatalf("directory: %s listed, never created", id)
			}
			continue
		}
		d, ok := dir.Get(id)
		if !ok || string(d.Status) != string(a.Status) || d.BalanceMicros != a.BalanceMicros || d.HeldMicros != a.HeldMicros ||
			d.GrantMicros != a.GrantedMicros || d.ReceivedMicros != a.ReceivedMicros || d.RewardMicros != a.RewardedMicros || d.SentMicros != a.SentMicros ||
			d.ExecutionCount != a.ExecutionCount || d.ExecutionsRunning != len(a.Executions) || d.ParentID != a.ParentID ||
			!slices.Equal(d.Command, a.Command) {
			t.Fatalf("directory: %s is %+v; the account is %+v", id, d, a)
		}
		if a.Status == agent.StatusAlive {
			living = append(living, id)
		}
		balance += a.BalanceMicros
		held += a.HeldMicros
	}
	if got := dir.Living("", 0); !slices.Equal(got, living) {
		t.Fatalf("directory: living %v; the accounts %v", got, living)
	}
	if tot := dir.Totals(); tot.BalanceMicros != balance || tot.HeldMicros != held || tot.Alive != len(living) {
		t.Fatalf("directory totals %+v; the accounts: balance %s, held %s, %d alive", tot, balance, held, len(living))
	}
}

// pick draws one of keys (sorted, for a deterministic draw), ok false when
// there is none.
func pick[V any](t *rapid.T, m map[string]V, label string) (string, bool) {
	if len(m) == 0 {
		return "", false
	}
	return rapid.SampledFrom(slices.Sorted(maps.Keys(m))).Draw(t, label), true
}

func credits(t *rapid.T, label string, lo, hi int64) events.Micros {
	return events.Micros(rapid.Int64Range(lo, hi).Draw(t, label)) * events.MicrosPerCredit
}

// shape rewrites some fields of e from what its actor holds, so that the
// actor admits it more often than a wholly random event: a raise of an
// open bid, a cycle allocating open bids within the supply, a death
// burning the balance. The fields not rewritten keep their drawn values.
func shape(t *rapid.T, e events.Event, id string, actors *actorsFold) events.Event {
	switch e := e.(type) {
	case events.AgentCreated:
		e.GrantMicros = credits(t, "grant", 0, 20)
		e.FundedMicros, e.InitialBid = 0, nil
		if rapid.IntRange(0, 3).Draw(t, "spawned") == 0 { // a spawned child, funded by its parent
			parent := rapid.SampledFrom(eventgen.IDs).Draw(t, "parent")
			e.ParentID, e.Lineage, e.GrantMicros, e.FundedMicros = parent, []string{parent}, 0, credits(t, "funded", 1, 20)
		}
		return e
	}
	if a := actors.account(id); a.Exists() {
		if s, ok := shapeAgent(t, e, a); ok {
			return s
		}
	}
	if s, ok := shapeSlot(t, e, actors.slot); ok {
		return s
	}
	if s, ok := shapeMarket(t, e, actors.market(id)); ok {
		return s
	}
	if s, ok := shapeBook(t, e, actors.book(id)); ok {
		return s
	}
	return e
}

func shapeAgent(t *rapid.T, e events.Event, a agent.Account) (events.Event, bool) {
	avail := a.Available()
	within := func(label string) events.Micros {
		if avail < events.MicrosPerCredit {
			return events.MicrosPerCredit
		}
		return credits(t, label, 1, int64(avail/events.MicrosPerCredit))
	}
	switch e := e.(type) {
	case events.TransferSent:
		e.AmountMicros = within("sent")
		return e, true
	case events.CreditsBurned:
		e.AmountMicros = within("burned")
		return e, true
	case events.HoldPlaced:
		e.AmountMicros = within("held")
		return e, true
	case events.HoldIncreased:
		h, ok := pick(t, a.Holds, "hold")
		if !ok {
			return e, false
		}
		e.HoldID, e.DeltaMicros = h, within("delta")
		e.AmountMicros = a.Holds[h] + e.DeltaMicros
		return e, true
	case events.HoldPosted:
		h, ok := pick(t, a.Holds, "hold")
		if !ok {
			return e, false
		}
		e.HoldID, e.ReleasedMicros = h, 0
		e.AmountMicros = a.Holds[h]
		return e, true
	case events.HoldVoided:
		h, ok := pick(t, a.Holds, "hold")
		if !ok {
			return e, false
		}
		e.HoldID, e.AmountMicros = h, a.Holds[h]
		return e, true
	case events.AgentDied:
		e.BurnedMicros, e.VoidedHolds = a.BalanceMicros, slices.Sorted(maps.Keys(a.Holds))
		return e, true
	case events.ChildSpawned:
		total := within("spawn")
		e.ChildID = "k-" + a.ID
		e.CostMicros = total / 2
		e.InitialCreditsMicros = total - e.CostMicros
		e.Lineage, e.InitialBid = append([]string{a.ID}, a.Lineage...), nil
		return e, true
	case events.ExecutionResumed:
		x, ok := pick(t, a.Executions, "execution")
		if !ok {
			return e, false
		}
		e.ExecutionID, e.Attempt = x, a.Executions[x].Attempts()+1
		return e, true
	case events.ExecutionEnded:
		x, ok := pick(t, a.Executions, "execution")
		if !ok {
			return e, false
		}
		e.ExecutionID = x
		return e, true
	case events.MessageSent:
		e.CostMicros, e.InboxLimit = within("cost"), rapid.IntRange(1, 4).Draw(t, "inbox limit")
		return e, true
	case events.HumanRewarded:
		e.AmountMicros = credits(t, "reward", 1, 5)
		return e, true
	case events.MessagesRead:
		if len(a.Unread) == 0 {
			return e, false
		}
		unread := slices.Sorted(maps.Keys(a.Unread))
		e.MessageIDs = unread[:rapid.IntRange(1, len(unread)).Draw(t, "read")]
		return e, true
	}
	return e, false
}

func shapeMarket(t *rapid.T, e events.Event, m market.Market) (events.Event, bool) {
	switch e := e.(type) {
	case events.MarketConfigured:
		e.SupplyUnits = events.Units(credits(t, "supply", 1, 8))
		e.MinPriceMicros = credits(t, "min price", 1, 2)
		e.PriceMicros = e.MinPriceMicros + credits(t, "price above min", 0, 2)
		e.MaxPriceMicros = e.PriceMicros + credits(t, "max above price", 0, 2)
		return e, true
	case events.MarketCleared:
		leased := m.LeasedUnits
		e.Released = nil
		for _, x := range m.LeaseIDs() {
			if rapid.Bool().Draw(t, "released "+x) {
				e.Released = append(e.Released, events.Lease{ExecutionID: x, Units: m.Leases[x]})
				leased -= m.Leases[x]
			}
		}
		var granted []events.Lease
		for _, l := range e.Granted {
			if _, held := m.Leases[l.ExecutionID]; held || l.Units <= 0 || leased+l.Units > m.SupplyUnits {
				continue
			}
			if slices.ContainsFunc(granted, func(g events.Lease) bool { return g.ExecutionID == l.ExecutionID }) {
				continue
			}
			granted = append(granted, l)
			leased += l.Units
		}
		if x := rapid.SampledFrom(eventgen.IDs).Draw(t, "granted"); len(granted) == 0 && leased < m.SupplyUnits {
			if _, held := m.Leases[x]; !held {
				granted = append(granted, events.Lease{ExecutionID: x, Units: m.SupplyUnits - leased})
			}
		}
		e.Granted = granted
		return e, true
	case events.LeaseReleased:
		x, ok := pick(t, m.Leases, "lease")
		if !ok {
			return e, false
		}
		e.ExecutionID, e.Units = x, m.Leases[x]
		return e, true
	case events.LeaseGranted:
		if _, held := m.Leases[e.ExecutionID]; held || m.LeasedUnits >= m.SupplyUnits {
			return e, false
		}
		e.Units = m.SupplyUnits - m.LeasedUnits
		return e, true
	}
	return e, false
}

// shapeSlot makes e an event the slot admits more often: a prompt of a
// fresh id queued, a waiting one raised, activated or dropped, the active
// one answered within the scores' range.
func shapeSlot(t *rapid.T, e events.Event, s attention.Slot) (events.Event, bool) {
	switch e := e.(type) {
	case events.PromptQueued:
		e.PromptID = "p-" + rapid.SampledFrom([]string{"1", "2", "3", "4", "5", "6"}).Draw(t, "prompt")
		e.AmountMicros = credits(t, "prompt amount", 1, 5)
		return e, true
	case events.PromptRaised:
		id, ok := pick(t, s.Waiting, "prompt")
		if !ok {
			return e, false
		}
		e.PromptID, e.AmountMicros = id, s.Waiting[id].AmountMicros+credits(t, "raise", 1, 3)
		return e, true
	case events.PromptActivated:
		if s.Active != nil || len(s.Waiting) == 0 {
			return e, false
		}
		p := s.Queue()[0]
		e.PromptID, e.AgentID, e.AmountMicros = p.ID, p.AgentID, p.AmountMicros
		return e, true
	case events.PromptAnswered:
		if s.Active == nil {
			return e, false
		}
		e.PromptID, e.AgentID = s.Active.ID, s.Active.AgentID
		e.Interesting, e.Useful, e.Understandable = rapid.IntRange(0, 10).Draw(t, "i"), rapid.IntRange(0, 10).Draw(t, "u"),
			rapid.IntRange(0, 10).Draw(t, "d")
		e.RewardMicros = credits(t, "reward", 0, 5)
		return e, true
	case events.PromptsDropped:
		e.Reason = rapid.SampledFrom([]string{events.DropWithdrawn, events.DropExpired, events.DropCancelled, events.DropUnpaid}).Draw(t, "reason")
		e.Prompts = nil
		if e.Reason == events.DropUnpaid {
			if s.Active == nil {
				return e, false
			}
			e.Prompts = []events.DroppedPrompt{{PromptID: s.Active.ID, AgentID: s.Active.AgentID, AmountMicros: s.Active.AmountMicros}}
			return e, true
		}
		for _, p := range s.Queue() {
			if rapid.Bool().Draw(t, "drops "+p.ID) {
				e.Prompts = append(e.Prompts, events.DroppedPrompt{PromptID: p.ID, AgentID: p.AgentID, AmountMicros: p.AmountMicros})
			}
		}
		return e, true
	}
	return e, false
}

func shapeBook(t *rapid.T, e events.Event, b clearing.Book) (events.Event, bool) {
	switch e := e.(type) {
	case events.BookConfigured:
		for r, m := range e.Markets {
			m.SupplyUnits = events.Units(credits(t, "supply", 1, 8))
			e.Markets[r] = m
		}
		return e, true
	case events.BidListed:
		// A bundle of the book's markets, within their supply.
		e.Resources = map[string]events.Units{}
		for _, r := range slices.Sorted(maps.Keys(b.Markets)) {
			if m := b.Markets[r]; !m.Retired && rapid.Bool().Draw(t, "names "+r) {
				e.Resources[r] = events.Units(rapid.Int64Range(1, max(1, int64(m.SupplyUnits))).Draw(t, "units "+r))
			}
		}
		return e, true
	case events.BidRaised:
		id, ok := pick(t, b.Bids, "bid")
		if !ok {
			return e, false
		}
		e.BidID, e.AmountMicros = id, b.Bids[id].AmountMicros+credits(t, "raise", 1, 3)
		return e, true
	case events.BidWithdrawn:
		id, ok := pick(t, b.Bids, "bid")
		if !ok {
			return e, false
		}
		e.BidID, e.AgentID, e.AmountMicros = id, b.Bids[id].AgentID, b.Bids[id].AmountMicros
		return e, true
	case events.BidsCancelled:
		// A dead agent's own bids, and those others placed for it.
		e.BidIDs, e.Sponsored = nil, nil
		for _, id := range slices.Sorted(maps.Keys(b.Bids)) {
			switch bid := b.Bids[id]; {
			case bid.AgentID == e.AgentID:
				e.BidIDs = append(e.BidIDs, id)
			case bid.BeneficiaryID == e.AgentID:
				e.Sponsored = append(e.Sponsored, events.BidRef{BidID: id, AgentID: bid.AgentID})
			}
		}
		return e, true
	case events.CycleCleared:
		return shapeCycle(t, e, b), true
	case events.ExecutionReleased:
		x, ok := pick(t, b.Executions, "execution")
		if !ok {
			return e, false
		}
		e.ExecutionID, e.BidID, e.Resources = x, b.Executions[x].BidID, b.Executions[x].Resources
		return e, true
	case events.LeaseRenewed:
		x, ok := pick(t, b.Executions, "execution")
		if !ok {
			return e, false
		}
		e.ExecutionID = x
		e.At = b.Executions[x].At.Add(time.Duration(rapid.IntRange(1, 3).Draw(t, "renewed after")) * time.Second)
		return e, true
	}
	return e, false
}

// shapeCycle makes e the next cycle of b: some running executions expire,
// and some open bids whose bundles fit what is left of the supply win.
func shapeCycle(t *rapid.T, e events.CycleCleared, b clearing.Book) events.CycleCleared {
	e.Cycle = b.Cycle + 1
	leased := map[string]events.Units{}
	for r, m := range b.Markets {
		leased[r] = m.LeasedUnits
	}
	e.Expired = nil
	for _, x := range slices.Sorted(maps.Keys(b.Executions)) {
		if rapid.Bool().Draw(t, "expires "+x) {
			e.Expired = append(e.Expired, x)
			for r, u := range b.Executions[x].Resources {
				leased[r] -= u
			}
		}
	}
	e.Allocations = nil
	for _, id := range slices.Sorted(maps.Keys(b.Bids)) {
		bid := b.Bids[id]
		x := clearing.ExecutionID(id)
		if _, running := b.Executions[x]; running || rapid.IntRange(0, 3).Draw(t, "wins "+id) == 0 {
			continue
		}
		fits := true
		for r, u := range bid.Resources {
			m, ok := b.Markets[r]
			fits = fits && ok && !m.Retired && leased[r]+u <= m.SupplyUnits
		}
		if !fits {
			continue
		}
		for r, u := range bid.Resources {
			leased[r] += u
		}
		e.Allocations = append(e.Allocations, events.Allocation{BidID: id, ExecutionID: x, AgentID: bid.AgentID,
			BeneficiaryID: bid.Runner(), Resources: bid.Resources, AmountMicros: bid.AmountMicros, Payload: bid.Payload})
	}
	return e
}
