// Package lease is the claim of one economy node on the actors of an
// economy whose log is on a NATS server that several nodes share: the
// active node holds the lease and renews it; a standby waits until it
// lapses and takes it. The lease is one key of a JetStream key-value
// bucket, written only with the revision its writer last saw (the
// key-value store's compare-and-set), so that two nodes can never both
// hold it. It is not a fact of the economy (nothing of it is in the event
// log) and not an actor: it says which process may run the actors.
//
// Time is measured on each node's own clock, as durations only: a holder
// counts the lease valid for TTL from the moment it sent its last accepted
// renewal, and a standby takes over only after it has seen the same
// revision for TTL (or the key is gone: the bucket's entries live TTL).
// Both measures start after the holder's, so the holder has stopped
// counting on the lease before anyone else can take it. What a holder
// still had in flight then is refused by the log's optimistic concurrency
// per actor.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Key is the lease's key in its bucket.
const Key = "actors"

// BucketSuffix ends the name of the lease's bucket, which begins with the
// stream's name: two economies on one server (two streams) have two
// leases.
const BucketSuffix = "_lease"

// Bucket is the name of the lease bucket of the economy whose events are in
// stream.
func Bucket(stream string) string { return stream + BucketSuffix }

// renewParts is how many renewals a holder attempts within one TTL: two may
// fail (a slow server, a leader election) before the lease lapses.
const renewParts = 3

// pollParts is how many times within one TTL a standby looks at the lease:
// it takes a lapsed lease at most TTL/pollParts after it lapsed.
const pollParts = 10

// ErrLost is why a held lease ended other than by Release. It wraps
// ErrTaken when another node took the lease, ErrExpired when no renewal
// was accepted for TTL.
var ErrLost = errors.New("lease lost")

// ErrTaken: a renewal was refused because another node wrote the lease
// since this one last did: it has taken the actors over.
var ErrTaken = fmt.Errorf("%w: another node holds it now", ErrLost)

// ErrExpired: no renewal was accepted within the TTL (the server was
// unreachable or too slow); another node may take the lease now.
var ErrExpired = fmt.Errorf("%w: not renewed within its time to live", ErrLost)

// ErrBadOptions: Open was given options it cannot work with.
var ErrBadOptions = errors.New("lease: bad options")

// Holder is what the lease's value says of the node holding it, for the
// standby's logs and the operator.
type Holder struct {
	// Node names the process: host and pid.
	Node string `json:"node"`
	// API is where it serves the HTTP APIs, once it does.
	API string `json:"api,omitempty"`
	// Claim is random, made by Open: it tells this process's writes from
	// any other's, whatever their names. A write whose answer was lost (a
	// timeout while the server's leader changed) is recognised by it.
	Claim string `json:"claim,omitempty"`
}

// String names the holder for a log line; the claim is left out.
func (h Holder) String() string {
	if h.API == "" {
		return h.Node
	}
	return h.Node + " (APIs at " + h.API + ")"
}

// Options say which lease and who asks for it.
type Options struct {
	// Bucket is the key-value bucket (Bucket(stream)).
	Bucket string
	// Replicas of the bucket: as many as the stream's.
	Replicas int
	// TTL is the lease's time to live (half of cluster.failover_seconds).
	TTL time.Duration
	// Me is this node, as the lease's value names it.
	Me Holder
	// Logger reports failed renewals and reads; default slog.Default().
	Logger *slog.Logger
}

// Lease is the lease bucket, opened by one node.
type Lease struct {
	kv jetstream.KeyValue
	o  Options
}

// Open creates the lease bucket, or updates it to these options: its
// entries live TTL, so that the lease of a node that died without releasing
// it is gone once it lapses.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Lease, error) {
	if o.Bucket == "" || o.TTL <= 0 || o.Me.Node == "" {
		return nil, fmt.Errorf("%w: a bucket, a positive TTL and this node's name are required (got %q, %v, %q)",
			ErrBadOptions, o.Bucket, o.TTL, o.Me.Node)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	claim := make([]byte, 12)
	if _, err := rand.Read(claim); err != nil {
		return nil, fmt.Errorf("lease: a claim: %w", err)
	}
	o.Me.Claim = hex.EncodeToString(claim)
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Bucket,
		Description: "Agora: the economy node that holds the actors",
		History:     1,
		TTL:         o.TTL,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("lease: ensure bucket %s: %w", o.Bucket, err)
	}
	return &Lease{kv: kv, o: o}, nil
}

// TTL is the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.o.TTL }

// Current is who holds the lease now, if anyone does.
func (l *Lease) Current(ctx context.Context) (Holder, bool, error) {
	e, err := l.kv.Get(ctx, Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Holder{}, false, nil
	}
	if err != nil {
		return Holder{}, false, fmt.Errorf("lease: read: %w", err)
	}
	return decode(e.Value()), true, nil
}

// Acquire waits until this node holds the lease and returns it, renewing.
// While another node holds it, waiting is called with that node whenever
// the holder it sees changes (another node, or the same node announcing
// its APIs). It takes the lease when
// the key is absent (never held, released, or expired with its TTL), or
// when the revision it saw has stayed the same for TTL (the holder has
// stopped renewing). It returns only with the lease or with ctx's error.
func (l *Lease) Acquire(ctx context.Context, waiting func(Holder)) (*Held, error) {
	w := watch{waiting: waiting}
	poll := time.NewTicker(l.o.TTL / pollParts)
	defer poll.Stop()
	for {
		h, err := l.try(ctx, &w)
		if h != nil {
			return h, nil
		}
		if err != nil && ctx.Err() == nil {
			l.o.Logger.Warn("lease: cannot read or take the lease; trying again", "bucket", l.o.Bucket, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-poll.C:
		}
	}
}

// watch is what a standby has seen of the lease.
type watch struct {
	seen    uint64    // the revision last seen
	seenAt  time.Time // when it was first seen
	holder  Holder    // the holder last reported
	waiting func(Holder)
	// tried is when this node last sent a write to take the lease: one
	// whose answer was lost may still have been stored.
	tried time.Time
}

// try is one look at the lease: take it if it is free or stale.
func (l *Lease) try(ctx context.Context, w *watch) (*Held, error) {
	e, err := l.kv.Get(ctx, Key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		sent := time.Now()
		w.tried = sent
		rev, err := l.kv.Create(ctx, Key, encode(l.o.Me))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil // another node was quicker
		}
		if err != nil {
			return nil, err
		}
		return l.hold(rev, sent), nil
	case err != nil:
		return nil, err
	}
	current := decode(e.Value())
	if current.Claim == l.o.Me.Claim && !w.tried.IsZero() {
		// This node's own write, whose answer was lost: stored after it
		// was sent, so the lease is valid for TTL from then.
		return l.hold(e.Revision(), w.tried), nil
	}
	if e.Revision() != w.seen {
		w.seen, w.seenAt = e.Revision(), time.Now()
		if current != w.holder {
			w.holder = current
			if w.waiting != nil {
				w.waiting(current)
			}
		}
		return nil, nil
	}
	if time.Since(w.seenAt) < l.o.TTL {
		return nil, nil
	}
	// The holder has written nothing for TTL by this node's clock, which
	// started after the holder's: it no longer counts on the lease.
	sent := time.Now()
	w.tried = sent
	rev, err := l.kv.Update(ctx, Key, encode(l.o.Me), w.seen)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil, nil // renewed or taken at the last moment
	}
	if err != nil {
		return nil, err
	}
	return l.hold(rev, sent), nil
}

// hold starts renewing the lease written at revision rev by a request sent
// at sent.
func (l *Lease) hold(rev uint64, sent time.Time) *Held {
	h := &Held{l: l, rev: rev, me: l.o.Me, validUntil: sent.Add(l.o.TTL),
		lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go h.run()
	return h
}

func encode(h Holder) []byte {
	b, _ := json.Marshal(h) // two strings: it cannot fail
	return b
}

// decode reads a lease's value; one this version cannot read still names
// a holder, by its bytes.
func decode(b []byte) Holder {
	var h Holder
	if err := json.Unmarshal(b, &h); err != nil || h.Node == "" {
		return Holder{Node: fmt.Sprintf("%q", b)}
	}
	return h
}

// Held is the lease while this node holds it: renewed every TTL/3 until
// Release, or until it is lost (Lost).
type Held struct {
	l    *Lease
	stop chan struct{}
	done chan struct{}
	lost chan struct{}

	mu         sync.Mutex
	rev        uint64
	me         Holder
	validUntil time.Time
	// unconfirmed is when the first renewal since the last accepted one
	// was sent, if one failed: it may have been stored all the same.
	unconfirmed time.Time
	err         error
	released    bool
}

// Lost is closed when the lease is lost (Err says why): the node must stop
// acting at once, as another may take over.
func (h *Held) Lost() <-chan struct{} { return h.lost }

// Err is why the lease was lost; nil while it is held or once released.
func (h *Held) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// Valid reports whether this node may still count on the lease: it has
// neither lost nor released it, and its last accepted renewal was sent less
// than TTL ago. No other node can have taken the lease while it is.
func (h *Held) Valid() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err == nil && !h.released && time.Now().Before(h.validUntil)
}

// Revision is the key's revision this node last wrote.
func (h *Held) Revision() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Announce adds where this node serves its APIs to the lease's value, from
// the next renewal on, for the standby to tell.
func (h *Held) Announce(api string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.me.API = api
}

// run renews the lease until stop, or until a renewal is refused or none
// has been accepted within TTL.
func (h *Held) run() {
	defer close(h.done)
	ttl := h.l.o.TTL
	renew := time.NewTicker(ttl / renewParts)
	defer renew.Stop()
	h.mu.Lock()
	expiry := time.NewTimer(time.Until(h.validUntil))
	h.mu.Unlock()
	defer expiry.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-expiry.C:
			h.lose(ErrExpired)
			return
		case <-renew.C:
		}
		// A request that cannot be answered before the lease lapses is
		// given up: an answer after it would say nothing the node could
		// still count on.
		h.mu.Lock()
		ctx, cancel := context.WithDeadline(context.Background(), h.validUntil)
		h.mu.Unlock()
		err := h.renew(ctx)
		cancel()
		switch {
		case err == nil:
			h.mu.Lock()
			expiry.Reset(time.Until(h.validUntil))
			h.mu.Unlock()
		case errors.Is(err, ErrLost):
			h.lose(err)
			return
		default:
			h.l.o.Logger.Warn("lease: a renewal failed; trying again before the lease lapses", "bucket", h.l.o.Bucket, "err", err)
		}
	}
}

// renew writes the lease again over the revision this node last wrote; it
// is refused (ErrTaken) if another node has written it since.
func (h *Held) renew(ctx context.Context) error {
	h.mu.Lock()
	rev, me := h.rev, h.me
	h.mu.Unlock()
	sent := time.Now()
	next, err := h.l.kv.Update(ctx, Key, encode(me), rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return h.adopt(ctx, rev)
	}
	if err != nil {
		h.mu.Lock()
		if h.unconfirmed.IsZero() {
			h.unconfirmed = sent
		}
		h.mu.Unlock()
		return fmt.Errorf("lease: renew: %w", err)
	}
	h.mu.Lock()
	h.rev, h.validUntil, h.unconfirmed = next, sent.Add(h.l.o.TTL), time.Time{}
	h.mu.Unlock()
	return nil
}

// adopt is a renewal refused over revision rev: the lease was written
// since, by another node (ErrTaken), or by this one in a renewal whose
// answer was lost. The key then holds this node's claim: the write came
// straight after rev (an update over rev stores only then), and no other
// since. It is adopted, valid for TTL from the first renewal that may
// have stored it.
func (h *Held) adopt(ctx context.Context, rev uint64) error {
	taken := fmt.Errorf("%w (revision %d is no longer the lease's)", ErrTaken, rev)
	e, err := h.l.kv.Get(ctx, Key)
	if err != nil {
		return taken // gone, or unreadable: not this node's to count on
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if decode(e.Value()).Claim != h.me.Claim || h.unconfirmed.IsZero() {
		return taken
	}
	h.rev = e.Revision()
	if until := h.unconfirmed.Add(h.l.o.TTL); until.After(h.validUntil) {
		h.validUntil = until
	}
	h.unconfirmed = time.Time{}
	return nil
}

func (h *Held) lose(err error) {
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	close(h.lost)
}

// Release stops renewing and, if the lease is still this node's, deletes
// it so that a standby takes over without waiting for it to lapse. It is
// safe to call more than once, and after the lease was lost.
func (h *Held) Release(ctx context.Context) error {
	h.mu.Lock()
	if h.released {
		h.mu.Unlock()
		return nil
	}
	h.released = true
	h.mu.Unlock()
	close(h.stop)
	<-h.done
	select {
	case <-h.lost:
		return nil // another node's now, or anyone's to take
	default:
	}
	err := h.l.kv.Delete(ctx, Key, jetstream.LastRevision(h.Revision()))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return nil // taken meanwhile
	}
	if err != nil {
		return fmt.Errorf("lease: release: %w", err)
	}
	return nil
}
