package economy

import (
	"context"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/events"
)

// TestTheSlotInTheEconomy: the economy wires the slot: a prompt placed
// through its service in the free slot is shown and paid before Place
// answers, the clearing schedule's beat moves the attention price with its
// utilization, the human's answer mints the reward, and the live fold (the
// audit's) and the read models agree.
func TestTheSlotInTheEconomy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := openTest(t, ctx)
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Accounts().Do(ctx, "a", "", agent.Create{GrantMicros: events.Credits(200), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// The slot is free: Place answers once the prompt is shown and paid,
	// never "waiting" for a prompt about to be shown.
	id, status, pos, err := e.Attention().Place(ctx, "a", "", "a market report", events.Credits(50))
	if err != nil {
		t.Fatal(err)
	}
	if status != attention.StatusActive || pos != 0 {
		t.Fatalf("the prompt placed in the free slot is %s at %d; want active at 0", status, pos)
	}
	if a, err := e.Accounts().Get(ctx, "a"); err != nil || a.BalanceMicros != events.Credits(150) || a.HeldMicros != 0 {
		t.Fatalf("a once its prompt is shown: %+v, %v; want 150 paid, nothing held", a, err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if active, _ := e.AttentionView().Queue(); active == nil || active.ID != id {
		t.Fatalf("active %+v; want %s shown", active, id)
	}
	sched := e.Scheduler()
	sched.Clock = time.Now
	if err := sched.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	price := func() events.Micros {
		for _, m := range e.MarketView().State().Markets {
			if m.Resource == attention.Resource {
				return m.PriceMicros
			}
		}
		t.Fatal("no attention market")
		return 0
	}
	if p := price(); p != events.Credits(55) {
		t.Fatalf("attention price after a busy cycle: %s; want 55", p)
	}
	if _, err := e.Attention().Answer(ctx, "", id, attention.Scores{Interesting: 2, Useful: 2, Understandable: 2}, "", false, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sched.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if p := price(); p != events.Credits(55)*9/10 {
		t.Fatalf("attention price after an idle cycle: %s; want 49.5", p)
	}
	a, err := e.Accounts().Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if a.BalanceMicros != events.Credits(200-50+300) {
		t.Fatalf("a holds %s; want 450", a.BalanceMicros)
	}
	s := e.live.Summary()
	if s.Attention.RewardedMicros != events.Credits(300) || s.MintedMicros != events.Credits(500) || s.BalanceMicros != a.BalanceMicros ||
		s.SkippedRecords != 0 {
		t.Fatalf("live fold: %+v", s)
	}
}
