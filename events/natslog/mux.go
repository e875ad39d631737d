package natslog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/events"
)

// connCheckInterval is how often a call waiting for the server's answer
// checks that its connection is still the one the request left on.
const connCheckInterval = 500 * time.Millisecond

// errConnLost is returned to a call waiting for an answer whose connection
// was lost (or replaced by a reconnection) since the request left: the
// answer is lost with it.
var errConnLost = errors.New("connection lost while waiting for the server's answer")

// mux routes the server's answers to the calls waiting for them: one
// subscription per log on a wildcard inbox, one queue per request. A read
// or a commit thus costs the server no subscription of its own, and the
// client no channel of its own (a synchronous subscription allocates one
// of 64k entries).
type mux struct {
	mu     sync.Mutex
	sub    *nats.Subscription
	prefix string
	next   uint64
	queues map[string]*queue
	// singles are the calls waiting for exactly one answer (appends).
	singles map[string]chan *nats.Msg
	closed  bool
	// lost is closed when the connection is lost, and replaced by a new
	// one: an append waiting for its answer stops waiting then (see
	// expect). status is the connection's notice of it (RECONNECTING when
	// the client looks for another server, DISCONNECTED when it gives
	// up), watched by watchLost.
	lost   chan struct{}
	status chan nats.Status
	nc     *nats.Conn
	// done is closed when the log closes: a call waiting for an answer
	// then returns events.ErrLogClosed.
	done <-chan struct{}
}

// open returns a queue for the answers sent to its reply subject; the
// caller closes it.
func (x *mux) open(nc *nats.Conn) (*queue, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, events.ErrLogClosed
	}
	if err := x.subscribe(nc); err != nil {
		return nil, err
	}
	x.next++
	token := strconv.FormatUint(x.next, 36)
	q := &queue{mux: x, token: token, reply: x.prefix + token, nc: nc, ready: make(chan struct{}, 1)}
	x.queues[token] = q
	return q, nil
}

// subscribe subscribes to the answers on first use. Callers hold x.mu.
func (x *mux) subscribe(nc *nats.Conn) error {
	if x.sub != nil {
		return nil
	}
	prefix := nc.NewInbox() + "."
	sub, err := nc.Subscribe(prefix+"*", x.route)
	if err != nil {
		return fmt.Errorf("natslog: subscribe for answers: %w", err)
	}
	x.sub, x.prefix, x.queues, x.singles = sub, prefix, map[string]*queue{}, map[string]chan *nats.Msg{}
	x.nc, x.lost, x.status = nc, make(chan struct{}), nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED)
	go x.watchLost(x.status)
	return nil
}

// watchLost closes lost at every loss of the connection, until the log
// closes (close removes the listener, which ends the range).
func (x *mux) watchLost(status chan nats.Status) {
	for range status {
		x.mu.Lock()
		close(x.lost)
		x.lost = make(chan struct{})
		x.mu.Unlock()
	}
}

// route runs on the subscription's goroutine: it must never block.
func (x *mux) route(m *nats.Msg) {
	token := m.Subject[min(len(x.prefix), len(m.Subject)):]
	x.mu.Lock()
	if ch, ok := x.singles[token]; ok {
		delete(x.singles, token)
		ch <- m // room for the one answer; never blocks
		x.mu.Unlock()
		return
	}
	q := x.queues[token]
	x.mu.Unlock()
	if q != nil {
		q.push(m)
	}
}

// expect returns the reply subject of a call that gets exactly one
// answer, the channel it arrives on (the answer, or nil once the log is
// closed), and a channel closed if the connection is lost meanwhile.
// Lighter than a queue: no timer, no polling of the connection. An answer
// lost with the server that was to send it ends in the caller's timeout;
// one whose connection was lost ends at once, when the client notices
// (the server it was connected to died, say): either way the actor then
// recovers from the log, which says whether the append landed. The caller
// calls forget.
func (x *mux) expect(nc *nats.Conn) (token, reply string, answer chan *nats.Msg, lost <-chan struct{}, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return "", "", nil, nil, events.ErrLogClosed
	}
	if err := x.subscribe(nc); err != nil {
		return "", "", nil, nil, err
	}
	x.next++
	token = strconv.FormatUint(x.next, 36)
	ch := answerChans.Get().(chan *nats.Msg)
	x.singles[token] = ch
	return token, x.prefix + token, ch, x.lost, nil
}

// answerChans are the channels of single answers (room for one), reused:
// a channel made for every append was a visible part of the mux's cost.
var answerChans = sync.Pool{New: func() any { return make(chan *nats.Msg, 1) }}

// forget stops waiting for the answer to token, whose channel was answer;
// a late one is dropped.
func (x *mux) forget(token string, answer chan *nats.Msg) {
	x.mu.Lock()
	delete(x.singles, token)
	x.mu.Unlock()
	// Answers are sent (by route and close) under x.mu, to registered
	// tokens only: whatever answer holds now came too late, and nothing
	// comes after it. Emptied, it serves the next call.
	select {
	case <-answer:
	default:
	}
	answerChans.Put(answer)
}

func (x *mux) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	if x.sub != nil {
		_ = x.sub.Unsubscribe()
		x.nc.RemoveStatusListener(x.status)
	}
	// A call waiting for one answer gets nil: the log is closed. (Its
	// channel has room for one, unless the answer came first.)
	for token, ch := range x.singles {
		delete(x.singles, token)
		select {
		case ch <- nil:
		default:
		}
	}
}

// queue holds the answers to one request, in the order they arrived. The
// server sends an answer only when asked, so it holds at most one answer:
// a commit's ack, or one direct get batch (readBatchBytesMax).
type queue struct {
	mux   *mux
	token string
	reply string // the subject to send the request's answers to
	nc    *nats.Conn
	conn  connWatch // since the last request was sent

	mu    sync.Mutex
	msgs  []*nats.Msg
	ready chan struct{} // signalled after a push
	timer *time.Timer
}

func (q *queue) push(m *nats.Msg) {
	q.mu.Lock()
	q.msgs = append(q.msgs, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// sent marks the moment a request left: an answer to it can only come on
// the connection of that moment.
func (q *queue) sent() { q.conn = watchConn(q.nc) }

// next returns the next answer. It waits as long as ctx allows while the
// connection holds: the server answers the requests of one connection in
// order, so an answer may wait behind many others (a mass recovery).
func (q *queue) next(ctx context.Context) (*nats.Msg, error) {
	for {
		q.mu.Lock()
		if len(q.msgs) > 0 {
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			q.mu.Unlock()
			return m, nil
		}
		q.mu.Unlock()
		if q.timer == nil {
			q.timer = time.NewTimer(connCheckInterval)
		} else {
			q.timer.Reset(connCheckInterval)
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.mux.done:
			return nil, events.ErrLogClosed
		case <-q.timer.C:
			if q.conn.lost() {
				return nil, errConnLost
			}
		}
	}
}

// close stops routing answers to q; late ones are dropped.
func (q *queue) close() {
	q.mux.mu.Lock()
	delete(q.mux.queues, q.token)
	q.mux.mu.Unlock()
	if q.timer != nil {
		q.timer.Stop()
	}
}

// connWatch tells whether a connection was lost since the watch began.
type connWatch struct {
	nc         *nats.Conn
	reconnects uint64
}

func watchConn(nc *nats.Conn) connWatch {
	return connWatch{nc: nc, reconnects: nc.Stats().Reconnects}
}

func (w connWatch) lost() bool {
	return w.nc == nil || !w.nc.IsConnected() || w.nc.Stats().Reconnects != w.reconnects
}
