package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

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

	seqs []uint64 // of envs[:len(seqs)], those in the log, once answered
	// order is the batch's append, which the machine's ready points to
	// (kept here: one allocation less per append).
	order appendOrder[S]
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
	// query, when set, is a read answered once the batch is durable, with
	// value: its answer on the state as the batch leaves it, taken when
	// the batch closes (the state then ends with it; by the time it is
	// durable, later commands may be decided into it).
	query func(S) any
	value any
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
func (m *machine[S, C]) idle() bool {
	return m.inflight == nil && m.open == nil && len(m.waiting) == 0
}

// unsettled calls fn with each batch not yet durable, oldest first, until
// fn returns false.
func (m *machine[S, C]) unsettled(fn func(*batch[S]) bool) {
	if m.inflight != nil && !fn(m.inflight) {
		return
	}
	for _, b := range m.waiting {
		if !fn(b) {
			return
		}
	}
	if m.open != nil {
		fn(m.open)
	}
}

// decided finds the command with key among those decided and not yet
// durable.
func (m *machine[S, C]) decided(key string) (in *batch[S], at int, found bool) {
	m.unsettled(func(b *batch[S]) bool {
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
func (m *machine[S, C]) unaffected(types []string) bool {
	if len(types) == 0 {
		return false
	}
	ok := true
	m.unsettled(func(b *batch[S]) bool {
		for _, t := range b.types {
			if !slices.Contains(types, t) {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// openBatch returns the batch commands are decided into. A batch opened
// with nothing being appended must be appended once the commands already
// waiting in the mailbox are decided into it, so that it holds what piled
// up: ready.opened tells the shell, which knows its mailbox and sends
// flush. When an append is on its way, its answer starts the next one.
func (m *machine[S, C]) openBatch() *batch[S] {
	if m.open == nil {
		m.open = newBatch[S]()
		if m.inflight == nil && !m.stopping {
			m.rd.opened = true
		}
	}
	return m.open
}

// close ends the open batch: it is appended now, or after those before it.
// It takes what the batch's state is to publish and, when one falls due,
// its snapshot: the state ends with this batch now.
func (m *machine[S, C]) close() {
	b := m.open
	m.open = nil
	if len(b.envs) > 0 {
		if m.agg.Public != nil {
			b.public = m.agg.Public(m.state)
		}
		if !m.snapPlanned && m.snapshotDue(m.pendingEvents+len(b.envs)) {
			b.snap, _ = m.encodeState()
			b.marks = m.marks.Clone()
			b.snapTried, m.snapPlanned = true, true
			b.head = m.head
		}
		m.pendingEvents += len(b.envs)
	}
	for i := range b.pending {
		if p := &b.pending[i]; p.query != nil {
			p.value = p.query(m.state)
		}
	}
	if m.inflight == nil {
		m.start(b)
		return
	}
	m.waiting = append(m.waiting, b)
}

// start puts b in flight: the shell appends it, expecting the actor's last
// durable record before it. A batch of PipelineMin events or more goes
// beside the actor, so that it goes on deciding meanwhile; a smaller one,
// or any while stopping, in the actor's own turn. A batch of reads alone
// is durable at once.
func (m *machine[S, C]) start(b *batch[S]) {
	m.inflight = b
	if len(b.envs) == 0 {
		m.complete(b, nil, nil)
		return
	}
	b.order = appendOrder[S]{b: b, filter: m.filter, last: m.last, envs: b.envs,
		atomic: len(b.envs) >= m.opts.AtomicBatchMin, beside: !m.stopping && len(b.envs) >= m.opts.PipelineMin}
	m.rd.append = &b.order
}

// appended is the outcome of the append of the batch in flight: seqs of
// the envelopes acknowledged, in order (a prefix when err is set).
func (m *machine[S, C]) appended(seqs []uint64, err error) {
	if m.inflight == nil {
		return
	}
	m.complete(m.inflight, seqs, err)
}

// complete answers every command of b, then starts the next batch. If the
// append failed, what was not acknowledged may or may not have landed.
// Never guess: reload from the log, which is the truth, and tell every
// caller whose answer rested on an event not acknowledged, in b or decided
// after it (once recovered). A retry with the same key then learns the
// true outcome.
func (m *machine[S, C]) complete(b *batch[S], seqs []uint64, err error) {
	m.inflight = nil
	m.pendingEvents -= len(b.envs)
	if err != nil {
		m.pendingEvents, m.snapPlanned = 0, false
		m.fence()
		if errors.Is(err, events.ErrWrongLastSequence) {
			err = fmt.Errorf("%w: %s %s: %v", ErrConflict, m.agg.Kind, m.id, err)
		} else {
			err = fmt.Errorf("%w: %s %s: %v", ErrUnavailable, m.agg.Kind, m.id, err)
		}
		m.failure = &failure[S]{b: b, seqs: seqs, err: err}
		m.phase, m.rd.recover = recovering, true
		return
	}
	if len(seqs) > 0 {
		m.last = seqs[len(seqs)-1]
		m.sinceSnap += len(seqs)
		if m.agg.Public != nil {
			m.rd.publish, m.rd.public = true, b.public
		}
		m.publishAdmissions()
	}
	m.answer(b, seqs, nil)
	if b.snapTried {
		m.sinceSnap, m.snapPlanned = 0, false
		if b.snap != nil {
			m.takeSnapshot(m.last, b.head, b.snap, b.marks)
		}
	}
	switch {
	case len(m.waiting) > 0:
		next := m.waiting[0]
		m.waiting = m.waiting[1:]
		m.start(next)
	case m.open != nil:
		m.close()
	}
}

// answer answers the commands and reads of b; envs[:len(seqs)] are in the
// log, and err, if set, is why the rest are not.
func (m *machine[S, C]) answer(b *batch[S], seqs []uint64, err error) {
	b.seqs = seqs
	for i, p := range b.pending {
		switch {
		case p.query != nil:
			switch {
			case err == nil:
				m.reply(p.to, reply{value: p.value})
			case m.phase == live:
				// Its batch, or one before it, failed: answered on
				// the state recovered from the log.
				m.reply(p.to, reply{value: p.query(m.state)})
			default:
				m.reply(p.to, reply{err: err})
			}
			continue
		case p.admits != 0:
			switch {
			case err != nil && m.phase != live:
				m.reply(p.to, reply{err: err})
			case p.admits > m.last && err == nil && m.later(p):
				// Beyond what is durable, with more decided: the
				// record may be in a later batch.
			default:
				m.admit(call{msg: admission{seq: p.admits}, to: p.to}, p.admits, time.Time{})
			}
			continue
		case p.recalls:
			if err != nil && m.phase != live {
				m.reply(p.to, reply{err: err})
				continue
			}
			res, ok, rerr := m.mem.result(p.key)
			m.reply(p.to, reply{result: res, value: ok, err: rerr})
			continue
		case p.dupIn != nil:
			first := p.dupIn.pending[p.dupOf]
			if first.event != nil && first.env >= len(p.dupIn.seqs) {
				m.reply(p.to, reply{err: err})
				continue
			}
		case p.event != nil && p.env >= len(seqs):
			m.reply(p.to, reply{err: err})
			continue
		case p.event != nil:
			env := b.envs[p.env]
			if err == nil && env.IdempotencyKey != "" {
				// (After a failure the recovery has read the durable
				// prefix into the memory already.)
				m.mem.add(applied{Key: env.IdempotencyKey, Seq: seqs[p.env], Type: env.Type, Data: env.Data})
			}
		case err != nil:
			// A rejection decided on state that included events now lost
			// may not hold; the caller retries.
			m.reply(p.to, reply{err: err})
			continue
		}
		m.reply(p.to, reply{result: b.result(i), err: p.err})
	}
}

// later moves a pending read to the last batch not yet durable, if there
// is one: it is answered with that batch.
func (m *machine[S, C]) later(p pending[S]) bool {
	switch {
	case m.open != nil:
		m.open.add(p)
	case len(m.waiting) > 0:
		m.waiting[len(m.waiting)-1].add(p)
	default:
		return false
	}
	return true
}
