package history_test

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
	"github.com/agora-econ/agora/projections/history"
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

// story is a small economy: a grant, a transfer, a payment, a burn, a death
// and a bounced transfer returned.
func (e *economy) story(round int) {
	a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
	e.append(a, created(100))
	e.append(b, created(10))
	e.append(a, events.TransferSent{TransferID: "t1-" + a, ToAgentID: b, AmountMicros: cr(30), Memo: "thanks"})
	e.append(b, events.TransferReceived{TransferID: "t1-" + a, FromAgentID: a, AmountMicros: cr(30)})
	e.append(b, events.HoldPlaced{HoldID: "h-" + b, AmountMicros: cr(5), Purpose: "bid"})
	e.append(b, events.HoldPosted{HoldID: "h-" + b, AmountMicros: cr(5)})
	e.append(a, burned(1, "message cost"))
	e.append(b, events.AgentDied{Reason: "no bid", BurnedMicros: cr(35)})
	e.append(a, events.TransferSent{TransferID: "t2-" + a, ToAgentID: b, AmountMicros: cr(9)})
	e.append(b, events.TransferBounced{TransferID: "t2-" + a, FromAgentID: a, AmountMicros: cr(9), Reason: "recipient is dead"})
	e.append(a, events.TransferReturned{TransferID: "t2-" + a, ToAgentID: b, AmountMicros: cr(9)})
}

// snapshot is everything the view serves, for comparing two views.
type snapshot struct {
	recent   []history.Transaction
	agents   map[string][]history.Transaction
	balances map[string]events.Micros
}

func snap(v *history.View, agents ...string) snapshot {
	s := snapshot{recent: v.Recent(0), agents: map[string][]history.Transaction{}, balances: map[string]events.Micros{}}
	for _, id := range agents {
		s.agents[id] = v.ForAgent(id, 0)
		s.balances[id], _ = v.Balance(id)
	}
	return s
}

func newView(t testing.TB, opts ...history.Option) *history.View {
	t.Helper()
	v, err := history.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
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

	view := newView(t)
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
	seq := eco.append("a0", burned(2, "spawn cost"))
	if err := r.WaitFor(ctx, seq); err != nil {
		t.Fatal(err)
	}
	newest := view.ForAgent("a0", 1)
	if len(newest) != 1 || newest[0].Seq != seq || newest[0].BalanceAfterMicros != cr(100-30-1-9+9-2) {
		t.Fatalf("newest of a0 = %+v, want the burn at %d leaving 67", newest, seq)
	}
	if b, _ := view.Balance("b0"); b != 0 {
		t.Fatalf("balance of the dead b0 = %s, want 0", b)
	}
	kinds := []history.Kind{}
	for _, tx := range view.ForAgent("b0", 0) {
		kinds = append(kinds, tx.Kind)
	}
	wantKinds := []history.Kind{history.KindTransferBounced, history.KindDeathBurn, history.KindHoldPosted, history.KindTransferIn, history.KindGrant}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Fatalf("b0 kinds %v, want %v", kinds, wantKinds)
	}
	checkChained(t, view.Recent(0))

	// Rebuilding from sequence 1 gives the same view.
	before := snap(view, "a0", "b0")
	if err := r.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	if after := snap(view, "a0", "b0"); !reflect.DeepEqual(before, after) {
		t.Fatalf("rebuilt view differs:\nbefore %+v\nafter  %+v", before, after)
	}

	// A one-shot reader catching up on the log sees the same view too.
	oneShot := newView(t)
	r2, err := projections.NewRunner(log, oneShot)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.LastSeq() != seq {
		t.Fatalf("catch-up stopped at %d, want %d", r2.LastSeq(), seq)
	}
	if got := snap(oneShot, "a0", "b0"); !reflect.DeepEqual(before, got) {
		t.Fatalf("caught-up view differs:\nwant %+v\ngot  %+v", before, got)
	}
}

// TestReadersDuringApply lets readers query the view while the runner
// applies; the race detector checks the locking.
func TestReadersDuringApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := memlog.New()
	eco := newEconomy(t, log)
	view := newView(t, history.WithHistoryLengthMax(4), history.WithRecentLengthMax(8))
	r, err := projections.NewRunner(log, view)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()

	var wg sync.WaitGroup
	finished := make(chan struct{})
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-finished:
					return
				default:
				}
				for _, tx := range view.Recent(0) {
					_ = view.ForAgent(tx.AgentID, 2)
				}
				if len(view.Recent(0)) > 8 {
					t.Error("recent above its limit")
					return
				}
			}
		})
	}
	for round := range 20 {
		eco.story(round)
	}
	if err := r.WaitFor(ctx, eco.seq); err != nil {
		t.Fatal(err)
	}
	close(finished)
	wg.Wait()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := len(view.ForAgent("a19", 0)); got != 4 {
		t.Fatalf("a19 keeps %d transactions, want 4", got)
	}
	if b, _ := view.Balance("a19"); b != cr(100-30-1) {
		t.Fatalf("a19 balance %s, want 69", b)
	}
}
