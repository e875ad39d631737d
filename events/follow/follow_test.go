package follow_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// node is a real embedded JetStream server with the log and the store.
type node struct {
	t     *testing.T
	js    jetstream.JetStream
	log   *natslog.Log
	store *natslog.Store
	last  uint64 // the last sequence of agent a
}

func newNode(t *testing.T) *node {
	t.Helper()
	_, js, _ := natstest.Start(t)
	n := &node{t: t, js: js}
	n.openLog()
	store, err := natslog.NewStore(ctxT(t), js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.store = store
	return n
}

func (n *node) openLog() {
	n.t.Helper()
	l, err := natslog.Open(ctxT(n.t), n.js, natslog.StreamOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(l.Close)
	n.log, n.last = l, 0
}

// recreate deletes the stream and creates it again, empty: the store and
// its positions stay.
func (n *node) recreate() {
	n.t.Helper()
	n.log.Close()
	if err := n.js.DeleteStream(ctxT(n.t), natslog.DefaultStream); err != nil {
		n.t.Fatal(err)
	}
	n.openLog()
}

// isTransfer tells the records append writes as transfers (every third).
func isTransfer(seq uint64) bool { return seq%3 == 0 }

// append writes count events of agent a: every third a transfer_sent, the
// others credits_burned. It returns the last sequence.
func (n *node) append(count int) uint64 {
	n.t.Helper()
	for range count {
		var e events.Event = events.CreditsBurned{AmountMicros: 1, Reason: "r"}
		if isTransfer(n.last + 1) {
			e = events.TransferSent{TransferID: fmt.Sprintf("t%d", n.last+1), ToAgentID: "b", AmountMicros: 1}
		}
		env, err := events.Encode(events.KindAgent, "a", e, events.Meta{Time: time.Now()})
		if err != nil {
			n.t.Fatal(err)
		}
		if n.last, err = n.log.Append(ctxT(n.t), events.Filter(events.KindAgent, "a"), n.last, env); err != nil {
			n.t.Fatal(err)
		}
	}
	return n.last
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// consumer records what it is delivered; its position is the last record
// delivered, kept in a follow.Cursor under its name.
type consumer struct {
	name   string
	types  []string
	cursor *follow.Cursor
	// failAt makes the delivery of that sequence fail; rewindAt makes it
	// rewind once to rewindTo.
	failAt, rewindAt, rewindTo uint64
	// block, when set, holds every delivery until it is closed.
	block chan struct{}

	mu     sync.Mutex
	got    []events.Record
	pos    uint64
	opened bool
	closed int
}

func newConsumer(t *testing.T, store events.Store, name string, types ...string) *consumer {
	c, err := follow.NewCursor(store, name)
	if err != nil {
		t.Fatal(err)
	}
	return &consumer{name: name, types: types, cursor: c}
}

func (c *consumer) Name() string    { return c.name }
func (c *consumer) Types() []string { return c.types }

func (c *consumer) Open(ctx context.Context, last uint64) (uint64, error) {
	pos, err := c.cursor.Load(ctx, last)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pos, c.opened = pos, true
	return pos, err
}

func (c *consumer) Deliver(ctx context.Context, r events.Record) error {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Seq != c.pos+1 {
		return fmt.Errorf("%s: record %d delivered after %d", c.name, r.Seq, c.pos)
	}
	if r.Seq == c.failAt {
		return errors.New("cannot apply")
	}
	c.got = append(c.got, r)
	c.pos = r.Seq
	if r.Seq == c.rewindAt {
		c.rewindAt = 0
		c.pos = c.rewindTo
		return follow.Rewind(c.rewindTo)
	}
	return nil
}

func (c *consumer) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed++
}

func (c *consumer) Save(ctx context.Context) error {
	return c.cursor.Save(ctx, func() uint64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.pos
	})
}

func (c *consumer) position() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

func (c *consumer) seqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uint64, len(c.got))
	for i, r := range c.got {
		out[i] = r.Seq
	}
	return out
}

// waitFor waits until c has been delivered seq (the test's context bounds
// the wait: a hang fails, nothing is timed).
func waitFor(t *testing.T, c *consumer, seq uint64) {
	t.Helper()
	ctx := ctxT(t)
	for c.position() < seq {
		select {
		case <-ctx.Done():
			t.Fatalf("%s reached %d, waiting for %d", c.name, c.position(), seq)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// waitFailed waits until the consumer name has been reported failed.
func waitFailed(t *testing.T, r *running, name string) {
	t.Helper()
	ctx := ctxT(t)
	for {
		r.mu.Lock()
		err := r.errs[name]
		r.mu.Unlock()
		if err != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s was never reported failed", name)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

func span(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// running is a Follower running in the background.
type running struct {
	f      *follow.Follower
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	errs   map[string]error
}

func start(t *testing.T, n *node, o follow.Options, cs ...follow.Consumer) *running {
	t.Helper()
	r := &running{done: make(chan error, 1), errs: map[string]error{}}
	o.OnError = func(name string, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.errs[name] = err
	}
	f, err := follow.New(n.log, o)
	if err != nil {
		t.Fatal(err)
	}
	f.Add(cs...)
	ctx, cancel := context.WithCancel(context.Background())
	r.f, r.cancel = f, cancel
	go func() { r.done <- f.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Fatalf("Run after its context ended: %v", err)
	}
}

func saved(t *testing.T, store events.Store, name string) string {
	t.Helper()
	b, ok, err := store.Get(ctxT(t), follow.CursorKey(name))
	if err != nil || !ok {
		t.Fatalf("cursor of %s: %q, %v, %v", name, b, ok, err)
	}
	return string(b)
}

// TestConsumersAtDifferentPositions: consumers whose saved positions
// differ are each delivered exactly the records after their own, once, in
// order, on one follow, those records already in the log and those
// appended while it runs; a consumer of some types gets the others with
// their sequence alone. A clean stop saves each one's position.
func TestConsumersAtDifferentPositions(t *testing.T) {
	n := newNode(t)
	n.append(30)
	ctx := ctxT(t)
	for name, pos := range map[string]string{"middle": "10", "late": "25"} {
		if err := n.store.Put(ctx, follow.CursorKey(name), []byte(pos)); err != nil {
			t.Fatal(err)
		}
	}
	first := newConsumer(t, n.store, "first")
	middle := newConsumer(t, n.store, "middle", events.TransferSent{}.EventType())
	late := newConsumer(t, n.store, "late")
	r := start(t, n, follow.Options{}, first, middle, late)
	last := n.append(10)
	for _, c := range []*consumer{first, middle, late} {
		waitFor(t, c, last)
	}
	r.stop(t)
	for c, want := range map[*consumer][]uint64{first: span(1, 40), middle: span(11, 40), late: span(26, 40)} {
		if got := c.seqs(); !slices.Equal(got, want) {
			t.Fatalf("%s was delivered %v; want %v", c.name, got, want)
		}
		if c.closed != 1 {
			t.Fatalf("%s closed %d times; want once", c.name, c.closed)
		}
		if got := saved(t, n.store, c.name); got != "40" {
			t.Fatalf("%s saved %s; want 40", c.name, got)
		}
	}
	for _, rec := range middle.got {
		switch {
		case isTransfer(rec.Seq) && rec.Envelope.Type != events.TransferSent{}.EventType():
			t.Fatalf("record %d, a transfer, came unread to a consumer of transfers: %+v", rec.Seq, rec.Envelope)
		case !isTransfer(rec.Seq) && rec.Envelope.Type != "":
			t.Fatalf("record %d of another type came read to a consumer of transfers: %+v", rec.Seq, rec.Envelope)
		}
	}
	for _, rec := range first.got {
		if rec.Envelope.Type == "" {
			t.Fatalf("record %d came unread to a consumer of every type", rec.Seq)
		}
	}
}

// TestConsumerFailing: a consumer whose delivery fails stops alone,
// closed and saved below the record it failed on, its error reported; the
// others go on. At the next start it resumes at that record.
func TestConsumerFailing(t *testing.T) {
	n := newNode(t)
	n.append(20)
	failing := newConsumer(t, n.store, "failing")
	failing.failAt = 15
	other := newConsumer(t, n.store, "other")
	r := start(t, n, follow.Options{}, failing, other)
	last := n.append(5)
	waitFor(t, other, last)
	// The failing consumer runs at its own pace: the other reaching the
	// end says nothing of how far it got, so wait for its failure before
	// stopping (stopping first left it at whatever it had reached).
	waitFailed(t, r, "failing")
	r.stop(t)
	if got := failing.seqs(); !slices.Equal(got, span(1, 14)) {
		t.Fatalf("the failing consumer was delivered %v; want 1..14", got)
	}
	if got := other.seqs(); !slices.Equal(got, span(1, 25)) {
		t.Fatalf("the other consumer was delivered %v; want 1..25", got)
	}
	if got := saved(t, n.store, "failing"); got != "14" {
		t.Fatalf("the failing consumer saved %s; want 14", got)
	}
	r.mu.Lock()
	err := r.errs["failing"]
	r.mu.Unlock()
	if err == nil || failing.closed != 1 {
		t.Fatalf("failure reported as %v, closed %d times; want its error, closed once", err, failing.closed)
	}
	again := newConsumer(t, n.store, "failing")
	start(t, n, follow.Options{}, again)
	waitFor(t, again, last)
	if got := again.seqs(); !slices.Equal(got, span(15, 25)) {
		t.Fatalf("after a restart the failed consumer was delivered %v; want 15..25", got)
	}
}

// TestEveryConsumerFailing: Run returns the consumers' errors once none is
// left to follow for.
func TestEveryConsumerFailing(t *testing.T) {
	n := newNode(t)
	n.append(3)
	c := newConsumer(t, n.store, "only")
	c.failAt = 2
	f, err := follow.New(n.log, follow.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Add(c)
	if err := f.Run(ctxT(t)); err == nil || !slices.Equal(c.seqs(), []uint64{1}) {
		t.Fatalf("Run = %v after delivering %v; want the consumer's error after 1", err, c.seqs())
	}
}

// TestRestartAppliesOnlyNewRecords: after a clean stop, consumers restarted
// with their saved positions are delivered only the records appended
// since, however long the log.
func TestRestartAppliesOnlyNewRecords(t *testing.T) {
	n := newNode(t)
	n.append(500)
	a, b := newConsumer(t, n.store, "a"), newConsumer(t, n.store, "b", events.TransferSent{}.EventType())
	r := start(t, n, follow.Options{}, a, b)
	waitFor(t, a, 500)
	waitFor(t, b, 500)
	r.stop(t)
	last := n.append(7)
	a2, b2 := newConsumer(t, n.store, "a"), newConsumer(t, n.store, "b", events.TransferSent{}.EventType())
	r2 := start(t, n, follow.Options{}, a2, b2)
	waitFor(t, a2, last)
	waitFor(t, b2, last)
	for _, c := range []*consumer{a2, b2} {
		if got := c.seqs(); !slices.Equal(got, span(501, 507)) {
			t.Fatalf("%s was delivered %v after the restart; want only 501..507", c.name, got)
		}
	}
	r2.stop(t)
	want := []follow.Stat{{Name: "a", From: 500, Delivered: 7}, {Name: "b", From: 500, Delivered: 7}}
	if got := r2.f.Stats(); !slices.Equal(got, want) {
		t.Fatalf("stats %+v; want %+v", got, want)
	}
}

// TestStreamRecreated: positions saved for a stream that was deleted and
// created again (beyond its end) start from its first record, and the new
// positions are saved over the old.
func TestStreamRecreated(t *testing.T) {
	n := newNode(t)
	n.append(40)
	c := newConsumer(t, n.store, "c")
	r := start(t, n, follow.Options{}, c)
	waitFor(t, c, 40)
	r.stop(t)
	n.recreate()
	last := n.append(5)
	c2 := newConsumer(t, n.store, "c")
	r2 := start(t, n, follow.Options{}, c2)
	waitFor(t, c2, last)
	r2.stop(t)
	if got := c2.seqs(); !slices.Equal(got, span(1, 5)) {
		t.Fatalf("on the new stream the consumer was delivered %v; want 1..5", got)
	}
	if got := saved(t, n.store, "c"); got != "5" {
		t.Fatalf("saved %s on the new stream; want 5", got)
	}
}

// TestAddWhileRunning: a consumer added to a running Follower far behind
// catches up on its own and joins the common follow: it is delivered
// every record once, in order, and so is the consumer that was running.
func TestAddWhileRunning(t *testing.T) {
	n := newNode(t)
	n.append(300)
	early := newConsumer(t, n.store, "early")
	r := start(t, n, follow.Options{JoinGap: 8}, early)
	waitFor(t, early, 300)
	late := newConsumer(t, n.store, "late")
	r.f.Add(late)
	var last uint64
	for range 20 {
		last = n.append(3)
	}
	waitFor(t, late, last)
	waitFor(t, early, last)
	for _, c := range []*consumer{early, late} {
		if got := c.seqs(); !slices.Equal(got, span(1, last)) {
			t.Fatalf("%s was delivered %d records, %v...; want 1..%d once each", c.name, len(got), got[:min(len(got), 10)], last)
		}
	}
}

// TestRewind: a consumer that rewinds is delivered the records after the
// sequence it names again; the others are not.
func TestRewind(t *testing.T) {
	n := newNode(t)
	n.append(20)
	c, other := newConsumer(t, n.store, "c"), newConsumer(t, n.store, "other")
	c.rewindAt, c.rewindTo = 12, 5
	start(t, n, follow.Options{}, c, other)
	waitFor(t, c, 20)
	waitFor(t, other, 20)
	want := append(span(1, 12), span(6, 20)...)
	if got := c.seqs(); !slices.Equal(got, want) {
		t.Fatalf("the rewinding consumer was delivered %v; want %v", got, want)
	}
	if got := other.seqs(); !slices.Equal(got, span(1, 20)) {
		t.Fatalf("the other consumer was delivered %v; want 1..20", got)
	}
}

// TestSlowConsumerHoldsNoOneBack: a consumer that does not take its
// records (blocked) holds no other back: once its queue is full it leaves
// the common follow; released, it catches up on its own and joins again,
// and both are delivered every record once, in order.
func TestSlowConsumerHoldsNoOneBack(t *testing.T) {
	n := newNode(t)
	n.append(50)
	slow, fast := newConsumer(t, n.store, "slow"), newConsumer(t, n.store, "fast")
	slow.block = make(chan struct{})
	start(t, n, follow.Options{QueueMax: 4, JoinGap: 4}, slow, fast)
	last := n.append(50)
	waitFor(t, fast, last)
	if got := slow.position(); got != 0 {
		t.Fatalf("the blocked consumer is at %d", got)
	}
	close(slow.block)
	waitFor(t, slow, last)
	for range 10 {
		last = n.append(2)
	}
	waitFor(t, slow, last)
	waitFor(t, fast, last)
	for _, c := range []*consumer{slow, fast} {
		if got := c.seqs(); !slices.Equal(got, span(1, last)) {
			t.Fatalf("%s was delivered %d records %v...; want 1..%d once each", c.name, len(got), got[:min(len(got), 10)], last)
		}
	}
}
