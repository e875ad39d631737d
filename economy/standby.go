package economy

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/economy/lease"
)

// Leadership is this node's right to run the economy's actors: the lease of
// economy/lease on a server of nats.url, which other economy nodes may
// share; the data directory's lock on the embedded server, which no other
// node can reach as Agora's user without its password file.
type Leadership struct {
	held *lease.Held // nil on the embedded server
}

// releaseTimeout bounds the release of the lease at a clean stop; the
// lease lapses on its own if the server does not answer.
const releaseTimeout = 5 * time.Second

// Lead returns once this node may run the actors. On the embedded server
// that is at once. On a server of nats.url it takes the lease of the
// economy's actors (bucket lease.Bucket(nats.stream), time to live
// half of cluster.failover_seconds), waiting as the standby while another node
// holds it: standby is called with that node each time it changes. It
// returns with ctx's error if ctx ends first.
func (n *Node) Lead(ctx context.Context, standby func(active lease.Holder)) (*Leadership, error) {
	if n.Embedded() {
		return &Leadership{}, nil
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	ttl := n.cfg.Cluster.LeaseTTL()
	l, err := lease.Open(ctx, js, lease.Options{
		Bucket:   lease.Bucket(n.cfg.Nats.Stream),
		Replicas: n.cfg.Nats.Replicas,
		TTL:      ttl,
		Me:       lease.Holder{Node: fmt.Sprintf("%s pid %d", host, os.Getpid())},
		Logger:   n.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("the lease of the economy's actors: %w", err)
	}
	started := time.Now()
	held, err := l.Acquire(ctx, func(active lease.Holder) {
		n.logger.Info("standby: another economy node holds the actors; this one takes over when its lease lapses",
			"active", active.String(), "lease_ttl", ttl)
		if standby != nil {
			standby(active)
		}
	})
	if err != nil {
		return nil, err
	}
	n.logger.Info("this node holds the lease of the economy's actors", "bucket", lease.Bucket(n.cfg.Nats.Stream),
		"waited", time.Since(started).Round(time.Millisecond), "lease_ttl", ttl)
	return &Leadership{held: held}, nil
}

// Lost is closed when this node has lost the lease (Err says why): it must
// stop acting at once (Economy.StopAtOnce). It is never closed on the
// embedded server.
func (l *Leadership) Lost() <-chan struct{} {
	if l.held == nil {
		return nil
	}
	return l.held.Lost()
}

// Err is why the lease was lost.
func (l *Leadership) Err() error {
	if l.held == nil {
		return nil
	}
	return l.held.Err()
}

// Announce writes where this node serves its APIs into the lease, for a
// standby's log to name.
func (l *Leadership) Announce(api string) {
	if l.held != nil {
		l.held.Announce(api)
	}
}

// Release gives the lease up at a clean stop, so that a standby takes over
// at once rather than when the lease lapses. Call it once the
// economy has stopped: nothing of this node may be appended after it.
func (l *Leadership) Release() error {
	if l.held == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	return l.held.Release(ctx)
}

// StopWhenLost stops the economy at once (StopAtOnce) when l is lost, then
// reports the loss as the economy's failure (Failed): from then on this
// node appends nothing, and what it still had in flight is refused by the
// log's optimistic concurrency once the new holder has written for the
// same actors.
func (e *Economy) StopWhenLost(l *Leadership) {
	lost := l.Lost()
	if lost == nil {
		return
	}
	// Not background work: Stop waits for that, and this may call it.
	go func() {
		select {
		case <-lost:
		case <-e.ctx.Done():
			return
		}
		e.node.logger.Error("this node lost the lease of the economy's actors; it stops acting at once", "err", l.Err())
		e.StopAtOnce()
		select {
		case e.errs <- fmt.Errorf("%w; this node stopped acting, as another may run the actors now: start it again to be the standby", l.Err()):
		default: // an earlier failure is being reported; the economy has stopped all the same
		}
	}()
}
