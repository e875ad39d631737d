package clearing_test

import (
	"context"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/projections/economy"
)

// economyUnderTest is a host with accounts, the transfer and clearing
// managers and the clearing service, over one log and store.
type economyUnderTest struct {
	log      events.Log
	accounts *agent.Accounts
	svc      *clearing.Service
}

func start(t *testing.T, log events.Log, store events.Store) *economyUnderTest {
	t.Helper()
	host, err := runtime.NewHost(log, store, runtime.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acc := agent.NewAccounts(host)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	var mgr *runtime.ManagerRunner
	for _, m := range []runtime.Manager{agent.TransferManager(), clearing.Manager("main")} {
		mr, err := runtime.NewManagerRunner(m, host, log, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name == clearing.ManagerName {
			mgr = mr
		}
		go func() { mr.Run(ctx); done <- struct{}{} }()
	}
	svc, err := clearing.NewService(host, acc, mgr, "main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done; <-done; host.Stop() })
	return &economyUnderTest{log: log, accounts: acc, svc: svc}
}

func TestBidWinsPaysAndLeases(t *testing.T) {
	ctx := context.Background()
	e := start(t, memlog.New(), memlog.NewStore())
	terms := map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: events.WholeUnits(10), PriceMicros: events.Credits(1), MinPriceMicros: 1, MaxPriceMicros: events.Credits(100)},
		"memory_mb":   {SupplyUnits: events.WholeUnits(1000), PriceMicros: 10_000, MinPriceMicros: 1, MaxPriceMicros: events.Credits(1)},
	}
	rules := events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}
	if err := e.svc.Configure(ctx, terms, []string{"cpu_seconds", "memory_mb"}, rules, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"rich", "poor"} {
		if _, err := e.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(100)}); err != nil {
			t.Fatal(err)
		}
	}
	bundle := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(9), "memory_mb": events.WholeUnits(100)}}
	hi, st, err := e.svc.Place(ctx, "rich", "", bundle, events.Credits(20))
	if err != nil || st != clearing.StatusOpen {
		t.Fatalf("place: %v %s", err, st)
	}
	lo, _, err := e.svc.Place(ctx, "poor", "", bundle, events.Credits(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Place(ctx, "poor", "", bundle, events.Credits(1)); err == nil {
		t.Fatal("a bid below the reserve price was accepted")
	}
	cc, _, err := e.svc.Clear(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.Allocations) != 1 || cc.Allocations[0].BidID != hi {
		t.Fatalf("allocations %+v, want only %s", cc.Allocations, hi)
	}
	rich, _ := e.accounts.Get(ctx, "rich")
	if rich.BalanceMicros != events.Credits(80) || rich.HeldMicros != 0 {
		t.Fatalf("rich %+v", rich)
	}
	cpu, err := e.svc.Market(ctx, "cpu_seconds")
	if err != nil || cpu.LeasedUnits != events.WholeUnits(9) || cpu.PriceMicros <= events.Credits(1) {
		t.Fatalf("cpu market %+v %v", cpu, err)
	}
	if err := e.svc.Release(ctx, clearing.ExecutionID(hi), "exited"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Withdraw(ctx, "poor", "", lo); err != nil {
		t.Fatal(err)
	}
	poor, _ := e.accounts.Get(ctx, "poor")
	if poor.BalanceMicros != events.Credits(100) || poor.HeldMicros != 0 {
		t.Fatalf("poor %+v", poor)
	}
	cpu, _ = e.svc.Market(ctx, "cpu_seconds")
	if cpu.LeasedUnits != 0 {
		t.Fatalf("cpu still leased %s", cpu.LeasedUnits)
	}
	eco := economy.New()
	if err := e.log.Read(ctx, "events.>", 1, eco.Apply); err != nil {
		t.Fatal(err)
	}
}
