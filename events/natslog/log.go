package natslog

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// ReadBatch is how many messages a reader asks the server for at once.
// Replay speed is bounded by round trips with small batches; 1000 messages
// of ~300 bytes keep the client buffer small and the pipe full.
const ReadBatch = 1000

// duplicateScanMax bounds the search for an earlier copy of an event after a
// wrong-last-sequence answer (see Append). A retried append finds its first
// copy among the next few records of its filter; past this bound the caller
// gets ErrWrongLastSequence and recovers from the log, which is also correct.
const duplicateScanMax = 100

// cleanupTimeout bounds the deletion of a reader's consumer, which runs even
// when the reader's context is already done.
const cleanupTimeout = 2 * time.Second

// Log is the JetStream events.Log. It is safe for concurrent use.
type Log struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string

	// done is cancelled by Close: every running Read and Follow stops and
	// later calls fail with events.ErrLogClosed.
	done   context.Context
	cancel context.CancelFunc
	closed atomic.Bool
}

var _ events.Log = (*Log)(nil)

// New returns the log over an existing stream (DefaultStream when name is
// empty). It fails when the stream does not exist: EnsureStream, or Open,
// creates it.
func New(ctx context.Context, js jetstream.JetStream, name string) (*Log, error) {
	if name == "" {
		name = DefaultStream
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("natslog: open stream %s: %w", name, err)
	}
	done, cancel := context.WithCancel(context.Background())
	return &Log{js: js, stream: s, name: name, done: done, cancel: cancel}, nil
}

// Open ensures the stream (EnsureStream) and returns its log.
func Open(ctx context.Context, js jetstream.JetStream, o StreamOptions) (*Log, error) {
	o = o.withDefaults()
	if _, err := EnsureStream(ctx, js, o); err != nil {
		return nil, err
	}
	return New(ctx, js, o.Name)
}

// Close stops every running Read and Follow; later calls fail with
// events.ErrLogClosed. It does not close the NATS connection, which the
// caller owns.
func (l *Log) Close() {
	l.closed.Store(true)
	l.cancel()
}

// Stream is the name of the stream the log writes to.
func (l *Log) Stream() string { return l.name }

// scope returns a context that ends with ctx or with Close.
func (l *Log) scope(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.done, cancel)
	return ctx, func() { stop(); cancel() }
}

// stopped turns an error seen after ctx or Close ended the call into the
// error the caller expects: ErrLogClosed after Close, ctx's own error after
// the caller's cancellation.
func (l *Log) stopped(ctx context.Context, err error) error {
	if l.closed.Load() {
		return events.ErrLogClosed
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Append implements events.Log. The expectation is checked by the server
// (Nats-Expected-Last-Subject-Sequence with the filter in
// Nats-Expected-Last-Subject-Sequence-Subject), so two processes appending to
// one actor cannot interleave its history. The envelope id is the message
// id: an append retried with the same envelope returns the sequence of the
// first copy instead of storing a second one.
func (l *Log) Append(ctx context.Context, filter string, expectedLast uint64, envs ...events.Envelope) (uint64, error) {
	if len(envs) != 1 {
		// Atomic batches are not implemented yet.
		return 0, fmt.Errorf("%w: %d envelopes", events.ErrBatchSize, len(envs))
	}
	return l.appendOne(ctx, filter, expectedLast, envs[0])
}

func (l *Log) appendOne(ctx context.Context, filter string, expectedLast uint64, env events.Envelope) (uint64, error) {
	if l.closed.Load() {
		return 0, events.ErrLogClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := validateFilter(filter); err != nil {
		return 0, err
	}
	if err := validateSubject(env.Subject, filter); err != nil {
		return 0, err
	}
	data, err := events.Marshal(env)
	if err != nil {
		return 0, fmt.Errorf("natslog: append %s: %w", env.Subject, err)
	}
	opts := []jetstream.PublishOpt{
		jetstream.WithExpectStream(l.name),
		jetstream.WithExpectLastSequenceForSubject(expectedLast, filter),
	}
	if env.ID != "" {
		opts = append(opts, jetstream.WithMsgID(env.ID))
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	msg := &nats.Msg{Subject: env.Subject, Data: data, Header: nats.Header{}}
	ack, err := l.js.PublishMsg(sctx, msg, opts...)
	if err == nil {
		// A duplicate ack (ack.Duplicate) carries the sequence of the first
		// copy, which is the answer to a retried append.
		return ack.Sequence, nil
	}
	if !isWrongLastSequence(err) {
		return 0, fmt.Errorf("natslog: append %s: %w", env.Subject, l.stopped(ctx, err))
	}
	// A single server checks the expected sequence before the message id, so
	// a retry of an append that did succeed (its ack was lost, or the caller
	// timed out) is refused as a wrong last sequence rather than
	// acknowledged as a duplicate. Look for the first copy after the
	// expected sequence before reporting a conflict.
	if env.ID != "" {
		if seq, ok := l.findCopy(sctx, filter, expectedLast, env.ID); ok {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("%w: %s expected at %d: %w", events.ErrWrongLastSequence, filter, expectedLast, err)
}

// isWrongLastSequence reports the server's refusal of an expected last
// sequence. Replicated streams answer with a second code for the same
// conflict.
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// findCopy looks for a message with id among the records of filter after
// expectedLast. Errors count as "not found": the caller then reports the
// conflict, which is always safe.
func (l *Log) findCopy(ctx context.Context, filter string, expectedLast uint64, id string) (uint64, bool) {
	seq := expectedLast + 1
	for range duplicateScanMax {
		m, err := l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if err != nil {
			return 0, false
		}
		if m.Header.Get(jetstream.MsgIDHeader) == id {
			return m.Sequence, true
		}
		seq = m.Sequence + 1
	}
	return 0, false
}

// Read implements events.Log. The end is the number of matching records the
// server counts when the reader's consumer is created (its NumPending), so
// records appended during the Read are not delivered and a filter with no
// records returns at once.
func (l *Log) Read(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	return l.consume(ctx, filter, from, true, fn)
}

// Follow implements events.Log.
func (l *Log) Follow(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	return l.consume(ctx, filter, from, false, fn)
}

// consume delivers the records of filter from sequence from through an
// ordered consumer: an ephemeral, unacknowledged, flow-controlled consumer
// that the client recreates from the last delivered sequence if it sees a
// gap, so records arrive exactly once and in order.
func (l *Log) consume(ctx context.Context, filter string, from uint64, stopAtEnd bool, fn func(events.Record) error) error {
	if l.closed.Load() {
		return events.ErrLogClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateFilter(filter); err != nil {
		return err
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()

	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := l.js.OrderedConsumer(sctx, l.name, cfg)
	if err != nil {
		return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	// The ordered consumer creates its server-side consumer now; it would
	// otherwise linger until its inactivity threshold (5 minutes), and
	// recovering thousands of actors would leave thousands behind.
	defer l.deleteConsumer(cons)

	// The backlog is what matched when the consumer was created: the end of
	// a Read, and what a Follow catches up on before it waits.
	info := cons.CachedInfo()
	if info == nil {
		return fmt.Errorf("natslog: read %s: consumer has no info", filter)
	}
	backlog := info.NumPending
	if stopAtEnd && backlog == 0 {
		return nil
	}

	it, err := cons.Messages(jetstream.PullMaxMessages(ReadBatch))
	if err != nil {
		return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	defer it.Stop()

	if backlog > 0 {
		if err := replay(sctx, it, backlog, fn); err != nil {
			if cb, ok := err.(callbackError); ok {
				return cb.err
			}
			return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
		}
		if stopAtEnd {
			return nil
		}
	}
	// Caught up: new records come one at a time, so deliver each at once.
	for {
		msg, err := it.Next(jetstream.NextContext(sctx))
		if err != nil {
			return fmt.Errorf("natslog: follow %s: %w", filter, l.stopped(ctx, err))
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("natslog: follow %s: %w", filter, err)
		}
		rec, err := decode(meta.Sequence.Stream, msg.Data())
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// chunkSize is the number of records decoded as one unit of work during a
// replay.
const chunkSize = 256

// callbackError carries an error returned by the caller's function through
// replay, so that consume returns it unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// chunk is a run of consecutive messages of a replay, decoded by one worker.
type chunk struct {
	msgs []jetstream.Msg
	seqs []uint64
	recs []events.Record
	err  error         // why the fetcher stopped after this chunk, if it did
	done chan struct{} // closed once recs (or err) is set
}

func (c *chunk) decode() {
	c.recs = make([]events.Record, 0, len(c.msgs))
	for i, m := range c.msgs {
		rec, err := decode(c.seqs[i], m.Data())
		if err != nil {
			c.err = err
			break
		}
		c.recs = append(c.recs, rec)
	}
	c.msgs = nil
	close(c.done)
}

func decode(seq uint64, data []byte) (events.Record, error) {
	env, err := events.Unmarshal(data)
	if err != nil {
		return events.Record{}, fmt.Errorf("natslog: record %d: %w", seq, err)
	}
	return events.Record{Seq: seq, Envelope: env}, nil
}

// replay delivers n records from it to fn, in order. Decoding the JSON
// envelope is most of the cost of a replay, so it runs on several cores:
// one goroutine pulls messages into chunks, workers decode chunks in
// parallel, and the caller's goroutine calls fn chunk by chunk in order.
// The fetcher stops early at a message after which the server counted
// nothing pending, so a replay cannot wait for a record that is gone.
func replay(ctx context.Context, it jetstream.MessagesContext, n uint64, fn func(events.Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	workers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	work := make(chan *chunk, workers)
	order := make(chan *chunk, 4*workers)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range workers {
		wg.Go(func() {
			for c := range work {
				c.decode()
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(work)
		for left := n; left > 0; {
			size := min(uint64(chunkSize), left)
			c := &chunk{
				msgs: make([]jetstream.Msg, 0, size),
				seqs: make([]uint64, 0, size),
				done: make(chan struct{}),
			}
			for uint64(len(c.msgs)) < size {
				m, err := it.Next(jetstream.NextContext(ctx))
				if err == nil {
					var meta *jetstream.MsgMetadata
					if meta, err = m.Metadata(); err == nil {
						c.msgs = append(c.msgs, m)
						c.seqs = append(c.seqs, meta.Sequence.Stream)
						left--
						if meta.NumPending == 0 {
							left = 0
							break
						}
						continue
					}
				}
				c.err = err
				left = 0
				break
			}
			// The worker is handed the chunk before the caller waits on it,
			// so the caller never waits for a chunk no worker has.
			select {
			case work <- c:
			case <-ctx.Done():
				return
			}
			select {
			case order <- c:
			case <-ctx.Done():
				return
			}
		}
	})
	var delivered uint64
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for _, rec := range c.recs {
			if err := fn(rec); err != nil {
				return callbackError{err}
			}
		}
		delivered += uint64(len(c.recs))
		if c.err != nil {
			return c.err
		}
	}
	if delivered == n || ctx.Err() == nil {
		// All delivered, or the server said nothing more was pending.
		return nil
	}
	return ctx.Err()
}

func (l *Log) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	// Best effort: the server removes a forgotten consumer after its
	// inactivity threshold anyway.
	_ = l.js.DeleteConsumer(ctx, l.name, info.Name)
}

// LastSeq implements events.Log: the stream's last sequence, from the
// stream leader.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	if l.closed.Load() {
		return 0, events.ErrLogClosed
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	info, err := l.stream.Info(sctx)
	if err != nil {
		return 0, fmt.Errorf("natslog: last sequence: %w", l.stopped(ctx, err))
	}
	return info.State.LastSeq, nil
}
