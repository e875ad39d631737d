package directory_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/directory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// economy appends agent events to a log the way the agent actors do: with
// the expected last sequence of each agent's subjects.
type economy struct {
	t    testing.TB
	log  events.Log
	last map[string]uint64
	seq  uint64
}

func newEconomy(t testing.TB, log events.Log) *economy {
	return &economy{t: t, log: log, last: map[string]uint64{}}
}

func (e *economy) append(agent string, ev events.Event) uint64 {
	e.t.Helper()
	env, err := events.Encode(events.KindAgent, agent, ev, events.Meta{Time: timeOf(e.seq + 1)})
	if err != nil {
		e.t.Fatal(err)
	}
	seq, err := e.log.Append(context.Background(), events.Filter(events.KindAgent, agent), e.last[agent], env)
	if err != nil {
		e.t.Fatal(err)
	}
	e.last[agent], e.seq = seq, seq
	return seq
}

// story is a small economy: a parent and its child, a transfer, a bid won
// and run, a burn and a death.
func (e *economy) story(round int) {
	p, c := fmt.Sprintf("p%d", round), fmt.Sprintf("c%d", round)
	e.append(p, created(100))
	e.append(c, child(p, 10))
	e.append(p, events.TransferSent{TransferID: "t1-" + p, ToAgentID: c, AmountMicros: cr(30)})
	e.append(c, events.TransferReceived{TransferID: "t1-" + p, FromAgentID: p, AmountMicros: cr(30)})
	e.append(c, bidHold("b-"+c, 5))
	e.append(c, events.HoldPosted{HoldID: "b-" + c, AmountMicros: cr(5), ExecutionID: "x-b-" + c})
	e.append(c, started("x-b-"+c, c))
	e.append(c, ended("x-b-"+c, events.CauseExited, 0))
	e.append(p, events.CreditsBurned{AmountMicros: cr(1), Reason: "message"})
	e.append(c, events.AgentDied{Reason: "no bid, no future", BurnedMicros: cr(35)})
}

// snapshot is everything the view serves, for comparing two views.
type snapshot struct {
	agents map[string]directory.Agent
	list   []directory.Summary
	living []string
	totals directory.Totals
}

func snap(v *directory.View) snapshot {
	s := snapshot{agents: map[string]directory.Agent{}, list: v.List("", 0), living: v.Living("", 0), totals: v.Totals()}
	for _, sum := range s.list {
		s.agents[sum.ID], _ = v.Get(sum.ID)
	}
	return s
}

func TestRunnerFeedsTheView(t *testing.T) {
	log := memlog.New()
	defer log.Close()
	testRunnerFeedsTheView(t, log)
}

// TestRunnerFeedsTheViewFromJetStream is the same journey over the
// production log: an embedded JetStream server and ordered consumers.
func TestRunnerFeedsTheViewFromJetStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	_, js, _ := natstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	testRunnerFeedsTheView(t, log)
}

func testRunnerFeedsTheView(t *testing.T, log events.Log) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eco := newEconomy(t, log)
	eco.story(0)

	view := directory.New()
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	// Read your own write: the view includes the append once WaitFor returns.
	seq := eco.append("p0", events.CreditsBurned{AmountMicros: cr(2), Reason: "spawn"})
	if err := r.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	p, _ := view.Get("p0")
	if p.BalanceMicros != cr(100-30-1-2) || p.SpentMicros() != cr(33) || p.EarnedMicros() != cr(100) {
		t.Fatalf("p0 = %+v", p)
	}
	c, _ := view.Get("c0")
	if c.Status != directory.StatusDead || c.ExecutionCount != 1 || c.LastExecution == nil || c.LastExecution.Cause != events.CauseExited ||
		c.BidsWon != 1 || c.EarnedMicros() != cr(40) || c.SpentMicros() != cr(5) || c.Lineage[0] != "p0" {
		t.Fatalf("c0 = %+v", c)
	}
	if live := view.Living("", 0); len(live) != 1 || live[0] != "p0" || view.Count() != 2 {
		t.Fatalf("living %v, count %d", live, view.Count())
	}
	tot := view.Totals()
	if tot.CirculatingMicros() != cr(110-5-1-35-2) || tot.CirculatingMicros() != tot.BalanceMicros {
		t.Fatalf("totals %+v", tot)
	}

	// Rebuilding from sequence 1 gives the same view.
	before := snap(view)
	if err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if after := snap(view); !reflect.DeepEqual(before, after) {
		t.Fatalf("rebuilt view differs:\nbefore %+v\nafter  %+v", before, after)
	}

	// A one-shot reader catching up on the log sees the same view too.
	oneShot := directory.New()
	r2, err := projections.NewRunner(log, oneShot)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := snap(oneShot); !reflect.DeepEqual(before, got) {
		t.Fatalf("caught-up view differs:\nwant %+v\ngot  %+v", before, got)
	}
}

// TestReadersDuringApply lets readers query the view while the runner
// applies; the race detector checks the locking.
func TestReadersDuringApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := memlog.New()
	defer log.Close()
	eco := newEconomy(t, log)
	view := directory.New()
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

	var wg sync.WaitGroup
	readCtx, stopReading := context.WithCancel(ctx)
	for range 4 {
		wg.Go(func() {
			for readCtx.Err() == nil {
				for _, s := range view.List("", 0) {
					if a, ok := view.Get(s.ID); ok && a.Lineage != nil {
						_ = a.Lineage[0]
					}
				}
				_ = view.Living("", 3)
				_ = view.Totals()
				_ = view.Count()
			}
		})
	}
	var last uint64
	for i := range 20 {
		eco.story(i)
		last = eco.seq
	}
	if err := r.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	stopReading()
	wg.Wait()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if view.Count() != 40 || len(view.Living("", 0)) != 20 {
		t.Fatalf("count %d, living %d", view.Count(), len(view.Living("", 0)))
	}
}
