package economy

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// openTest opens a whole economy, started, on an embedded server in a
// temporary directory; both stop at the end of the test.
func openTest(t *testing.T, ctx context.Context, opts ...Option) *Economy {
	t.Helper()
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	e, err := Open(n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	e.Start()
	return e
}

// TestTheDeathRuleReadsTheDirectory runs the end-of-cycle rule of a real
// economy: the accounts it reads from the directory read model hold what the
// account actors hold (status, available, open holds), and after a cycle
// the agent with nothing available, no hold and no execution is dead while
// the one whose credits are held by a bid and the one with credits live.
func TestTheDeathRuleReadsTheDirectory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := openTest(t, ctx)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	terms, amount, err := e.genesisFirstBid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for id, grant := range map[string]events.Micros{"rich": events.Credits(100), "broke": events.Credits(10), "bidder": amount} {
		if _, err := e.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: grant, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Accounts().Do(ctx, "broke", "", agent.Burn{AmountMicros: events.Credits(10), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Clearing().Place(ctx, "bidder", "", terms, amount); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	listed := e.standings()
	if len(listed) != 3 {
		t.Fatalf("the rule reads %d accounts: %+v; want 3", len(listed), listed)
	}
	for _, got := range listed {
		want, err := e.Accounts().Get(ctx, got.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want.Status || got.Available() != want.Available() || len(got.Holds) != len(want.Holds) ||
			len(want.Holds) > 0 && !maps.Equal(got.Holds, want.Holds) {
			t.Errorf("%s: the directory gives the rule %+v; the account holds %+v", got.ID, got, want)
		}
		if got.ID == "bidder" && (got.Available() != 0 || len(got.Holds) != 1) {
			t.Errorf("bidder: %+v; want nothing available and one open hold", got)
		}
	}
	sched := e.Scheduler()
	sched.Clock = time.Now // Run sets it; Cycle alone does not
	if err := sched.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]agent.Status{"broke": agent.StatusDead, "bidder": agent.StatusAlive, "rich": agent.StatusAlive} {
		a, err := e.Accounts().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != want {
			t.Errorf("%s after the cycle: %s; want %s", id, a.Status, want)
		}
	}
}

// TestLedgerOnlyWiresNoMarkets: WithLedgerOnly wires the accounts and the
// transfer manager, which settles a transfer, and nothing of the clearing.
func TestLedgerOnlyWiresNoMarkets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := openTest(t, ctx, WithLedgerOnly())
	if e.Clearing() != nil || e.Markets() != nil || e.Directory() != nil {
		t.Fatal("a ledger-only economy wired the clearing or the read models")
	}
	for _, id := range []string{"a", "b"} {
		if _, err := e.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(10), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.Accounts().Transfer(ctx, "a", "t1", agent.Transfer{TransferID: "t1", To: "b", AmountMicros: events.Credits(3)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Transfers().WaitFloor(ctx, res.Seq); err != nil {
		t.Fatal(err)
	}
	b, err := e.Accounts().Get(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if b.BalanceMicros != events.Credits(13) {
		t.Fatalf("b holds %s after the transfer; want 13", b.BalanceMicros)
	}
}

// TestTheFoldResumesFromItsSnapshot: the economy fold agora run keeps gives
// a snapshot from which a fold of its own answers the same, and a snapshot
// it cannot read leaves a fold as it was.
func TestTheFoldResumesFromItsSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := openTest(t, ctx)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	terms, amount, err := e.genesisFirstBid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Accounts().Do(ctx, "bidder", "", agent.Create{GrantMicros: amount, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.Clearing().Place(ctx, "bidder", "", terms, amount); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := e.live.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := &liveEconomy{logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	back.Reset()
	if err := back.Restore(data); err != nil {
		t.Fatal(err)
	}
	want := e.live.Summary()
	if got := back.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored fold: %+v\nwant %+v", got, want)
	}
	if want.Agents != 1 || want.OpenBids != 1 {
		t.Fatalf("the fold holds %d agents and %d open bids; want the bidder and its bid", want.Agents, want.OpenBids)
	}
	if err := back.Restore([]byte(`{"format":99}`)); err == nil {
		t.Fatal("a snapshot of an unknown format restored")
	}
	if got := back.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("a refused snapshot changed the fold: %+v", got)
	}
}
