package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
)

// gatedLog holds the appends to one actor's subjects at a gate while it is
// armed: each held append reports on arrived and waits for its outcome on
// release (nil: it goes through; an error: nothing is written).
type gatedLog struct {
	*memlog.Log
	filter  string
	mu      sync.Mutex
	armed   bool
	arrived chan int // the number of events of a held append
	release chan error
}

func newGatedLog(id string) *gatedLog {
	return &gatedLog{Log: memlog.New(), filter: events.Filter(events.KindAgent, id),
		arrived: make(chan int), release: make(chan error)}
}

func (g *gatedLog) arm(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed = on
}

func (g *gatedLog) Append(ctx context.Context, filter string, expected uint64, envs ...events.Envelope) (uint64, error) {
	g.mu.Lock()
	held := g.armed && filter == g.filter
	g.mu.Unlock()
	if held {
		g.arrived <- len(envs)
		if err := <-g.release; err != nil {
			return 0, err
		}
	}
	return g.Log.Append(ctx, filter, expected, envs...)
}

// burnedTypes are the events a read made with them as Unaffected does not
// wait for: the balance such a read sees includes burns decided and not yet
// durable, which shows what an actor has decided.
var burnedTypes = []string{events.CreditsBurned{}.EventType()}

// decided reads agent id's balance as decided so far, durable or not.
func decided(t *testing.T, h *runtime.Host, id string) events.Micros {
	t.Helper()
	bal, err := runtime.InspectUnaffected(ctxT(t), h, events.KindAgent, id, burnedTypes,
		func(a agent.Account) events.Micros { return a.BalanceMicros })
	if err != nil {
		t.Fatal(err)
	}
	return bal
}

// burnAsync burns amount from id with key in the background.
func burnAsync(acc *agent.Accounts, ctx context.Context, id, key string, credits int64) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := acc.Do(ctx, id, key, agent.Burn{AmountMicros: events.Credits(credits), Reason: "test"})
		done <- err
	}()
	return done
}

// waitDecided waits until the commands sent to id are decided: the balance
// a read that ignores burns sees has dropped to want. (It loops on the
// actor's answers, not on time.)
func waitDecided(t *testing.T, h *runtime.Host, id string, want events.Micros) {
	t.Helper()
	for decided(t, h, id) != want {
		if ctxT(t).Err() != nil {
			t.Fatalf("balance of %s never reached %s", id, want)
		}
	}
}

// TestPipelinedCommit: while an actor's append is on its way to the log,
// the actor decides the next commands (on the state the first leaves) and
// answers the reads those commands do not concern; the reads they do
// concern wait until they are durable. Every command is answered once its
// event is durable.
func TestPipelinedCommit(t *testing.T) {
	log := newGatedLog("a")
	h, acc := newHost(t, log, nil, runtime.Options{PipelineMin: 1})
	create(t, acc, "a", 100)
	log.arm(true)
	first := burnAsync(acc, ctxT(t), "a", "k1", 1)
	if n := <-log.arrived; n != 1 {
		t.Fatalf("first append carries %d events, want 1", n)
	}
	log.arm(false)
	second, third := burnAsync(acc, ctxT(t), "a", "k2", 2), burnAsync(acc, ctxT(t), "a", "k3", 3)
	// Decided while the first is held: the actor did not wait for it.
	waitDecided(t, h, "a", events.Credits(94))
	// A read the burns concern is answered once they are durable: when it
	// returns, the log holds them.
	read := make(chan int, 1)
	go func() {
		a, err := acc.Get(ctxT(t), "a")
		if err != nil {
			t.Error(err)
		}
		if a.BalanceMicros != events.Credits(94) {
			t.Errorf("a read that waits for the burns sees %s, want 94", a.BalanceMicros)
		}
		read <- countTypes(records(t, log, "events.>"))["credits_burned"]
	}()
	log.release <- nil
	for i, done := range []<-chan error{first, second, third} {
		if err := <-done; err != nil {
			t.Fatalf("burn %d: %v", i+1, err)
		}
	}
	if n := <-read; n != 3 {
		t.Fatalf("the read was answered with %d of the 3 burns durable", n)
	}
	if n := countTypes(records(t, log, "events.>"))["credits_burned"]; n != 3 {
		t.Fatalf("%d burns in the log, want 3", n)
	}
}

// TestPipelinedCommitFailure: the append on its way fails. Its command is
// answered with the error and written nowhere, and so is every command
// decided behind it (on a state that included its event); a read that
// waited for them sees the state reloaded from the log; retries with the
// same keys apply each command once. Snapshots fall due at every event
// (SnapshotEvery 1) while commands are decided and not durable: each is of
// the state its batch leaves and is saved only once that batch is durable,
// so that none ever holds an event that may be lost.
func TestPipelinedCommitFailure(t *testing.T) {
	log, store := newGatedLog("a"), memlog.NewStore()
	opts := runtime.Options{SnapshotEvery: 1, PipelineMin: 1}
	h, acc := newHost(t, log, store, opts)
	create(t, acc, "a", 100)

	// A first burn goes through while a second is decided behind it.
	log.arm(true)
	first := burnAsync(acc, ctxT(t), "a", "k1", 1)
	<-log.arrived
	second := burnAsync(acc, ctxT(t), "a", "k2", 2)
	waitDecided(t, h, "a", events.Credits(97))
	log.release <- nil
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-log.arrived // the second is held now
	decided(t, h, "a")
	if bal := snapshotBalance(t, store, "a"); bal != events.Credits(100) && bal != events.Credits(99) {
		t.Fatalf("snapshot holds a balance of %s: not durable", bal)
	}
	// A third command and a read arrive behind the held second.
	third := burnAsync(acc, ctxT(t), "a", "k3", 3)
	read := make(chan agent.Account, 1)
	go func() {
		a, err := acc.Get(ctxT(t), "a")
		if err != nil {
			t.Error(err)
		}
		read <- a
	}()
	log.arm(false)
	log.release <- errors.New("injected append failure")
	if err := <-second; !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("second burn: %v, want ErrUnavailable", err)
	}
	// The third failed with the second if it was decided behind it, and
	// applied if it arrived after the failure.
	if err := <-third; err != nil && !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("third burn: %v", err)
	}
	if a := <-read; a.BalanceMicros != events.Credits(99) && a.BalanceMicros != events.Credits(96) {
		t.Fatalf("a read behind the failed burn sees %s, want a durable balance (99, or 96 after the third)", a.BalanceMicros)
	}
	for i, key := range []string{"k1", "k2", "k3"} {
		if _, err := acc.Do(ctxT(t), "a", key, agent.Burn{AmountMicros: events.Credits(int64(i + 1)), Reason: "test"}); err != nil {
			t.Fatalf("retry %s: %v", key, err)
		}
	}
	if got := get(t, acc, "a").BalanceMicros; got != events.Credits(94) {
		t.Fatalf("balance %s, want 94", got)
	}
	if keys := byKey(records(t, log, "events.>")); keys["k1"] != 1 || keys["k2"] != 1 || keys["k3"] != 1 {
		t.Fatalf("keys written %v, want each once", keys)
	}
	eco := audit(t, log)
	h.Stop()
	freshEqualsReplayed(t, log, store, opts, eco, "a")
}

// snapshotBalance is the balance in agent id's snapshot.
func snapshotBalance(t *testing.T, store events.Store, id string) events.Micros {
	t.Helper()
	b, ok, err := store.Get(ctxT(t), snapshotKey(id))
	if err != nil || !ok {
		t.Fatalf("snapshot of %s: %v (found %v)", id, err, ok)
	}
	var snap struct {
		State agent.Account `json:"state"`
	}
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	return snap.State.BalanceMicros
}

// TestStopAnswersPipeline: a host stopped while an append is on its way
// and more commands are decided behind it appends and answers them all
// before the actor stops: none is left to time out.
func TestStopAnswersPipeline(t *testing.T) {
	log := newGatedLog("a")
	h, acc := newHost(t, log, nil, runtime.Options{PipelineMin: 1})
	create(t, acc, "a", 100)
	log.arm(true)
	var done []<-chan error
	done = append(done, burnAsync(acc, ctxT(t), "a", "k0", 1))
	<-log.arrived
	log.arm(false)
	for i := 1; i < 5; i++ {
		done = append(done, burnAsync(acc, ctxT(t), "a", fmt.Sprintf("k%d", i), 1))
	}
	waitDecided(t, h, "a", events.Credits(95))
	stopped := make(chan struct{})
	go func() {
		h.Stop()
		close(stopped)
	}()
	log.release <- nil
	for i, d := range done {
		if err := <-d; err != nil {
			t.Fatalf("burn %d: %v", i, err)
		}
	}
	<-stopped
	if n := countTypes(records(t, log, "events.>"))["credits_burned"]; n != 5 {
		t.Fatalf("%d burns in the log, want 5", n)
	}
}

// TestPeekNeverAheadOfTheLog: what an actor publishes of its state (Peek)
// follows its durable batches, never the commands decided behind them: a
// death decided while a burn is appended shows only once the death is
// durable, and not at all if its append fails.
func TestPeekNeverAheadOfTheLog(t *testing.T) {
	log := newGatedLog("a")
	h, acc := newHost(t, log, nil, runtime.Options{PipelineMin: 1})
	create(t, acc, "a", 100)
	status := func() any {
		v, _ := h.Peek(events.KindAgent, "a")
		if p, ok := v.(agent.Published); ok {
			return p.Status
		}
		return v
	}
	log.arm(true)
	burn := burnAsync(acc, ctxT(t), "a", "burn", 1)
	<-log.arrived
	die := make(chan error, 1)
	go func() {
		_, err := acc.Do(ctxT(t), "a", "die", agent.Die{Reason: "test"})
		die <- err
	}()
	// The death is decided behind the held burn (seen by a read that
	// waits for neither).
	for {
		st, err := runtime.InspectUnaffected(ctxT(t), h, events.KindAgent, "a",
			[]string{events.CreditsBurned{}.EventType(), events.AgentDied{}.EventType()},
			func(a agent.Account) agent.Status { return a.Status })
		if err != nil {
			t.Fatal(err)
		}
		if st == agent.StatusDead {
			break
		}
	}
	if v := status(); v != agent.StatusAlive {
		t.Fatalf("with the burn held and the death decided, Peek shows %v", v)
	}
	log.release <- nil
	if err := <-burn; err != nil {
		t.Fatal(err)
	}
	<-log.arrived // the death is held now
	if v := status(); v != agent.StatusAlive {
		t.Fatalf("with the burn durable and the death held, Peek shows %v", v)
	}
	log.arm(false)
	log.release <- errors.New("injected append failure")
	if err := <-die; !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("death: %v, want ErrUnavailable", err)
	}
	if v := status(); v != agent.StatusAlive {
		t.Fatalf("after the death failed, Peek shows %v", v)
	}
	if _, err := acc.Do(ctxT(t), "a", "die", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if v := status(); v != agent.StatusDead {
		t.Fatalf("after the death, Peek shows %v", v)
	}
}
