// Package groupcommit is an events.Log that commits the appends of many
// writers together: appends that wait at the same time go to the log as one
// AppendGroup, which the JetStream adapter sends as one atomic batch. With
// fsync on every write the server syncs the disk once per batch instead of
// once per append, and each actor appends only its own events, so without
// this the events of different actors would never share a sync
// (docs/architecture.md, "The commit path").
//
// An append on an idle log goes at once: the committer never waits for
// company. While batches are in flight, the appends that arrive gather and
// go as the next batch when one answers. Every caller still gets its answer
// only once its events are durable, and only its own: a conflict of one
// writer fails that writer alone.
package groupcommit

import (
	"context"
	"sync"

	"github.com/agora-econ/agora/events"
)

// BatchesInFlightDefault is how many batches the committer has in flight
// at once unless WithBatchesInFlight says otherwise. One gathers the most
// appends per batch, and measured fastest (docs/decisions.md, "Group
// commit across actors").
const BatchesInFlightDefault = 1

// Log is an events.Log whose appends are committed in groups. Reads,
// follows and LastSeq go straight to the wrapped log. It is safe for
// concurrent use.
type Log struct {
	log       events.GroupAppender
	inFlightN int

	mu sync.Mutex
	// queue holds the appends not yet taken into a batch, in arrival order.
	queue []*call
	// inFlight counts the goroutines sending batches; idle is signalled
	// when one ends, for Close.
	inFlight int
	idle     sync.Cond
	// busy counts, by filter, the appends in batches in flight: an
	// append waits while its filter is busy, since the server refuses an
	// expectation on a subject that another batch in flight writes to,
	// and one writer's appends must be stored in the order they were made.
	busy   map[string]int
	closed bool
}

var _ events.Log = (*Log)(nil)

// call is one Append waiting for its answer.
type call struct {
	ctx context.Context
	events.AppendCall
	// done has room for the answer: the committer never blocks on a
	// caller that has given up.
	done chan events.AppendResult
}

// Option tunes a Log.
type Option func(*Log)

// WithBatchesInFlight sets how many batches may be in flight at once (at
// least 1; BatchesInFlightDefault by default). One gathers the most appends
// per batch; more let batches overlap the server's disk syncs.
func WithBatchesInFlight(n int) Option {
	return func(l *Log) {
		if n >= 1 {
			l.inFlightN = n
		}
	}
}

// New returns a log that commits the appends made to it in groups, through
// log. The Log owns log: its Close closes log.
func New(log events.GroupAppender, opts ...Option) *Log {
	l := &Log{log: log, inFlightN: BatchesInFlightDefault, busy: map[string]int{}}
	l.idle.L = &l.mu
	for _, o := range opts {
		if o != nil {
			o(l)
		}
	}
	return l
}

// Append implements events.Log. It returns when the append's batch is
// answered, or when ctx ends: the caller then gets ctx's error, the batch
// goes on without it (an append not yet sent is dropped; one already sent
// may or may not be stored, as after any append whose answer was lost).
func (l *Log) Append(ctx context.Context, filter string, expectedLast uint64, envs ...events.Envelope) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c := &call{ctx: ctx, AppendCall: events.AppendCall{Filter: filter, ExpectedLast: expectedLast, Envs: envs}, done: make(chan events.AppendResult, 1)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, events.ErrLogClosed
	}
	l.queue = append(l.queue, c)
	start := l.inFlight < l.inFlightN
	if start {
		l.inFlight++
	}
	l.mu.Unlock()
	if start {
		go l.send()
	}
	select {
	case r := <-c.done:
		return r.Last, r.Err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// send sends batches until no append waits that it may take.
func (l *Log) send() {
	var batch []*call
	var calls []events.AppendCall
	for {
		l.mu.Lock()
		for _, c := range batch {
			if l.busy[c.Filter]--; l.busy[c.Filter] == 0 {
				delete(l.busy, c.Filter)
			}
		}
		batch = l.take(batch[:0])
		if len(batch) == 0 {
			l.inFlight--
			l.idle.Broadcast()
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		calls = calls[:0]
		for _, c := range batch {
			calls = append(calls, c.AppendCall)
		}
		// The batch belongs to no caller: one caller giving up must not
		// fail the others. The adapter bounds the wait for the server's
		// answer, and Close waits for it.
		results := l.log.AppendGroup(context.Background(), calls)
		for i, c := range batch {
			c.done <- results[i]
		}
	}
}

// take moves the appends of the next batch from the queue to batch, in
// order: at most AppendBatchMax envelopes (the adapter splits further by
// bytes), none whose caller has given up, none whose filter is busy. The
// caller holds l.mu.
func (l *Log) take(batch []*call) []*call {
	n := 0
	kept := l.queue[:0]
	for i, c := range l.queue {
		switch {
		case c.ctx.Err() != nil:
			// Its caller has returned; nothing was sent.
		case n+len(c.Envs) > events.AppendBatchMax && n > 0:
			kept = append(kept, l.queue[i:]...)
			l.queue = clearTail(l.queue, kept)
			return batch
		case l.busy[c.Filter] > 0:
			kept = append(kept, c)
		default:
			l.busy[c.Filter]++
			n += len(c.Envs)
			batch = append(batch, c)
		}
	}
	l.queue = clearTail(l.queue, kept)
	return batch
}

// clearTail returns kept, the front of queue's array, after dropping the
// references in the rest of it.
func clearTail(queue, kept []*call) []*call {
	clear(queue[len(kept):])
	return kept
}

// Close answers every append made before it, waiting for their batches,
// and then closes the wrapped log; later appends fail with
// events.ErrLogClosed, as do reads on the closed wrapped log.
func (l *Log) Close() {
	l.mu.Lock()
	l.closed = true
	for l.inFlight > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
	if c, ok := l.log.(interface{ Close() }); ok {
		c.Close()
	}
}

// Read implements events.Log on the wrapped log.
func (l *Log) Read(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	return l.log.Read(ctx, filter, from, fn)
}

// Follow implements events.Log on the wrapped log.
func (l *Log) Follow(ctx context.Context, filter string, from uint64, fn func(events.Record) error, opts ...events.FollowOption) error {
	return l.log.Follow(ctx, filter, from, fn, opts...)
}

// LastSeq implements events.Log on the wrapped log.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	return l.log.LastSeq(ctx)
}
