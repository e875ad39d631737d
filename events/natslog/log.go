package natslog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// Log is the JetStream events.Log. It is safe for concurrent use.
//
// Appends of one envelope are JetStream publishes with an expected last
// subject sequence (append.go); appends of several are atomic batches
// (batch.go). Reads are batched direct gets (direct.go), which need no
// consumer on the server, so any number of actors can recover at once;
// Follow catches up the same way and then waits on an ordered consumer
// (consume.go).
type Log struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream jetstream.Stream
	name   string

	// directGet is the subject of the stream's direct get API.
	directGet string
	// replicated is set when the stream has more than one replica: its
	// reads make sure to reach the leader's last record (replicas.go).
	replicated bool
	// everything is the filter that matches every message of the stream
	// (its only subject, events.>), if it has only one. A read with it
	// asks for all messages: the server counts them at once instead of
	// walking a block to count matches.
	everything string

	// batchMu keeps the messages of one atomic batch together on the
	// connection, so that the server stages one batch of this log at a
	// time, however many cores write at once: it stages at most 50 a
	// stream and refuses more (a refusal the adapter would retry).
	batchMu sync.Mutex
	// answers receives the answers to batch commits and direct gets.
	answers mux
	// beforeCommit, when set (by tests), runs before a batch's commit is
	// sent, with the rest of the batch already written.
	beforeCommit func(commit *nats.Msg)

	// done is cancelled by Close: every running Read and Follow stops and
	// later calls fail with events.ErrLogClosed.
	done   context.Context
	cancel context.CancelFunc
	closed atomic.Bool
}

var _ events.Log = (*Log)(nil)

// New returns the log over an existing stream (DefaultStream when name is
// empty). It fails when the stream does not exist, or does not allow direct
// gets and atomic batches: EnsureStream, or Open, creates the stream so.
func New(ctx context.Context, js jetstream.JetStream, name string) (*Log, error) {
	if name == "" {
		name = DefaultStream
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("natslog: open stream %s: %w", name, err)
	}
	// Reads rely on direct gets, which need no consumer and never see part
	// of an atomic batch; appends of several events on atomic batches.
	if info := s.CachedInfo(); info == nil || !info.Config.AllowDirect || !info.Config.AllowAtomicPublish {
		return nil, fmt.Errorf("natslog: stream %s does not allow direct gets and atomic batches; EnsureStream configures it", name)
	}
	done, cancel := context.WithCancel(context.Background())
	l := &Log{
		js:        js,
		nc:        js.Conn(),
		stream:    s,
		name:      name,
		directGet: apiPrefix(js) + "DIRECT.GET." + name,
		done:      done,
		cancel:    cancel,
	}
	l.answers.done = done.Done()
	if subjects := s.CachedInfo().Config.Subjects; len(subjects) == 1 {
		l.everything = subjects[0]
	}
	l.replicated = s.CachedInfo().Config.Replicas > 1
	return l, nil
}

// apiPrefix is the prefix of the JetStream API subjects js talks to, as
// the client computes it (jetstream.NewWithDomain, NewWithAPIPrefix).
func apiPrefix(js jetstream.JetStream) string {
	o := js.Options()
	switch {
	case o.Domain != "":
		return "$JS." + o.Domain + ".API."
	case o.APIPrefix != "":
		if !strings.HasSuffix(o.APIPrefix, ".") {
			return o.APIPrefix + "."
		}
		return o.APIPrefix
	default:
		return jetstream.DefaultAPIPrefix
	}
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
	l.answers.close()
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

// begin runs the checks every call starts with.
func (l *Log) begin(ctx context.Context, filter string) error {
	if l.closed.Load() {
		return events.ErrLogClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return validateFilter(filter)
}

// Read implements events.Log. The end is the number of records matching
// filter from 'from' that the server counts when it answers the first
// request, so records appended during the Read are not delivered and a
// filter with no records returns at once. Since the log is append-only,
// those are exactly the records present when Read was called.
func (l *Log) Read(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	if err := l.begin(ctx, filter); err != nil {
		return err
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	if l.replicated {
		_, err := l.readReplicated(sctx, ctx, filter, from, nil, fn)
		return err
	}
	_, err := l.readDirect(sctx, ctx, filter, from, nil, fn)
	return err
}

// Scan implements events.Scanner: Read through an ordered consumer, which
// the server pushes from the stream's blocks without a request per batch
// and whose messages carry their sequence in the reply subject rather than
// in headers the client must parse, so a whole-log read (an audit) goes
// faster than by direct gets. Each record is decoded on the goroutine that
// reads it, as fn's caller: a whole-log reader overlaps its own work with
// the read (projections/economy.ReadAhead). It creates one consumer on the
// server for the call (deleted at the end) and stops at the records the
// consumer counted when it was created. Unlike Read it may end inside an atomic
// batch being committed, delivering its first part: a prefix of the log,
// as `--until` gives, which is why only whole-log readers use it.
func (l *Log) Scan(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	if err := l.begin(ctx, filter); err != nil {
		return err
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	return l.consume(sctx, ctx, filter, from, true, true, nil, fn)
}

// Follow implements events.Log: it catches up with direct gets, as Read
// does, then waits for new records on an ordered consumer that starts
// after the last record delivered. With events.WithTypes, a record of
// another type is delivered with its sequence alone, its envelope empty
// and unread; one whose type cannot be told without reading it whole (an
// envelope in another layout) is read whole.
func (l *Log) Follow(ctx context.Context, filter string, from uint64, fn func(events.Record) error, opts ...events.FollowOption) error {
	return l.follow(ctx, filter, from, only(events.FollowOptionsOf(opts).Types), fn)
}

func (l *Log) follow(ctx context.Context, filter string, from uint64, o only, fn func(events.Record) error) error {
	if err := l.begin(ctx, filter); err != nil {
		return err
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	last, err := l.readDirect(sctx, ctx, filter, from, o, fn)
	if err != nil {
		return err
	}
	if last > 0 {
		from = last + 1
	}
	return l.consume(sctx, ctx, filter, from, false, false, o, fn)
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
