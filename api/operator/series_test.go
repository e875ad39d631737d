package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/series"
)

// decode reads a 200 answer into v, exactly (money and units as given).
func decode[T any](t *testing.T, e *economyForTest, a answer) T {
	t.Helper()
	e.ok(a)
	var v T
	if err := json.Unmarshal(a.Body, &v); err != nil {
		t.Fatalf("%v: %s", err, a.Body)
	}
	return v
}

// historyEconomy runs a few cycles of a real economy: a bid that leases
// most of cpu_seconds (so its price climbs), a transfer, a grant, a second
// bid, cycles with the leases held, and a death.
func historyEconomy(t *testing.T) *economyForTest {
	e := startEconomy(t)
	ctx := context.Background()
	e.create("genesis", 1000)
	e.create("alice", 1000)
	e.create("bob", 100)
	bid := func(id string, cpu, amount int) {
		e.ok(e.admin("POST", "/admin/agents/"+id+"/bids",
			map[string]any{"resources": map[string]any{"cpu_seconds": cpu, "memory_mb": 64}, "amount": amount},
			"Idempotency-Key", fmt.Sprintf("bid-%s-%d", id, amount)))
	}
	cycle := func() {
		e.settle()
		if _, _, err := e.clearing.Clear(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		e.settle()
	}
	bid("alice", 85, 450)
	cycle()
	e.do("genesis", agent.Transfer{TransferID: "t-1", To: "bob", AmountMicros: events.Credits(7)})
	e.ok(e.admin("POST", "/admin/agents/bob/fund", map[string]any{"amount": 3}, "Idempotency-Key", "fund-bob"))
	bid("bob", 10, 80)
	cycle()
	cycle()
	cycle()
	e.ok(e.admin("POST", "/admin/agents/bob/kill", nil, "Idempotency-Key", "kill-bob"))
	cycle()
	return e
}

// wholeLog is the log's records, whole.
func (e *economyForTest) wholeLog() []events.Record {
	e.t.Helper()
	var recs []events.Record
	if err := e.log.Read(context.Background(), projections.Filter, 1, func(r events.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return recs
}

// TestHistoryIsWhatTheEconomyWas: after several cycles of a real economy,
// each market's series is what its market_cleared events published, one
// point a cycle; the economy's is what the economy fold held at each
// cycle_cleared; each agent's is its balance after every event that moved
// it, as the fold has it, ending with the account's balance (0 for the
// dead). A view folded from the log, and one restored from the live one's
// snapshot, answer the same. Pages put a series back together.
func TestHistoryIsWhatTheEconomyWas(t *testing.T) {
	e := historyEconomy(t)
	recs := e.wholeLog()

	// What the markets published, and the economy fold at each record.
	published := map[string][]operator.MarketHistoryPoint{}
	wantEconomy := []operator.EconomyHistoryPoint{}
	wantAgents := map[string][]operator.AgentHistoryPoint{}
	fold := economy.New()
	for _, r := range recs {
		kind, id, _ := events.ActorOf(r)
		before := fold.Accounts[id]
		if err := fold.Apply(r); err != nil {
			t.Fatalf("the log breaks an invariant: %v", err)
		}
		ev, err := events.Read(r)
		if err != nil {
			t.Fatal(err)
		}
		switch ev := ev.(type) {
		case events.MarketCleared:
			published[id] = append(published[id], operator.MarketHistoryPoint{Cycle: ev.Cycle, Seq: r.Seq, At: r.Envelope.Time,
				PriceMicros: int64(ev.NewPriceMicros), Supply: system.Units(ev.SupplyUnits), Leased: system.Units(ev.LeasedUnits),
				Utilization: system.Units(events.Units(ev.UtilizationPPM))})
		case events.CycleCleared:
			s := fold.Summary()
			wantEconomy = append(wantEconomy, operator.EconomyHistoryPoint{Cycle: ev.Cycle, Seq: r.Seq, At: r.Envelope.Time,
				Alive: s.AgentsAlive, Dead: s.Agents - s.AgentsAlive, Total: s.Agents, MintedMicros: int64(s.MintedMicros),
				BurnedMicros: int64(s.BurnedMicros), InFlightMicros: int64(s.InFlightMicros), BalanceMicros: int64(s.BalanceMicros),
				HeldMicros: int64(s.HeldMicros)})
		}
		if after := fold.Accounts[id]; kind == events.KindAgent && (after.BalanceMicros != before.BalanceMicros || !before.Exists()) {
			wantAgents[id] = append(wantAgents[id], operator.AgentHistoryPoint{Seq: r.Seq, At: r.Envelope.Time,
				Cycle: cycleAt(fold), BalanceMicros: int64(after.BalanceMicros),
				DeltaMicros: int64(after.BalanceMicros - before.BalanceMicros), Cause: r.Envelope.Type})
		}
	}

	markets := decode[operator.MarketsHistory](t, e, e.admin("GET", "/admin/history/markets", nil))
	if len(markets.Markets) != len(testMarkets) {
		t.Fatalf("%d markets: %+v", len(markets.Markets), markets)
	}
	prices := map[int64]bool{}
	for _, m := range markets.Markets {
		if want := published[m.Market]; !samePoints(m.Points, want) || m.NextSinceCycle != 0 {
			t.Fatalf("%s: the series\n%+v\nthe market_cleared events\n%+v", m.Market, m.Points, want)
		}
		if m.Market == "cpu_seconds" {
			for _, p := range m.Points {
				prices[p.PriceMicros] = true
			}
			if len(m.Points) != 5 {
				t.Fatalf("cpu_seconds: %d points for 5 cycles", len(m.Points))
			}
		}
	}
	if len(prices) < 3 {
		t.Fatalf("the price of cpu_seconds took %d values over 5 cycles: the test moves nothing", len(prices))
	}
	eco := decode[operator.EconomyHistory](t, e, e.admin("GET", "/admin/history/economy", nil))
	if !samePoints(eco.Points, wantEconomy) || len(eco.Points) != 5 {
		t.Fatalf("the economy's series\n%+v\nthe fold at each cycle\n%+v", eco.Points, wantEconomy)
	}
	if last := eco.Points[len(eco.Points)-1]; last.Dead != 1 || last.Alive != 2 || last.MintedMicros != int64(events.Credits(2103)) {
		t.Fatalf("the last cycle: %+v; want bob dead, 2103 minted", last)
	}
	for _, id := range []string{"genesis", "alice", "bob"} {
		got := decode[operator.AgentHistory](t, e, e.admin("GET", "/admin/agents/"+id+"/history", nil))
		if got.AgentID != id || !samePoints(got.Points, wantAgents[id]) {
			t.Fatalf("%s: the series\n%+v\nthe fold\n%+v", id, got.Points, wantAgents[id])
		}
		last := got.Points[len(got.Points)-1]
		if acct := e.account(id); last.BalanceMicros != int64(acct.BalanceMicros) {
			t.Fatalf("%s: the series ends at %d, the account holds %s", id, last.BalanceMicros, acct.BalanceMicros)
		}
	}
	bob := decode[operator.AgentHistory](t, e, e.admin("GET", "/admin/agents/bob/history", nil))
	var causes []string
	for _, p := range bob.Points {
		causes = append(causes, p.Cause)
	}
	for _, c := range []string{"agent_created", "transfer_received", "credits_granted", "hold_posted", "agent_died"} {
		if !slices.Contains(causes, c) {
			t.Fatalf("bob's causes %v lack %s", causes, c)
		}
	}
	if causes[len(causes)-1] != "agent_died" || bob.Points[len(bob.Points)-1].BalanceMicros != 0 {
		t.Fatalf("bob's series does not end at its death: %+v", bob.Points)
	}

	// Rebuilt from the log, and restored from the live view's snapshot:
	// the same answers.
	rebuilt, _ := series.New()
	r, err := projections.NewRunner(e.log, rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := e.series.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored, _ := series.New()
	if err := restored.Restore(data); err != nil {
		t.Fatal(err)
	}
	live := answers(t, e.series)
	for name, v := range map[string]*series.View{"rebuilt": rebuilt, "restored": restored} {
		if got := answers(t, v); got != live {
			t.Fatalf("%s:\n%s\nlive:\n%s", name, got, live)
		}
	}

	// Pages of one point put the series back together.
	var paged []operator.MarketHistoryPoint
	since := uint64(0)
	for range 10 {
		page := decode[operator.MarketsHistory](t, e, e.admin("GET", fmt.Sprintf("/admin/history/markets?market=cpu_seconds&limit=2&since_cycle=%d", since), nil))
		if len(page.Markets) != 1 || page.Markets[0].Market != "cpu_seconds" {
			t.Fatalf("?market=cpu_seconds: %+v", page)
		}
		paged = append(paged, page.Markets[0].Points...)
		if since = page.Markets[0].NextSinceCycle; since == 0 {
			break
		}
	}
	if !samePoints(paged, published["cpu_seconds"]) {
		t.Fatalf("paged %+v", paged)
	}
	tail := decode[operator.EconomyHistory](t, e, e.admin("GET", "/admin/history/economy?since_cycle=3&limit=1", nil))
	if len(tail.Points) != 1 || tail.Points[0].Cycle != 4 || tail.NextSinceCycle != 4 {
		t.Fatalf("economy after cycle 3: %+v", tail)
	}
	alice := decode[operator.AgentHistory](t, e, e.admin("GET", "/admin/agents/alice/history", nil))
	after := decode[operator.AgentHistory](t, e, e.admin("GET", fmt.Sprintf("/admin/agents/alice/history?since_seq=%d", alice.Points[0].Seq), nil))
	if !samePoints(after.Points, alice.Points[1:]) {
		t.Fatalf("alice after her first point: %+v", after)
	}
}

// TestHistoryRoutesRefuseBadQueries: 422 problems naming the parameter,
// 404 for an unknown market or agent, 401 without the token; nothing in
// the log changes.
func TestHistoryRoutesRefuseBadQueries(t *testing.T) {
	e := startEconomy(t)
	e.create("alice", 10)
	e.settle()
	last := e.lastSeq()
	for _, q := range []struct{ path, word string }{
		{"/admin/history/markets?since_cycle=-1", "since_cycle"},
		{"/admin/history/markets?since_cycle=abc", "since_cycle"},
		{"/admin/history/markets?limit=0", "limit"},
		{"/admin/history/markets?limit=5001", "limit"},
		{"/admin/history/markets?market=Not%20one", "market"},
		{"/admin/history/economy?since_cycle=1.5", "since_cycle"},
		{"/admin/history/economy?limit=-2", "limit"},
		{"/admin/agents/alice/history?since_seq=x", "since_seq"},
		{"/admin/agents/alice/history?limit=99999", "limit"},
		{"/admin/agents/Not%20one/history", "id"},
	} {
		e.problem(e.admin("GET", q.path, nil), http.StatusUnprocessableEntity, q.word)
	}
	e.problem(e.admin("GET", "/admin/history/markets?market=gold", nil), http.StatusNotFound, "gold")
	e.problem(e.admin("GET", "/admin/agents/nobody/history", nil), http.StatusNotFound, "nobody")
	for _, route := range []string{"/admin/history/markets", "/admin/history/economy", "/admin/agents/alice/history"} {
		e.problem(e.call("GET", route, "not-the-operator-token-at-all", nil), http.StatusUnauthorized)
	}
	// Markets configured and never cleared have a series, empty; an agent
	// without a change but its creation has that one point.
	m := decode[operator.MarketsHistory](t, e, e.admin("GET", "/admin/history/markets?market=tokens", nil))
	if len(m.Markets) != 1 || m.Markets[0].Points == nil || len(m.Markets[0].Points) != 0 {
		t.Fatalf("tokens before any cycle: %s", e.admin("GET", "/admin/history/markets?market=tokens", nil).Body)
	}
	a := decode[operator.AgentHistory](t, e, e.admin("GET", "/admin/agents/alice/history", nil))
	if len(a.Points) != 1 || a.Points[0].Cause != "agent_created" || a.Points[0].BalanceMicros != int64(events.Credits(10)) {
		t.Fatalf("alice: %+v", a)
	}
	if eco := e.admin("GET", "/admin/history/economy", nil); string(eco.Body) != `{"points":[]}`+"\n" && string(eco.Body) != `{"points":[]}` {
		t.Fatalf("the economy before any cycle: %s", eco.Body)
	}
	if e.lastSeq() != last {
		t.Fatal("a read wrote to the log")
	}
}

// cycleAt is the clearing's cycle in the fold.
func cycleAt(f *economy.Economy) uint64 {
	var c uint64
	for _, b := range f.Books {
		c = max(c, b.Cycle)
	}
	return c
}

// samePoints compares two series by their JSON, times included.
func samePoints[P any](got, want []P) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	return string(a) == string(b)
}

// answers is every answer a view gives, as the API writes them.
func answers(t *testing.T, v *series.View) string {
	t.Helper()
	ms, _ := v.Markets("", 0, operator.HistoryPointsMax)
	out := []any{operator.MarketsHistoryOf(ms), operator.EconomyHistoryOf(v.Economy(0, operator.HistoryPointsMax))}
	for _, id := range []string{"genesis", "alice", "bob"} {
		a, ok := v.Agent(id, 0, operator.HistoryPointsMax)
		if !ok {
			t.Fatalf("no %s", id)
		}
		out = append(out, operator.AgentHistoryOf(a))
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
