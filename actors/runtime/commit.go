package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/events"
)

// batch is a group of commands decided one after another, whose events go
// to the log together, and the reads and rejections that wait for them.
type batch[S any] struct {
	pending []pending[S]
	envs    []events.Envelope
	// keys indexes the idempotency keys of envs (key -> index in pending)
	// once the batch holds keysIndexMin events; a smaller batch is
	// searched (see find).
	keys  map[string]int
	types []string // the distinct types of envs
	// The first entries of pending, envs, types and the sequences live in
	// the batch itself: a quiet actor's batches hold one command, and
	// allocating each of those slices apart was a visible part of the
	// shell's cost.
	pendingFirst [1]pending[S]
	envsFirst    [1]events.Envelope
	typesFirst   [1]string
	seqsFirst    [1]uint64
	// public is Aggregate.Public of the state as the batch leaves it, and
	// snap that state encoded for a snapshot when one falls due with the
	// batch (snapTried), with that state's redelivery marks (marks): all
	// are taken when the batch closes (the state then ends with it), and
	// published or saved once it is durable.
	public    any
	snap      json.RawMessage
	marks     Marks
	snapTried bool
	// head is the link of the batch's last event, which a snapshot taken
	// with the batch records.
	head string

	// Set once the append has answered.
	done chan appendResult // the append's outcome (room for one)
	// taken is set by whoever takes the outcome first: the appending
	// goroutine, which then tells the actor with an appended message, or
	// the actor stopping, which waits for it then and there (a message
	// would come after the actor has gone, a dead letter).
	taken atomic.Bool
	seqs  []uint64 // of envs[:len(seqs)], those in the log
}

// pending is a command or read decided and not yet answered.
type pending[S any] struct {
	to    replyTo
	event events.Event // nil: nothing to write (a rejection or a no-op)
	env   int          // index in envs when event != nil
	err   error
	// dupIn, when set, holds the command this one retries (same key):
	// dupIn.pending[dupOf]. It may be this batch or an earlier one.
	dupIn *batch[S]
	dupOf int
	// query, when set, is a read answered once the batch is durable.
	query func(S) any
	// recalls, when set, asks the memory of applied commands for key once
	// the batch is durable.
	recalls bool
	key     string
	// admits, when set, is the sequence of an admission answered once
	// the batch is durable.
	admits uint64
}

type appendResult struct {
	seqs []uint64 // the sequences of the envelopes acknowledged, in order
	err  error
}

// flush asks the actor to append its open batch.
type flush struct{}

// appended tells the actor that the append of b has answered.
type appended[S any] struct{ b *batch[S] }

// newBatch returns an empty batch whose first entries need no allocation.
func newBatch[S any]() *batch[S] {
	b := &batch[S]{}
	b.pending, b.envs, b.types = b.pendingFirst[:0], b.envsFirst[:0], b.typesFirst[:0]
	return b
}

func (b *batch[S]) add(p pending[S]) { b.pending = append(b.pending, p) }

// keysIndexMin is the size from which a batch indexes its keys: a map
// costs more than a search of a few entries, and most batches hold one.
const keysIndexMin = 16

func (b *batch[S]) addEvent(to replyTo, e events.Event, env events.Envelope) {
	b.pending = append(b.pending, pending[S]{to: to, event: e, env: len(b.envs)})
	b.envs = append(b.envs, env)
	switch {
	case b.keys != nil:
		if env.IdempotencyKey != "" {
			b.keys[env.IdempotencyKey] = len(b.pending) - 1
		}
	case len(b.envs) >= keysIndexMin:
		b.keys = make(map[string]int, len(b.envs))
		for i, p := range b.pending {
			if p.event != nil && b.envs[p.env].IdempotencyKey != "" {
				b.keys[b.envs[p.env].IdempotencyKey] = i
			}
		}
	}
	if !slices.Contains(b.types, env.Type) {
		b.types = append(b.types, env.Type)
	}
}

// find returns the index in pending of the command with idempotency key.
func (b *batch[S]) find(key string) (int, bool) {
	if b.keys != nil {
		i, ok := b.keys[key]
		return i, ok
	}
	for i, p := range b.pending {
		if p.event != nil && b.envs[p.env].IdempotencyKey == key {
			return i, true
		}
	}
	return 0, false
}

// result is the answer to pending[i] once the batch is answered: the
// sequence of its event if that is in the log, or the first result of the
// command it retries.
func (b *batch[S]) result(i int) Result {
	p := b.pending[i]
	switch {
	case p.dupIn != nil:
		r := p.dupIn.result(p.dupOf)
		r.Replayed = true
		return r
	case p.event != nil && p.env < len(b.seqs):
		return Result{Seq: b.seqs[p.env], Event: p.event}
	}
	return Result{}
}

// idle reports whether everything decided is durable and answered.
func (s *shell[S, C]) idle() bool {
	return s.inflight == nil && s.open == nil && len(s.waiting) == 0
}

// unsettled calls fn with each batch not yet durable, oldest first, until
// fn returns false.
func (s *shell[S, C]) unsettled(fn func(*batch[S]) bool) {
	if s.inflight != nil && !fn(s.inflight) {
		return
	}
	for _, b := range s.waiting {
		if !fn(b) {
			return
		}
	}
	if s.open != nil {
		fn(s.open)
	}
}

// decided finds the command with key among those decided and not yet
// durable.
func (s *shell[S, C]) decided(key string) (in *batch[S], at int, found bool) {
	s.unsettled(func(b *batch[S]) bool {
		in = b
		at, found = b.find(key)
		return !found
	})
	return in, at, found
}

// unaffected reports whether every event decided and not yet durable is of
// a type in types: a query that those events do not change is then
// answered on the state as it is, which gives what the durable state
// would.
func (s *shell[S, C]) unaffected(types []string) bool {
	if len(types) == 0 {
		return false
	}
	ok := true
	s.unsettled(func(b *batch[S]) bool {
		for _, t := range b.types {
			if !slices.Contains(types, t) {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// openBatch returns the batch commands are decided into. When nothing is
// being appended, a new batch must be appended once the commands already
// waiting in the mailbox are decided into it, so that it holds what piled
// up: with none waiting (a quiet actor), as soon as the message being
// handled is done (closeNow, see Receive); otherwise with a flush message
// the actor sends itself, which queues behind them. When an append is on
// its way, its answer starts the next one.
func (s *shell[S, C]) openBatch(ctx actor.Context) *batch[S] {
	if s.open == nil {
		s.open = newBatch[S]()
		if s.inflight == nil && !s.stopping {
			if s.mailbox.waiting() == 0 {
				s.closeNow = true
			} else {
				ctx.Send(ctx.Self(), flush{})
			}
		}
	}
	return s.open
}

// flushOpen appends the open batch unless an append is on its way.
func (s *shell[S, C]) flushOpen(ctx actor.Context) {
	if s.open != nil && s.inflight == nil {
		s.close(ctx)
	}
}

// close ends the open batch: it is appended now, or after those before it.
func (s *shell[S, C]) close(ctx actor.Context) {
	b := s.open
	s.open = nil
	if len(b.envs) > 0 {
		if s.agg.Public != nil {
			b.public = s.agg.Public(s.state)
		}
		if !s.snapPlanned && s.snapshotDue(s.pendingEvents+len(b.envs)) {
			b.snap, _ = s.encodeState()
			b.marks = s.marks.Clone()
			b.snapTried, s.snapPlanned = true, true
			b.head = s.head
		}
		s.pendingEvents += len(b.envs)
	}
	if s.inflight == nil {
		s.start(ctx, b)
		return
	}
	s.waiting = append(s.waiting, b)
}

// start appends b, expecting the actor's last durable event before it. The
// append of a batch of PipelineMin events or more runs on a goroutine of
// its own and reports with an appended message, so that the actor goes on
// deciding meanwhile; a smaller batch, or any while stopping, is appended
// here.
func (s *shell[S, C]) start(ctx actor.Context, b *batch[S]) {
	s.inflight = b
	if len(b.envs) == 0 {
		s.complete(ctx, b, appendResult{})
		return
	}
	if s.cell != nil {
		// Followers that see these events before the actor has their
		// answer wait for it (cell.await) rather than ask.
		s.cell.busy.Store(true)
	}
	if s.stopping || len(b.envs) < s.deps.opts.PipelineMin {
		s.complete(ctx, b, s.appendAll(s.last, b.envs, b.seqsFirst[:0]))
		return
	}
	b.done = make(chan appendResult, 1)
	self, root, last := ctx.Self(), ctx.ActorSystem().Root, s.last
	s.deps.background(func() {
		b.done <- s.appendAll(last, b.envs, b.seqsFirst[:0])
		if b.taken.CompareAndSwap(false, true) {
			root.Send(self, appended[S]{b: b})
		}
	})
}

// appended completes the batch whose append answered.
func (s *shell[S, C]) appended(ctx actor.Context, m appended[S]) {
	if m.b != s.inflight {
		return // completed already, while stopping
	}
	s.complete(ctx, m.b, <-m.b.done)
}

// complete answers every command of b, then starts the next batch. If the
// append failed, what was not acknowledged may or may not have landed.
// Never guess: reload from the log, which is the truth, and tell every
// caller whose answer rested on an event not acknowledged, in b or decided
// after it. A retry with the same key then learns the true outcome.
func (s *shell[S, C]) complete(ctx actor.Context, b *batch[S], r appendResult) {
	s.inflight = nil
	s.pendingEvents -= len(b.envs)
	err := r.err
	if err != nil {
		s.pendingEvents, s.snapPlanned = 0, false
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
	if err == nil && len(r.seqs) > 0 {
		s.last = r.seqs[len(r.seqs)-1]
		s.sinceSnap += len(r.seqs)
		// Published before the answers go out: a caller that has its
		// answer finds Host.Peek showing what it rests on.
		if s.agg.Public != nil && s.public != nil {
			s.public.Store(published{b.public})
		}
		s.publishAdmissions()
	}
	s.answer(b, r.seqs, err)
	if err != nil {
		s.unsettled(func(w *batch[S]) bool {
			s.answer(w, nil, err)
			return true
		})
		s.waiting, s.open = nil, nil
	} else {
		if b.snapTried {
			s.sinceSnap, s.snapPlanned = 0, false
			if b.snap != nil {
				s.saveSnapshot(s.last, b.head, b.snap, b.marks)
			}
		}
		switch {
		case len(s.waiting) > 0:
			next := s.waiting[0]
			s.waiting = s.waiting[1:]
			s.start(ctx, next)
		case s.open != nil:
			s.close(ctx)
		}
	}
}

// answer answers the commands and reads of b; envs[:len(seqs)] are in the
// log, and err, if set, is why the rest are not.
func (s *shell[S, C]) answer(b *batch[S], seqs []uint64, err error) {
	b.seqs = seqs
	for i, p := range b.pending {
		switch {
		case p.query != nil:
			if err != nil && !s.recovered {
				respond(p.to, reply{err: err})
			} else {
				respond(p.to, reply{value: p.query(s.state)})
			}
			continue
		case p.admits != 0:
			switch {
			case err != nil && !s.recovered:
				respond(p.to, reply{err: err})
			case err == nil && p.admits > s.last && s.later(p):
				// Beyond what is durable, with more decided: the
				// record may be in a later batch.
			default:
				respond(p.to, reply{err: s.admitted(p.admits)})
			}
			continue
		case p.recalls:
			if err != nil && !s.recovered {
				respond(p.to, reply{err: err})
				continue
			}
			res, ok, rerr := s.mem.result(p.key)
			respond(p.to, reply{result: res, value: ok, err: rerr})
			continue
		case p.dupIn != nil:
			first := p.dupIn.pending[p.dupOf]
			if first.event != nil && first.env >= len(p.dupIn.seqs) {
				respond(p.to, reply{err: err})
				continue
			}
		case p.event != nil && p.env >= len(seqs):
			respond(p.to, reply{err: err})
			continue
		case p.event != nil:
			env := b.envs[p.env]
			if err == nil && env.IdempotencyKey != "" {
				// (After a failure the recovery has read the durable
				// prefix into the memory already.)
				s.mem.add(applied{Key: env.IdempotencyKey, Seq: seqs[p.env], Type: env.Type, Data: env.Data})
			}
		case err != nil:
			// A rejection decided on state that included events now lost
			// may not hold; the caller retries.
			respond(p.to, reply{err: err})
			continue
		}
		respond(p.to, reply{result: b.result(i), err: p.err})
	}
}

// stop appends and answers everything decided or held before the actor
// stops, synchronously: an answer coming back later would find no actor.
func (s *shell[S, C]) stop(ctx actor.Context) {
	s.stopping = true
	for {
		switch {
		case s.inflight != nil:
			b := s.inflight
			b.taken.Store(true)
			s.complete(ctx, b, <-b.done)
		case s.open != nil:
			s.close(ctx)
		default:
			return
		}
	}
}

// appendAll writes envs after the actor's event at sequence last and
// returns the sequences of those acknowledged, in order. A large batch goes
// as one atomic append (one round trip for all); a small one as single
// appends chained on each other's sequence, which costs less than an
// atomic batch on JetStream (whose batches are staged through a store of
// their own). Either way each event is one command's and stands alone, so
// a failure part-way leaves a durable prefix, which the caller answers as
// such. It touches nothing of the actor's but its constant fields: it runs
// beside the actor.
func (s *shell[S, C]) appendAll(last uint64, envs []events.Envelope, seqs []uint64) appendResult {
	ctx := s.deps.appends.get() // AppendTimeout from now
	if len(envs) >= s.deps.opts.AtomicBatchMin {
		end, err := s.deps.log.Append(ctx, s.filter, last, envs...)
		if err != nil {
			return appendResult{err: err}
		}
		for i := range envs {
			seqs = append(seqs, end-uint64(len(envs)-1-i))
		}
		return appendResult{seqs: seqs}
	}
	prev := last
	for _, env := range envs {
		seq, err := s.deps.log.Append(ctx, s.filter, prev, env)
		if err != nil {
			return appendResult{seqs: seqs, err: err}
		}
		seqs = append(seqs, seq)
		prev = seq
	}
	return appendResult{seqs: seqs}
}

// later moves a pending read to the last batch not yet durable, if there
// is one: it is answered with that batch.
func (s *shell[S, C]) later(p pending[S]) bool {
	switch {
	case s.open != nil:
		s.open.add(p)
	case len(s.waiting) > 0:
		s.waiting[len(s.waiting)-1].add(p)
	default:
		return false
	}
	return true
}
