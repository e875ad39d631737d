package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// testTimeout only keeps a broken test from hanging; nothing asserts on
// time.
const testTimeout = time.Minute

// node opens the lease as a node of its own, on a connection of its own
// (closed at the end of the test, or earlier by the test to cut the node
// off).
func node(t *testing.T, url, name string, ttl time.Duration) (*Lease, func()) {
	t.Helper()
	nc, js, err := natslog.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l, err := Open(ctx, js, Options{Bucket: Bucket("TEST"), TTL: ttl, Me: Holder{Node: name}})
	if err != nil {
		t.Fatal(err)
	}
	return l, nc.Close
}

// acquired is an Acquire running in the background.
type acquired struct {
	held chan *Held
	seen chan Holder
}

func acquire(t *testing.T, ctx context.Context, l *Lease) acquired {
	t.Helper()
	a := acquired{held: make(chan *Held, 1), seen: make(chan Holder, 16)}
	go func() {
		h, err := l.Acquire(ctx, func(h Holder) { a.seen <- h })
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("acquire: %v", err)
			}
			close(a.held)
			return
		}
		a.held <- h
	}()
	return a
}

// wait returns the lease once Acquire has it.
func (a acquired) wait(t *testing.T) *Held {
	t.Helper()
	select {
	case h, ok := <-a.held:
		if !ok {
			t.Fatal("acquire gave up")
		}
		return h
	case <-time.After(testTimeout):
		t.Fatal("the lease was not acquired")
	}
	return nil
}

// waitRenewals waits until h has renewed the lease n times more.
func waitRenewals(t *testing.T, h *Held, n uint64) {
	t.Helper()
	from := h.Revision()
	deadline := time.Now().Add(testTimeout)
	for h.Revision() < from+n {
		if time.Now().After(deadline) || !h.Valid() {
			t.Fatalf("the lease was renewed %d times of %d (valid %v, err %v)", h.Revision()-from, n, h.Valid(), h.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAStandbyWaitsWhileTheHolderRenews: the first node takes a free lease
// at once and renews it; a second node sees it as the holder and does not
// take the lease however long the first renews (twice its time to live
// here); once the first releases it, the second takes it, and the first's
// release left it no claim.
func TestAStandbyWaitsWhileTheHolderRenews(t *testing.T) {
	url, _, _ := natstest.Start(t)
	const ttl = 2 * time.Second
	a, _ := node(t, url, "node-a", ttl)
	b, _ := node(t, url, "node-b", ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	ha := acquire(t, ctx, a).wait(t)
	if !ha.Valid() {
		t.Fatal("a lease just acquired is not valid")
	}
	if h, ok, err := b.Current(ctx); err != nil || !ok || h.Node != "node-a" {
		t.Fatalf("current holder: %+v %v %v; want node-a", h, ok, err)
	}
	waitRenewals(t, ha, 1)

	standby := acquire(t, ctx, b)
	select {
	case h := <-standby.seen:
		if h.Node != "node-a" {
			t.Fatalf("the standby sees %+v; want node-a", h)
		}
	case <-time.After(testTimeout):
		t.Fatal("the standby never reported the holder")
	}
	// Six renewals are two times to live: a standby that took the lease
	// of a node still renewing it would have done it by now.
	ha.Announce("http://127.0.0.1:1")
	waitRenewals(t, ha, 2*renewParts)
	select {
	case <-standby.held:
		t.Fatal("the standby took the lease while its holder renewed it")
	default:
	}
	if h, _, _ := b.Current(ctx); h.API != "http://127.0.0.1:1" {
		t.Fatalf("the renewed lease says %+v; want the announced API", h)
	}

	if err := ha.Release(ctx); err != nil {
		t.Fatal(err)
	}
	hb := standby.wait(t)
	if ha.Valid() || ha.Err() != nil {
		t.Fatalf("released lease: valid %v, err %v; want not valid and no error", ha.Valid(), ha.Err())
	}
	if !hb.Valid() {
		t.Fatal("the standby's lease is not valid")
	}
	if err := ha.Release(ctx); err != nil {
		t.Fatalf("a second release: %v", err)
	}
	if h, _, _ := a.Current(ctx); h.Node != "node-b" {
		t.Fatalf("after the takeover the lease names %+v; want node-b", h)
	}
	if err := hb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.Current(ctx); ok || err != nil {
		t.Fatalf("a released lease is still held (%v, %v)", ok, err)
	}
}

// TestALapsedLeaseIsTakenOver: the holder is cut off from the server (as
// by kill -9 or a partition); its lease lapses, the standby takes it, and
// by then the cut-off node no longer counts on it. It learns it lost the
// lease (expired) without reaching the server.
func TestALapsedLeaseIsTakenOver(t *testing.T) {
	url, _, _ := natstest.Start(t)
	const ttl = time.Second
	a, cutA := node(t, url, "node-a", ttl)
	b, _ := node(t, url, "node-b", ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	ha := acquire(t, ctx, a).wait(t)
	standby := acquire(t, ctx, b)
	<-standby.seen
	cutA()
	hb := standby.wait(t)
	if ha.Valid() {
		t.Fatal("the standby took the lease while the cut-off holder still counted on it")
	}
	select {
	case <-ha.Lost():
	case <-time.After(testTimeout):
		t.Fatal("the cut-off holder never learnt it lost the lease")
	}
	if !errors.Is(ha.Err(), ErrExpired) || !errors.Is(ha.Err(), ErrLost) {
		t.Fatalf("the cut-off holder lost its lease with %v; want ErrExpired", ha.Err())
	}
	if hb.Revision() <= ha.Revision() || !hb.Valid() {
		t.Fatalf("the new holder's revision %d (valid %v) after the old one's %d", hb.Revision(), hb.Valid(), ha.Revision())
	}
	if err := ha.Release(ctx); err != nil {
		t.Fatalf("releasing a lost lease: %v", err)
	}
	if h, _, _ := b.Current(ctx); h.Node != "node-b" {
		t.Fatalf("the lease names %+v; want node-b", h)
	}
}

// TestARenewalAfterATakeoverIsRefused: a holder that stopped renewing (a
// process paused past the time to live) and resumes after the standby has
// taken over is refused: its revision is no longer the lease's, and the
// lease stays the new holder's.
func TestARenewalAfterATakeoverIsRefused(t *testing.T) {
	url, _, _ := natstest.Start(t)
	const ttl = time.Second
	a, _ := node(t, url, "node-a", ttl)
	b, _ := node(t, url, "node-b", ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	ha := acquire(t, ctx, a).wait(t)
	// The pause: the renewals stop, the key is left as it is.
	close(ha.stop)
	<-ha.done
	hb := acquire(t, ctx, b).wait(t)

	err := ha.renew(ctx)
	if !errors.Is(err, ErrTaken) || !errors.Is(err, ErrLost) {
		t.Fatalf("the late renewal: %v; want ErrTaken", err)
	}
	if h, _, _ := a.Current(ctx); h.Node != "node-b" {
		t.Fatalf("after the refused renewal the lease names %+v; want node-b", h)
	}
	waitRenewals(t, hb, 1)
	if err := hb.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestARenewalWhoseAnswerWasLostIsAdopted: a renewal stored by the server
// whose answer never came (a timeout during a leader election) leaves the
// key at a revision the holder does not know. Its next renewal is refused,
// finds its own claim there, and adopts the revision rather than give up
// a lease nobody else wrote; the renewal after that is accepted. A write
// of another node under the same name is not adopted.
func TestARenewalWhoseAnswerWasLostIsAdopted(t *testing.T) {
	url, _, _ := natstest.Start(t)
	const ttl = 2 * time.Second
	a, _ := node(t, url, "node-a", ttl)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	ha := acquire(t, ctx, a).wait(t)
	close(ha.stop) // the test renews by hand from here
	<-ha.done
	ha.mu.Lock()
	ha.unconfirmed = time.Now() // the renewal whose answer was lost
	ha.mu.Unlock()
	stored, err := a.kv.Update(ctx, Key, encode(ha.me), ha.Revision())
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.renew(ctx); err != nil {
		t.Fatalf("the renewal after a lost answer: %v; want its own write adopted", err)
	}
	if ha.Revision() != stored {
		t.Fatalf("adopted revision %d; want %d", ha.Revision(), stored)
	}
	if err := ha.renew(ctx); err != nil || ha.Revision() <= stored {
		t.Fatalf("the next renewal: %v at revision %d; want accepted after %d", err, ha.Revision(), stored)
	}

	// Another process of the same name: its claim differs.
	other, _ := node(t, url, "node-a", ttl)
	ha.mu.Lock()
	ha.unconfirmed = time.Now()
	ha.mu.Unlock()
	if _, err := a.kv.Update(ctx, Key, encode(other.o.Me), ha.Revision()); err != nil {
		t.Fatal(err)
	}
	if err := ha.renew(ctx); !errors.Is(err, ErrTaken) {
		t.Fatalf("a renewal over another's write: %v; want ErrTaken", err)
	}
}

// TestOpenRefusesBadOptions: no bucket, no TTL or no name is refused
// before anything is created.
func TestOpenRefusesBadOptions(t *testing.T) {
	_, js, _ := natstest.Start(t)
	ctx := context.Background()
	for _, o := range []Options{
		{TTL: time.Second, Me: Holder{Node: "n"}},
		{Bucket: "B_lease", Me: Holder{Node: "n"}},
		{Bucket: "B_lease", TTL: -time.Second, Me: Holder{Node: "n"}},
		{Bucket: "B_lease", TTL: time.Second},
	} {
		if _, err := Open(ctx, js, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Open(%+v): %v; want ErrBadOptions", o, err)
		}
	}
	if _, err := js.KeyValue(ctx, "B_lease"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("a refused Open created the bucket: %v", err)
	}
}
