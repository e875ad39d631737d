package economy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/series"
)

// seriesAnswers is everything the history read model answers, as JSON.
func seriesAnswers(t *testing.T, v *series.View, agents ...string) string {
	t.Helper()
	ms, _ := v.Markets("", 0, 1<<20)
	out := []any{ms, v.Economy(0, 1<<20)}
	for _, id := range agents {
		a, ok := v.Agent(id, 0, 1<<20)
		if !ok {
			t.Fatalf("no series for %s", id)
		}
		out = append(out, a)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTheHistoryIsAReadModelOfTheGroup: `agora run`'s history, over a dozen
// cycles with limits small enough to thin it, equals the log folded anew;
// after a clean stop the next start resumes it from the read models'
// snapshot, not from the first event, and it answers the same.
func TestTheHistoryIsAReadModelOfTheGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	cfg.History = config.History{WindowCycles: 3, PointsMax: 8, AgentPointsMax: 6}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func() (*Node, *Economy) {
		n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, logger)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(n)
		if err != nil {
			n.Close()
			t.Fatal(err)
		}
		e.Start()
		return n, e
	}
	n, e := open()
	if err := e.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	terms, amount, err := e.genesisFirstBid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sched := e.Scheduler()
	sched.Clock = time.Now
	var agents []string
	for i := range 12 {
		id := fmt.Sprintf("bidder%d", i)
		agents = append(agents, id)
		if _, err := e.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: amount + events.Credits(int64(i)), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.Clearing().Place(ctx, id, "", terms, amount); err != nil {
			t.Fatal(err)
		}
		if err := sched.Cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	live := seriesAnswers(t, e.Series(), agents...)
	if eco := e.Series().Economy(0, 100).Points; len(eco) > cfg.History.PointsMax || len(eco) < cfg.History.PointsMax/2 ||
		eco[len(eco)-1].Cycle != 12 || eco[0].Cycle != 1 {
		t.Fatalf("the economy's series over 12 cycles, at most %d points: %+v", cfg.History.PointsMax, eco)
	}

	rebuilt, err := series.New(series.WithWindowCycles(3), series.WithPointsMax(8), series.WithAgentPointsMax(6))
	if err != nil {
		t.Fatal(err)
	}
	r, err := projections.NewRunner(n.Log(), rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seriesAnswers(t, rebuilt, agents...); got != live {
		t.Fatalf("rebuilt from the log:\n%s\nlive:\n%s", got, live)
	}

	e.Stop()
	n.Close()
	n, e = open()
	defer n.Close()
	defer e.Stop()
	// A record after the restart: once it is applied, the group has
	// opened (restored) every view, so its figures are in.
	if _, err := e.Accounts().Do(ctx, "late", "", agent.Create{GrantMicros: events.Credits(1), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	resumed := false
	for _, s := range e.ReadModelStats() {
		if s.Name == "series" {
			resumed = s.Durable && s.From > 0
		}
	}
	if !resumed {
		t.Fatalf("the history after a restart: %+v; want it resumed from the snapshot", e.ReadModelStats())
	}
	if got := seriesAnswers(t, e.Series(), agents...); got != live {
		t.Fatalf("after a restart:\n%s\nbefore:\n%s", got, live)
	}
	if late, ok := e.Series().Agent("late", 0, 10); !ok || len(late.Points) != 1 || late.Points[0].Cause != "agent_created" {
		t.Fatalf("an agent created after the restart: %+v, %v", late, ok)
	}
}
