package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections"
)

// counter is a Durable read model: how many records it holds and the sum
// of their sequences, plus padding that makes its snapshot as big as a
// test needs. applies counts the Apply calls since it was made (not part
// of its state): what a restart cost it.
type counter struct {
	mu      sync.Mutex
	State   counterState
	applies int
	refuse  bool // Restore refuses every snapshot
}

type counterState struct {
	Count   int    `json:"count"`
	SeqSum  uint64 `json:"seq_sum"`
	Padding string `json:"padding"`
}

func (c *counter) Apply(r events.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.State.Count++
	c.State.SeqSum += r.Seq
	c.applies++
	return nil
}

func (c *counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.State = counterState{Padding: c.State.Padding}
}

func (c *counter) Snapshot() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return json.Marshal(c.State)
}

func (c *counter) Restore(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refuse {
		return errors.New("a snapshot of another version")
	}
	return json.Unmarshal(b, &c.State)
}

func (c *counter) state() (counterState, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.State, c.applies
}

// want is the state of a counter that applied records 1..n.
func want(n uint64) (int, uint64) { return int(n), n * (n + 1) / 2 }

type jsNode struct {
	t     *testing.T
	js    jetstream.JetStream
	log   *natslog.Log
	store *natslog.Store
	app   *appender
}

func newJSNode(t *testing.T) *jsNode {
	t.Helper()
	_, js, _ := natstest.Start(t)
	n := &jsNode{t: t, js: js}
	n.openLog()
	var err error
	if n.store, err = natslog.NewStore(waitCtx(t), js, natslog.StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *jsNode) openLog() {
	l, err := natslog.Open(waitCtx(n.t), n.js, natslog.StreamOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(l.Close)
	n.log, n.app = l, &appender{t: n.t, log: l}
}

func (n *jsNode) burn(count int) uint64 {
	var last uint64
	for range count {
		last = n.app.burn()
	}
	return last
}

// views is one start of the read models: a durable counter and a
// recorder that is not durable, in one group on one Follower.
type views struct {
	durable *counter
	plain   *recorder
	dr, pr  *projections.Runner
	group   *projections.Group
	stop    func()
}

func startViews(t *testing.T, n *jsNode, o projections.GroupOptions, durable *counter) *views {
	t.Helper()
	v := &views{durable: durable, plain: &recorder{}}
	v.dr, v.pr = newRunner(t, n.log, v.durable), newRunner(t, n.log, v.plain)
	return v.start(t, n, o)
}

func (v *views) start(t *testing.T, n *jsNode, o projections.GroupOptions) *views {
	t.Helper()
	o.Name, o.Store = "test", n.store
	g, err := projections.NewGroup(o)
	if err != nil {
		t.Fatal(err)
	}
	v.group = g
	if err := g.Add("counter", v.dr); err != nil {
		t.Fatal(err)
	}
	if err := g.Add("recorder", v.pr); err != nil {
		t.Fatal(err)
	}
	f, err := follow.New(n.log, follow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Add(g)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	stopped := false
	v.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("follower: %v", err)
		}
	}
	t.Cleanup(v.stop)
	return v
}

func (v *views) waitFor(t *testing.T, seq uint64) {
	t.Helper()
	for _, r := range []*projections.Runner{v.dr, v.pr} {
		if err := r.WaitFor(waitCtx(t), seq); err != nil {
			t.Fatal(err)
		}
	}
}

func checkCounter(t *testing.T, c *counter, last uint64, applies int) {
	t.Helper()
	s, got := c.state()
	count, sum := want(last)
	if s.Count != count || s.SeqSum != sum {
		t.Fatalf("counter holds %d records summing %d; want %d summing %d", s.Count, s.SeqSum, count, sum)
	}
	if got != applies {
		t.Fatalf("counter applied %d records at this start; want %d", got, applies)
	}
}

// TestGroupRestartAppliesOnlyNewRecords: after a clean stop, a durable
// view restarts from its snapshot and applies only the records appended
// since (counted, not timed), and holds the same state as a view that
// applied the whole log; a view that is not durable is rebuilt from 1.
func TestGroupRestartAppliesOnlyNewRecords(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(300)
	v := startViews(t, n, projections.GroupOptions{}, &counter{})
	v.waitFor(t, last)
	v.stop()
	last = n.burn(5)
	v2 := startViews(t, n, projections.GroupOptions{}, &counter{})
	v2.waitFor(t, last)
	checkCounter(t, v2.durable, last, 5)
	if got := v2.plain.applied(); !slices.Equal(got, upTo(last)) {
		t.Fatalf("the view that is not durable applied %d records; want all %d", len(got), last)
	}
	wantStats := []projections.ViewStat{{Name: "counter", Durable: true, From: 300, Applied: 5}, {Name: "recorder", From: 0, Applied: 305}}
	if got := v2.group.Stats(); !slices.Equal(got, wantStats) {
		t.Fatalf("group stats %+v; want %+v", got, wantStats)
	}
	// Rebuild still starts from 1 on demand, and the follow carries on.
	if err := v2.dr.Rebuild(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	last = n.burn(2)
	v2.waitFor(t, last)
	checkCounter(t, v2.durable, last, 5+int(last-2)+2)
}

// TestGroupSavesWhileRunning: the group saves every SnapshotEvery records,
// so that a process that dies without a clean stop restarts from its last
// snapshot, not from 1.
func TestGroupSavesWhileRunning(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(100)
	v := startViews(t, n, projections.GroupOptions{SnapshotEvery: 10}, &counter{})
	v.waitFor(t, last)
	// The store is read as the next process would read it, while this one
	// still runs: no clean stop has saved anything.
	var m struct {
		Seq uint64 `json:"seq"`
	}
	for ctx := waitCtx(t); m.Seq == 0; {
		b, ok, err := n.store.Get(ctx, "readmodels.test")
		if err != nil || ctx.Err() != nil {
			t.Fatalf("no snapshot saved while running: %v %v", err, ctx.Err())
		}
		if ok {
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if m.Seq < 10 || m.Seq > last {
		t.Fatalf("snapshot at %d; want one in 10..%d", m.Seq, last)
	}
}

// TestGroupSnapshotBiggerThanAPayload: a view whose snapshot is several
// times the server's maximum payload (1 MiB) is saved in chunks and
// restored whole.
func TestGroupSnapshotBiggerThanAPayload(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(20)
	big := &counter{State: counterState{Padding: strings.Repeat("x", 3<<20)}}
	v := startViews(t, n, projections.GroupOptions{}, big)
	v.waitFor(t, last)
	v.stop()
	last = n.burn(3)
	v2 := startViews(t, n, projections.GroupOptions{}, &counter{})
	v2.waitFor(t, last)
	checkCounter(t, v2.durable, last, 3)
	if s, _ := v2.durable.state(); len(s.Padding) != 3<<20 {
		t.Fatalf("restored padding of %d bytes; want %d", len(s.Padding), 3<<20)
	}
}

// TestGroupSnapshotRefused: a view that refuses its snapshot (a new
// version of the view) is rebuilt from sequence 1.
func TestGroupSnapshotRefused(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(30)
	v := startViews(t, n, projections.GroupOptions{}, &counter{})
	v.waitFor(t, last)
	v.stop()
	v2 := startViews(t, n, projections.GroupOptions{}, &counter{refuse: true})
	v2.waitFor(t, last)
	checkCounter(t, v2.durable, last, int(last))
}

// TestGroupSnapshotBeyondTheLog: a snapshot of a sequence beyond the end
// of the log (the stream was deleted and created again) is not restored:
// the views are rebuilt from the new stream's first record.
func TestGroupSnapshotBeyondTheLog(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(30)
	v := startViews(t, n, projections.GroupOptions{}, &counter{})
	v.waitFor(t, last)
	v.stop()
	n.log.Close()
	if err := n.js.DeleteStream(waitCtx(t), natslog.DefaultStream); err != nil {
		t.Fatal(err)
	}
	n.openLog()
	last = n.burn(4)
	v2 := startViews(t, n, projections.GroupOptions{}, &counter{})
	v2.waitFor(t, last)
	checkCounter(t, v2.durable, last, 4)
}

// TestGroupRestoreWakesWaiters: a WaitFor made before the group opened, for
// a sequence its snapshot holds, returns once the snapshot is restored,
// with no record after it to apply.
func TestGroupRestoreWakesWaiters(t *testing.T) {
	n := newJSNode(t)
	last := n.burn(20)
	v := startViews(t, n, projections.GroupOptions{}, &counter{})
	v.waitFor(t, last)
	v.stop()
	v2 := &views{durable: &counter{}, plain: &recorder{}}
	v2.dr, v2.pr = newRunner(t, n.log, v2.durable), newRunner(t, n.log, v2.plain)
	waited := make(chan error, 1)
	go func() { waited <- v2.dr.WaitFor(waitCtx(t), last) }()
	// Most likely waiting by now; the test holds either way.
	time.Sleep(10 * time.Millisecond)
	v2.start(t, n, projections.GroupOptions{})
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	checkCounter(t, v2.durable, last, 0)
}
