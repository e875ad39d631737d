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
	"github.com/agora-econ/agora/events/chain"
)

// shell is the thin IO wrapper around an Aggregate: recover, then for each
// command decide -> evolve (at once: the state includes what is decided
// and not yet durable) -> append (optimistic, expecting the actor's last
// sequence) -> reply once durable. A rejection decided while batches are
// pending waits for them too: it rests on their events.
//
// Group commit, pipelined (commit.go): commands are decided one after
// another on the state as it will be once the earlier ones are durable,
// and their events are appended in batches. The actor does not wait for an
// append: while one batch is on its way to the log it decides the next, and
// answers the queries that the events not yet durable do not concern. The
// next batch is appended once the one before it is acknowledged (its
// expected last sequence is that batch's last), so a batch is what piled up
// during the previous append. No answer leaves the actor before what it
// rests on is durable; if an append fails, every command decided after the
// last durable event is answered with the error and the actor reloads from
// the log.
type shell[S, C any] struct {
	agg    Aggregate[S, C]
	id     string
	filter string
	deps   deps
	// public holds Aggregate.Public of the durable state (Host.Peek);
	// cell, which holds it, the actor's admissions too (Host.Admitted).
	public *atomic.Value
	cell   *cell
	// mailbox tells whether commands wait behind the one being handled.
	mailbox *mailboxRef
	// closeNow is set when a batch opens with nothing being appended and
	// nothing waiting in the mailbox: it is appended once the message that
	// opened it is handled (see openBatch).
	closeNow bool

	state S // durable state plus every event decided since
	// marks are the redelivery marks of state: they move with it, at
	// decide time and in recovery, and are saved with its snapshots.
	marks     Marks
	last      uint64 // stream sequence of this actor's last durable event
	sinceSnap int
	// head is the link (chain.Hash) of the actor's last event decided: the
	// prev of the next one. Events are chained as they are decided, so a
	// batch decided while the one before it is being appended continues
	// from that batch's last event; a failed append recovers, which sets
	// head back to the last durable event.
	head string
	// tail is the last record folded by a recovery, whose link becomes
	// head once the fold is done (hashing every record folded would cost
	// recovery time for nothing).
	tail events.Envelope
	// snapEvery is this actor's snapshot interval: the host's, doubled
	// after each snapshot too large to keep (see maybeSnapshot).
	snapEvery int
	mem       *memory
	// skipped are the records on the actor's subjects it did not fold
	// (admission.go); skippedPublished how many of them are published.
	skipped          []skippedRecord
	skippedPublished int
	// recovered is false after a failed recovery or append: the state may
	// be behind the log, so the next command recovers first.
	recovered bool

	// inflight is the batch being appended, waiting the batches closed
	// behind it (full), open the batch commands are decided into.
	inflight *batch[S]
	waiting  []*batch[S]
	open     *batch[S]
	// pendingEvents counts the events of the batches closed and not yet
	// durable; snapPlanned is set while one of them carries a snapshot.
	pendingEvents int
	snapPlanned   bool
	// stopping appends synchronously: the answer of an asynchronous append
	// would come after the actor has stopped.
	stopping bool

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

// snapshotFormat is the version of the snapshot written. Format 2 moved
// the redelivery marks out of each state into the snapshot (Marks): a
// snapshot of format 1 (which has no format field) holds its marks in its
// state, where the state types no longer read them, so it is refused and
// the actor folds its log from the start rather than lose its marks and
// apply a redelivered command twice.
const snapshotFormat = 2

type snapshot[S any] struct {
	Format int         `json:"format"`
	Kind   events.Kind `json:"kind"`
	ID     string      `json:"id"`
	Seq    uint64      `json:"seq"`
	// Head is the link of the actor's event at Seq (absent from snapshots
	// written before events were chained). Recovery reads that event
	// anyway, to check the snapshot is of this log; a snapshot whose head
	// is not that event's hash is of another history and is ignored.
	Head    string    `json:"head,omitempty"`
	State   S         `json:"state"`
	Marks   Marks     `json:"marks,omitempty"`
	Applied []applied `json:"applied,omitempty"`
	// Skipped are the records skipped up to Seq: an admission asked
	// after a restart for one of them must still say so.
	Skipped []skippedRecord `json:"skipped,omitempty"`
}

func (s *shell[S, C]) snapshotKey() string {
	return "snapshot." + string(s.agg.Kind) + "." + s.id
}

func (s *shell[S, C]) Receive(ctx actor.Context) {
	s.receive(ctx)
	if s.closeNow {
		s.closeNow = false
		s.flushOpen(ctx)
	}
	s.settleWaiters()
}

func (s *shell[S, C]) receive(ctx actor.Context) {
	msg, to := ctx.Message(), replyTo{}
	if c, ok := msg.(call); ok {
		msg, to = c.msg, c.to
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
		s.flushOpen(ctx)
	case appended[S]:
		s.appended(ctx, m)
	case *actor.Stopping:
		s.stop(ctx)
	case admission:
		if !s.idle() {
			// The record may be one being appended: answered once
			// everything decided is durable.
			s.openBatch(ctx).add(pending[S]{to: to, admits: m.seq})
			return
		}
		respond(to, reply{err: s.admitted(m.seq)})
	case resume:
		if s.resumed == nil {
			s.resumed = map[string]bool{}
		}
		s.resumed[m.manager] = true
		respond(to, reply{})
	case recall:
		if !s.idle() {
			// Answered from the memory once every decided event is
			// durable: the command may be among them.
			s.openBatch(ctx).add(pending[S]{to: to, recalls: true, key: m.key})
			return
		}
		if !s.recovered {
			if err := s.recover(); err != nil {
				respond(to, reply{err: err})
				return
			}
		}
		res, ok, err := s.mem.result(m.key)
		respond(to, reply{result: res, value: ok, err: err})
	case Query[S]:
		if !s.idle() && !s.unaffected(m.Unaffected) {
			// A query sees durable state only: it is answered with the
			// last batch, and does not cut a batch short.
			s.openBatch(ctx).add(pending[S]{to: to, query: m.Fn})
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

// handle decides one command. With nothing decided and not yet durable, an
// answer that writes nothing (a rejection, a remembered retry) goes out at
// once: it rests on durable state. Otherwise it waits for what was decided
// before it.
func (s *shell[S, C]) handle(ctx actor.Context, to replyTo, req Request) {
	if req.Manager != "" && s.fenced && !s.resumed[req.Manager] {
		respond(to, reply{err: fmt.Errorf("%w: %s %s", ErrFenced, s.agg.Kind, s.id)})
		return
	}
	if !s.recovered && s.idle() {
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
		if b, i, ok := s.decided(req.Key); ok {
			s.openBatch(ctx).add(pending[S]{to: to, dupIn: b, dupOf: i})
			return
		}
	}
	e, err := Step(s.agg, s.state, s.marks, req.Command)
	if err == nil && e != nil {
		var env events.Envelope
		env, err = events.Encode(s.agg.Kind, s.id, e, events.Meta{
			Time:           s.deps.clock(),
			CausationID:    req.CausationID,
			CorrelationID:  req.CorrelationID,
			IdempotencyKey: req.Key,
			Prev:           s.head,
		})
		var link string
		if err == nil {
			link, err = chain.Hash(env)
		}
		if err == nil {
			s.head = link
			s.state = s.agg.Evolve(s.state, e)
			s.marks = s.marks.Settle(TriggerOf(e))
			b := s.openBatch(ctx)
			b.addEvent(to, e, env)
			if len(b.envs) >= s.deps.opts.BatchMax {
				s.close(ctx)
			}
			return
		}
	}
	if s.idle() {
		respond(to, reply{err: err})
		return
	}
	s.openBatch(ctx).add(pending[S]{to: to, err: err})
}

// fence refuses every manager's commands until it resumes.
func (s *shell[S, C]) fence() {
	s.fenced, s.resumed = true, map[string]bool{}
}

// respond answers a call (nothing when the message was not a call).
func respond(to replyTo, r reply) {
	switch {
	case to.then != nil:
		to.then(r)
	case to.ch != nil:
		select {
		case to.ch <- r:
		default:
		}
	}
}

// apply evolves the state by one durable record (recovery).
func (s *shell[S, C]) apply(r events.Record, e events.Event) {
	s.state = s.agg.Evolve(s.state, e)
	s.marks = s.marks.Settle(TriggerOf(e))
	s.last, s.tail = r.Seq, r.Envelope
	s.sinceSnap++
	if r.Envelope.IdempotencyKey != "" {
		s.mem.add(applied{Key: r.Envelope.IdempotencyKey, Seq: r.Seq, Type: r.Envelope.Type, Data: r.Envelope.Data})
	}
}

// recover rebuilds the state from the latest snapshot and the events after
// it. Recovery time depends on the snapshot interval, not the log length.
func (s *shell[S, C]) recover() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.RecoverTimeout)
	defer cancel()
	s.reset()
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
			if snap.Head != "" {
				if link, err := chain.Hash(first.Envelope); err != nil || link != snap.Head {
					s.deps.logger.Warn("ignoring snapshot whose head is not the hash of its event in the log",
						"key", s.snapshotKey(), "seq", snap.Seq, "head", snap.Head, "event", link)
					return false
				}
			}
			s.state, s.marks, s.last, s.tail, s.skipped = snap.State, snap.Marks, snap.Seq, first.Envelope, snap.Skipped
			for _, a := range snap.Applied {
				s.mem.add(a)
			}
			return true
		})
		if errors.Is(err, errSnapshotMismatch) {
			s.reset()
			err = s.fold(ctx, 1, nil)
		}
	} else {
		err = s.fold(ctx, 1, nil)
	}
	if err == nil && s.tail.Subject != "" {
		// The last record admitted: a skipped record is in no actor's
		// chain (the audit passes over it too).
		s.head, err = chain.Hash(s.tail)
	}
	if err != nil {
		return fmt.Errorf("%w: recover %s %s: %v", ErrUnavailable, s.agg.Kind, s.id, err)
	}
	s.tail = events.Envelope{}
	s.recovered = true
	s.publish(s.state)
	s.publishAdmissions()
	s.maybeSnapshot()
	return nil
}

// reset empties the state before a recovery folds the log into it.
func (s *shell[S, C]) reset() {
	s.state, s.marks, s.last, s.sinceSnap, s.mem = s.agg.New(s.id), nil, 0, 0, newMemory(s.deps.opts.IdempotencyMemory)
	s.head, s.tail = "", events.Envelope{}
	s.skipped, s.skippedPublished = nil, -1
}

// publish makes the public part of a durable state readable by Host.Peek.
func (s *shell[S, C]) publish(durable S) {
	if s.agg.Public != nil && s.public != nil {
		s.public.Store(published{s.agg.Public(durable)})
	}
}

// published boxes a public value, so that one atomic.Value can hold values
// of any type, nil included.
type published struct{ v any }

// fold applies the actor's records from sequence from. With first set, the
// first record read is handed to it instead of being applied: it returns
// false to reject the snapshot (errSnapshotMismatch), and the snapshot
// missing its record altogether is a mismatch too.
func (s *shell[S, C]) fold(ctx context.Context, from uint64, first func(events.Record) bool) error {
	checked := first == nil
	err := s.deps.log.Read(ctx, s.filter, from, func(r events.Record) error {
		if !checked {
			checked = true
			if !first(r) {
				return errSnapshotMismatch
			}
			return nil
		}
		e, bad := s.read(r)
		if bad != nil {
			s.skip(bad)
			return nil
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
func (s *shell[S, C]) loadSnapshot(ctx context.Context) (snapshot[S], bool, error) {
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
	err = json.Unmarshal(b, &snap)
	switch {
	case err == nil && snap.Format != snapshotFormat:
		s.deps.logger.Warn("ignoring snapshot of another format", "key", s.snapshotKey(), "format", snap.Format,
			"want", snapshotFormat)
		return snapshot[S]{State: s.agg.New(s.id)}, false, nil
	case err != nil || snap.Kind != s.agg.Kind || snap.ID != s.id || snap.Seq == 0:
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

// maybeSnapshot saves a snapshot of the durable state if one is due; the
// actor has nothing in flight (it has just recovered).
func (s *shell[S, C]) maybeSnapshot() {
	if !s.snapshotDue(0) {
		return
	}
	s.sinceSnap = 0
	if state, ok := s.encodeState(); ok {
		s.saveSnapshot(s.last, s.head, state, s.marks)
	}
}

// snapshotDue reports whether a snapshot is due once n more events are
// durable.
func (s *shell[S, C]) snapshotDue(n int) bool {
	if s.deps.store == nil || s.deps.opts.SnapshotEvery <= 0 {
		return false
	}
	if s.snapEvery < s.deps.opts.SnapshotEvery {
		s.snapEvery = s.deps.opts.SnapshotEvery
	}
	return s.sinceSnap+n >= s.snapEvery
}

// encodeState encodes the state for a snapshot, unless it is too large.
// Whatever happens, the caller waits a full interval before the next try:
// a snapshot that fails (too large, store down) must not be retried on
// every event.
func (s *shell[S, C]) encodeState() (json.RawMessage, bool) {
	if s.agg.SnapshotBytesMin != nil && s.agg.SnapshotBytesMin(s.state) > SnapshotBytesMax {
		return nil, false
	}
	b, err := json.Marshal(s.state)
	if err != nil {
		s.deps.logger.Error("encode snapshot", "key", s.snapshotKey(), "err", err)
		return nil, false
	}
	if len(b) > SnapshotBytesMax {
		s.tooLarge(len(b))
		return nil, false
	}
	return b, true
}

// tooLarge backs off after a state too large to snapshot. Encoding the
// state costs time in proportion to its size, on the actor's own
// goroutine: a book of many thousand bids encoded every interval for
// nothing would hold every caller of the book (docs/decisions.md, "The hot
// path"). So each refusal doubles the interval (up to
// snapshotBackoffMax times the host's), which keeps the encoding's cost per
// event bounded however large the state grows.
func (s *shell[S, C]) tooLarge(bytes int) {
	if s.snapEvery < snapshotBackoffMax*s.deps.opts.SnapshotEvery {
		s.snapEvery *= 2
	}
	s.deps.logger.Warn("state too large to snapshot; recovery replays its events", "key", s.snapshotKey(), "bytes", bytes,
		"next_try_after_events", s.snapEvery)
}

// saveSnapshot saves state, the encoded state as of the actor's event at
// seq (whose link is head), and its marks, with the memory of the commands
// applied up to it and the records skipped.
func (s *shell[S, C]) saveSnapshot(seq uint64, head string, state json.RawMessage, m Marks) {
	b, err := json.Marshal(snapshotOut{Format: snapshotFormat, Kind: s.agg.Kind, ID: s.id, Seq: seq, Head: head, State: state,
		Marks: m, Applied: s.mem.entries(), Skipped: s.skippedUpTo(seq)})
	if err != nil {
		s.deps.logger.Error("encode snapshot", "key", s.snapshotKey(), "err", err)
		return
	}
	if len(b) > SnapshotBytesMax {
		s.tooLarge(len(b))
		return
	}
	s.snapEvery = s.deps.opts.SnapshotEvery
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.AppendTimeout)
	defer cancel()
	if err := s.deps.store.Put(ctx, s.snapshotKey(), b); err != nil {
		// Not fatal: the next recovery reads a longer tail.
		s.deps.logger.Warn("save snapshot", "key", s.snapshotKey(), "err", err)
	}
}

// snapshotOut is a snapshot as written, with its state encoded already
// (snapshot[S] as read).
type snapshotOut struct {
	Format  int             `json:"format"`
	Kind    events.Kind     `json:"kind"`
	ID      string          `json:"id"`
	Seq     uint64          `json:"seq"`
	Head    string          `json:"head,omitempty"`
	State   json.RawMessage `json:"state"`
	Marks   Marks           `json:"marks,omitempty"`
	Applied []applied       `json:"applied,omitempty"`
	Skipped []skippedRecord `json:"skipped,omitempty"`
}

// snapshotBackoffMax bounds how far the snapshot interval of a state too
// large to snapshot stretches: a state that shrinks (a book after a busy
// cycle) gets a snapshot again within that many intervals.
const snapshotBackoffMax = 1024

// deps are what every shell of a host shares.
type deps struct {
	log    events.Log
	store  events.Store
	opts   Options
	clock  func() time.Time
	logger *slog.Logger
	// background runs an actor's append beside it, on the host's parked
	// workers: a goroutine started for each append grew its stack anew
	// through the client's publish.
	background func(func())
	// appends bounds each append by opts.AppendTimeout.
	appends *deadlines
}

// skippedUpTo lists the records skipped up to seq (a snapshot's).
func (s *shell[S, C]) skippedUpTo(seq uint64) []skippedRecord {
	n := len(s.skipped)
	for n > 0 && s.skipped[n-1].Seq > seq {
		n--
	}
	return s.skipped[:n:n]
}
