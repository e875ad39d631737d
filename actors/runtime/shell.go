package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/events"
)

// shell is the thin IO wrapper around an Aggregate: recover, then for each
// command decide -> append (durable, optimistic) -> evolve -> reply.
//
// Group commit: commands that arrive while the actor is busy are decided
// one after another on the state as it will be once the earlier ones are
// durable, and their events are appended together as one atomic batch. The
// first command of a batch sends the actor a flush message, which queues
// behind every command already waiting, so a batch is exactly what piled
// up during the previous append. No answer leaves the actor before the
// batch is durable; if the append fails, every command of the batch is
// answered with the error and the actor reloads from the log.
type shell[S any] struct {
	agg    Aggregate[S]
	id     string
	filter string
	deps   deps
	// public holds Aggregate.Public of the durable state (Host.Peek).
	public *atomic.Value

	state     S      // durable state plus the events of batch
	last      uint64 // stream sequence of this actor's last durable event
	sinceSnap int
	mem       *memory
	// recovered is false after a failed recovery or append: the state may
	// be behind the log, so the next command recovers first.
	recovered bool

	batch     []pending[S]
	batchEnvs []events.Envelope
	batchKeys map[string]int // idempotency key -> index in batch

	// fenced is set by a failed append or recovery. Managers pipeline
	// several commands to an actor, relying on each actor's trigger marks
	// to recognise redeliveries; if a command failed while a later one from
	// the same manager applied, the mark would hide the failed one for
	// ever. So after a failure every manager's commands are refused until
	// it sends resume, which it does once it has seen the failure: what it
	// sends after that is its resend, in order.
	fenced  bool
	resumed map[string]bool
}

// pending is a command decided and not yet answered.
type pending[S any] struct {
	to    chan<- reply
	event events.Event // nil: nothing to write (a rejection or a no-op)
	env   int          // index in batchEnvs when event != nil
	err   error
	dupOf int // >= 0: a retry of batch[dupOf] within the same batch
	// query, when set, is a read answered once the batch is durable.
	query func(S) any
}

// flush asks the actor to append its batch.
type flush struct{}

type snapshot[S any] struct {
	Kind    events.Kind `json:"kind"`
	ID      string      `json:"id"`
	Seq     uint64      `json:"seq"`
	State   S           `json:"state"`
	Applied []applied   `json:"applied,omitempty"`
}

func (s *shell[S]) snapshotKey() string {
	return "snapshot." + string(s.agg.Kind) + "." + s.id
}

func (s *shell[S]) Receive(ctx actor.Context) {
	msg, to := ctx.Message(), chan<- reply(nil)
	if c, ok := msg.(call); ok {
		msg, to = c.msg, c.answer
	}
	switch m := msg.(type) {
	case *actor.Started:
		if err := s.recover(); err != nil {
			s.deps.logger.Error("actor recovery failed; will retry on the next command",
				"kind", s.agg.Kind, "id", s.id, "err", err)
		}
	case Request:
		s.handle(ctx, to, m)
	case flush:
		s.flush(ctx)
	case *actor.Stopping:
		s.flush(ctx) // a stop queued ahead of the flush message
	case resume:
		if s.resumed == nil {
			s.resumed = map[string]bool{}
		}
		s.resumed[m.manager] = true
		respond(to, reply{})
	case recall:
		s.flush(ctx)
		if !s.recovered {
			if err := s.recover(); err != nil {
				respond(to, reply{err: err})
				return
			}
		}
		res, ok, err := s.mem.result(m.key)
		respond(to, reply{result: res, value: ok, err: err})
	case Query[S]:
		if len(s.batch) > 0 {
			// A query sees durable state only: it is answered when the
			// batch is, and does not cut the batch short.
			s.batch = append(s.batch, pending[S]{to: to, query: m.Fn, dupOf: -1})
			return
		}
		if !s.recovered {
			if err := s.recover(); err != nil {
				respond(to, reply{err: err})
				return
			}
		}
		respond(to, reply{value: m.Fn(s.state)})
	default:
		respond(to, reply{err: fmt.Errorf("%w: %s %s cannot handle %T", ErrUnknownMessage, s.agg.Kind, s.id, m)})
	}
}

// handle decides one command. With no batch open, an answer that writes
// nothing (a rejection, a remembered retry) goes out at once: it rests on
// durable state. Otherwise it waits for the batch.
func (s *shell[S]) handle(ctx actor.Context, to chan<- reply, req Request) {
	if req.Manager != "" && s.fenced && !s.resumed[req.Manager] {
		respond(to, reply{err: fmt.Errorf("%w: %s %s", ErrFenced, s.agg.Kind, s.id)})
		return
	}
	if !s.recovered && len(s.batch) == 0 {
		if err := s.recover(); err != nil {
			s.fence()
			respond(to, reply{err: err})
			return
		}
	}
	if req.Key != "" {
		if res, ok, err := s.mem.result(req.Key); ok {
			respond(to, reply{result: res, err: err})
			return
		}
		if i, ok := s.batchKeys[req.Key]; ok {
			s.batch = append(s.batch, pending[S]{to: to, dupOf: i})
			return
		}
	}
	e, err := s.agg.Decide(s.state, req.Command)
	if err != nil || e == nil {
		if len(s.batch) == 0 {
			respond(to, reply{err: err})
			return
		}
		s.batch = append(s.batch, pending[S]{to: to, err: err, dupOf: -1})
		return
	}
	env, err := events.Encode(s.agg.Kind, s.id, e, events.Meta{
		Time:           s.deps.clock(),
		CausationID:    req.CausationID,
		CorrelationID:  req.CorrelationID,
		IdempotencyKey: req.Key,
	})
	if err != nil {
		if len(s.batch) == 0 {
			respond(to, reply{err: err})
			return
		}
		s.batch = append(s.batch, pending[S]{to: to, err: err, dupOf: -1})
		return
	}
	if len(s.batch) == 0 {
		ctx.Send(ctx.Self(), flush{})
	}
	if req.Key != "" {
		if s.batchKeys == nil {
			s.batchKeys = map[string]int{}
		}
		s.batchKeys[req.Key] = len(s.batch)
	}
	s.state = s.agg.Evolve(s.state, e)
	s.batch = append(s.batch, pending[S]{to: to, event: e, env: len(s.batchEnvs), dupOf: -1})
	s.batchEnvs = append(s.batchEnvs, env)
	if len(s.batchEnvs) >= s.deps.opts.BatchMax {
		s.flush(ctx)
	}
}

// flush appends the batch and answers every command in it.
func (s *shell[S]) flush(ctx actor.Context) {
	if len(s.batch) == 0 {
		return
	}
	batch, envs := s.batch, s.batchEnvs
	s.batch, s.batchEnvs, s.batchKeys = nil, nil, nil
	seqs, err := s.appendAll(envs)
	durable := len(seqs) // envs[:durable] are in the log
	if err != nil {
		// What was not acknowledged may or may not have landed. Never
		// guess: reload from the log, which is the truth, and tell every
		// caller whose event was not acknowledged. A retry with the same
		// key then learns the true outcome.
		s.recovered = false
		s.fence()
		if rerr := s.recover(); rerr != nil {
			s.deps.logger.Error("actor recovery after a failed append failed",
				"kind", s.agg.Kind, "id", s.id, "err", rerr)
		}
		if errors.Is(err, events.ErrWrongLastSequence) {
			err = fmt.Errorf("%w: %s %s: %v", ErrConflict, s.agg.Kind, s.id, err)
		} else {
			err = fmt.Errorf("%w: %s %s: %v", ErrUnavailable, s.agg.Kind, s.id, err)
		}
	}
	results := make([]Result, len(batch))
	for i, p := range batch {
		switch {
		case p.query != nil:
			if err != nil && !s.recovered {
				respond(p.to, reply{err: err})
			} else {
				respond(p.to, reply{value: p.query(s.state)})
			}
			continue
		case p.dupOf >= 0:
			results[i] = results[p.dupOf]
			results[i].Replayed = true
			if batch[p.dupOf].event != nil && batch[p.dupOf].env >= durable {
				respond(p.to, reply{err: err})
				continue
			}
		case p.event != nil && p.env >= durable:
			respond(p.to, reply{err: err})
			continue
		case p.event != nil:
			env := envs[p.env]
			if err == nil && env.IdempotencyKey != "" {
				s.mem.add(applied{Key: env.IdempotencyKey, Seq: seqs[p.env], Type: env.Type, Data: env.Data})
			}
			results[i] = Result{Seq: seqs[p.env], Event: p.event}
		case err != nil:
			// A rejection decided on state that included events now lost
			// may not hold; the caller retries.
			respond(p.to, reply{err: err})
			continue
		}
		respond(p.to, reply{result: results[i], err: p.err})
	}
	if err == nil && len(envs) > 0 {
		s.last = seqs[len(seqs)-1]
		s.sinceSnap += len(envs)
		s.publish()
		s.maybeSnapshot()
	}
}

// appendAll writes the batch's events and returns the sequences of those
// acknowledged, in order. A large batch goes as one atomic append (one
// round trip for all); a small one as single appends chained on each
// other's sequence, which costs less than an atomic batch on JetStream
// (whose batches are staged through a store of their own). Either way each
// event is one command's and stands alone, so a failure part-way leaves a
// durable prefix, which the caller answers as such.
func (s *shell[S]) appendAll(envs []events.Envelope) ([]uint64, error) {
	if len(envs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.AppendTimeout)
	defer cancel()
	if len(envs) >= s.deps.opts.AtomicBatchMin {
		last, err := s.deps.log.Append(ctx, s.filter, s.last, envs...)
		if err != nil {
			return nil, err
		}
		seqs := make([]uint64, len(envs))
		for i := range seqs {
			seqs[i] = last - uint64(len(envs)-1-i)
		}
		return seqs, nil
	}
	seqs := make([]uint64, 0, len(envs))
	prev := s.last
	for _, env := range envs {
		seq, err := s.deps.log.Append(ctx, s.filter, prev, env)
		if err != nil {
			return seqs, err
		}
		seqs = append(seqs, seq)
		prev = seq
	}
	return seqs, nil
}

// fence refuses every manager's commands until it resumes.
func (s *shell[S]) fence() {
	s.fenced, s.resumed = true, map[string]bool{}
}

// respond answers a call. Its channel has room for the one answer a call
// gets, so the actor never blocks on a caller that went away.
func respond(to chan<- reply, r reply) {
	if to != nil {
		select {
		case to <- r:
		default:
		}
	}
}

// apply evolves the state by one durable record (recovery).
func (s *shell[S]) apply(r events.Record, e events.Event) {
	s.state = s.agg.Evolve(s.state, e)
	s.last = r.Seq
	s.sinceSnap++
	if r.Envelope.IdempotencyKey != "" {
		s.mem.add(applied{Key: r.Envelope.IdempotencyKey, Seq: r.Seq, Type: r.Envelope.Type, Data: r.Envelope.Data})
	}
}

// recover rebuilds the state from the latest snapshot and the events after
// it. Recovery time depends on the snapshot interval, not the log length.
func (s *shell[S]) recover() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.RecoverTimeout)
	defer cancel()
	s.state, s.last, s.sinceSnap, s.mem = s.agg.New(s.id), 0, 0, newMemory(s.deps.opts.IdempotencyMemory)
	snap, ok, err := s.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	if ok {
		// One read checks the snapshot and folds the tail: the record at
		// the snapshot's sequence must be this actor's, else the snapshot
		// belongs to another history (a restored stream) and is ignored.
		err = s.fold(ctx, snap.Seq, func(first events.Record) bool {
			if first.Seq != snap.Seq {
				s.deps.logger.Warn("ignoring snapshot that does not match the log", "key", s.snapshotKey(), "seq", snap.Seq)
				return false
			}
			s.state, s.last = snap.State, snap.Seq
			for _, a := range snap.Applied {
				s.mem.add(a)
			}
			return true
		})
		if errors.Is(err, errSnapshotMismatch) {
			s.state, s.last, s.sinceSnap, s.mem = s.agg.New(s.id), 0, 0, newMemory(s.deps.opts.IdempotencyMemory)
			err = s.fold(ctx, 1, nil)
		}
	} else {
		err = s.fold(ctx, 1, nil)
	}
	if err != nil {
		return fmt.Errorf("%w: recover %s %s: %v", ErrUnavailable, s.agg.Kind, s.id, err)
	}
	s.recovered = true
	s.publish()
	s.maybeSnapshot()
	return nil
}

// publish makes the durable state's public part readable by Host.Peek.
func (s *shell[S]) publish() {
	if s.agg.Public != nil && s.public != nil {
		s.public.Store(published{s.agg.Public(s.state)})
	}
}

// published boxes a public value, so that one atomic.Value can hold values
// of any type, nil included.
type published struct{ v any }

// fold applies the actor's records from sequence from. With first set, the
// first record read is handed to it instead of being applied: it returns
// false to reject the snapshot (errSnapshotMismatch), and the snapshot
// missing its record altogether is a mismatch too.
func (s *shell[S]) fold(ctx context.Context, from uint64, first func(events.Record) bool) error {
	checked := first == nil
	err := s.deps.log.Read(ctx, s.filter, from, func(r events.Record) error {
		if !checked {
			checked = true
			if !first(r) {
				return errSnapshotMismatch
			}
			return nil
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return fmt.Errorf("seq %d: %w", r.Seq, err)
		}
		s.apply(r, e)
		return nil
	})
	if err == nil && !checked {
		if first(events.Record{}) {
			return nil
		}
		return errSnapshotMismatch
	}
	return err
}

// loadSnapshot reads the actor's snapshot when there is a usable one;
// recover checks it against the log. A snapshot is only a shortcut: one
// that does not decode, names another actor, or covers a sequence that is
// not this actor's event in the log (a restored stream, a stray write) is
// ignored, and the state is folded from the log alone.
func (s *shell[S]) loadSnapshot(ctx context.Context) (snapshot[S], bool, error) {
	snap := snapshot[S]{State: s.agg.New(s.id)}
	if s.deps.store == nil {
		return snap, false, nil
	}
	b, ok, err := s.deps.store.Get(ctx, s.snapshotKey())
	if err != nil {
		return snap, false, fmt.Errorf("%w: load snapshot of %s %s: %v", ErrUnavailable, s.agg.Kind, s.id, err)
	}
	if !ok {
		return snap, false, nil
	}
	if err := json.Unmarshal(b, &snap); err != nil || snap.Kind != s.agg.Kind || snap.ID != s.id || snap.Seq == 0 {
		s.deps.logger.Warn("ignoring unusable snapshot", "key", s.snapshotKey(), "err", err)
		return snapshot[S]{State: s.agg.New(s.id)}, false, nil
	}
	return snap, true, nil
}

// SnapshotBytesMax keeps a snapshot under NATS's default 1 MiB message
// limit. A larger state (a book of many thousand bids) is not snapshotted:
// its recovery replays its events instead.
const SnapshotBytesMax = 1000 << 10

// errSnapshotMismatch stops a recovery whose snapshot is not in the log.
var errSnapshotMismatch = errors.New("snapshot does not match the log")

func (s *shell[S]) maybeSnapshot() {
	if s.deps.store == nil || s.deps.opts.SnapshotEvery <= 0 || s.sinceSnap < s.deps.opts.SnapshotEvery {
		return
	}
	// Whatever happens below, wait a full interval before the next try:
	// a snapshot that fails (too large, store down) must not be retried on
	// every event.
	s.sinceSnap = 0
	b, err := json.Marshal(snapshot[S]{Kind: s.agg.Kind, ID: s.id, Seq: s.last, State: s.state, Applied: s.mem.entries()})
	if err != nil {
		s.deps.logger.Error("encode snapshot", "key", s.snapshotKey(), "err", err)
		return
	}
	if len(b) > SnapshotBytesMax {
		s.deps.logger.Warn("state too large to snapshot; recovery replays its events", "key", s.snapshotKey(), "bytes", len(b))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.AppendTimeout)
	defer cancel()
	if err := s.deps.store.Put(ctx, s.snapshotKey(), b); err != nil {
		// Not fatal: the next recovery reads a longer tail.
		s.deps.logger.Warn("save snapshot", "key", s.snapshotKey(), "err", err)
	}
}

// deps are what every shell of a host shares.
type deps struct {
	log    events.Log
	store  events.Store
	opts   Options
	clock  func() time.Time
	logger *slog.Logger
}
