package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-econ/agora/events"
)

// An actor's state is the fold of the records on its subjects. The log
// takes a publish from any client of its port, so a record there may not
// be a fact at all: one that does not decode, or whose event would break
// the actor's state (Aggregate.Admit), is skipped by the actor, which
// still counts it as the last record on its subjects (its next append
// expects it). The process managers and the executor then act on a
// record only once its actor has admitted it (Host.Admitted): a forged
// transfer_sent must not credit its recipient, nor a forged cycle charge
// its winners.

// cell is what an actor publishes for others to read without asking it:
// Aggregate.Public of its durable state (Peek), and its admissions: the
// sequence of its last durable record and the records it skipped.
type cell struct {
	public atomic.Value
	// last is the stream sequence of the actor's last durable record:
	// every record on its subjects up to it was admitted or skipped.
	last    atomic.Uint64
	skipped atomic.Pointer[map[uint64]*events.BadRecord]
	// busy is set while the actor has decided events not yet durable:
	// a follower that reads a record the actor has not reached yet waits
	// for it (waiters) rather than ask: the record is most likely the
	// one being appended, whose answer reaches the actor a moment after
	// the follower sees the record (three times in four in bench
	// ledger), and an ask for each cost a message and a batch.
	busy    atomic.Bool
	mu      sync.Mutex
	waiters []cellWaiter
}

// cellWaiter is a follower waiting for the actor to reach seq.
type cellWaiter struct {
	seq  uint64
	then func(error)
}

// await registers then for the actor's verdict on seq, to be called once
// the actor has reached it, when the actor is busy; it reports false
// (then not kept) when the actor has reached seq already or is idle: the
// caller looks or asks.
func (c *cell) await(seq uint64, then func(error)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if seq <= c.last.Load() || !c.busy.Load() {
		return false
	}
	c.waiters = append(c.waiters, cellWaiter{seq: seq, then: then})
	return true
}

// settle answers the waiters the actor has reached, and reports whether
// others remain. The actor calls it after each message, busy updated.
func (c *cell) settle() bool {
	c.mu.Lock()
	last := c.last.Load()
	var due []cellWaiter
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.seq <= last {
			due = append(due, w)
		} else {
			kept = append(kept, w)
		}
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
	remain := len(kept) > 0
	c.mu.Unlock()
	for _, w := range due {
		_, err := c.admitted(w.seq)
		w.then(err)
	}
	return remain
}

// fail answers every waiter with err (the actor cannot read the log).
func (c *cell) fail(err error) {
	c.mu.Lock()
	ws := c.waiters
	c.waiters = nil
	c.mu.Unlock()
	for _, w := range ws {
		w.then(err)
	}
}

// admitted answers for a record at seq from what the actor published:
// known is false when the actor has not reached seq yet.
func (c *cell) admitted(seq uint64) (known bool, err error) {
	if c == nil || seq > c.last.Load() {
		return false, nil
	}
	if m := c.skipped.Load(); m != nil {
		if b, ok := (*m)[seq]; ok {
			return true, b
		}
	}
	return true, nil
}

// admission asks an actor whether the record at seq on its subjects is one
// of its facts (nil) or was skipped (the *events.BadRecord). It is
// answered once everything the actor decided is durable; a record beyond
// its last durable one is a foreign record, which it reads first.
type admission struct{ seq uint64 }

// ErrNotFound: an admission was asked for a record that is not on the
// actor's subjects (the caller named the wrong actor).
var ErrNotFound = errors.New("record not on the actor's subjects")

// Admitted reports whether record r is a fact the followers may act on:
// nil, or the *events.BadRecord that says why every follower skips it
// (events.Check, or its actor's Aggregate.Admit). Another error (the
// actor unavailable) says nothing about r: ask again. A record of a kind
// this host does not run is judged by events.Check alone. It is cheap
// once the actor has reached r (an atomic load), else an ask.
func (h *Host) Admitted(ctx context.Context, r events.Record) error {
	if err := events.Check(r); err != nil {
		return err
	}
	kind, id, ok := events.ActorOf(r)
	if !ok || !h.runs(kind) {
		return nil
	}
	if known, err := h.cellOf(kind, id).admitted(r.Seq); known {
		return err
	}
	rep, err := h.ask(ctx, kind, id, admission{seq: r.Seq})
	if err != nil {
		return err
	}
	return rep.err
}

// admittedThen is Admitted that does not wait: then gets the answer, on
// the actor's goroutine when the actor is asked (it must not block), at
// once otherwise.
func (h *Host) admittedThen(r events.Record, then func(error)) {
	if err := events.Check(r); err != nil {
		then(err)
		return
	}
	kind, id, ok := events.ActorOf(r)
	if !ok || !h.runs(kind) {
		then(nil)
		return
	}
	c := h.cellOf(kind, id)
	if known, err := c.admitted(r.Seq); known {
		then(err)
		return
	}
	if c != nil && c.await(r.Seq, then) {
		return
	}
	if known, err := c.admitted(r.Seq); known {
		then(err) // reached meanwhile
		return
	}
	if err := h.sendThen(kind, id, admission{seq: r.Seq}, func(rep reply) { then(rep.err) }); err != nil {
		then(err)
	}
}

// runs reports whether an actor kind is registered.
func (h *Host) runs(kind events.Kind) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.kinds[kind]
	return ok
}

// cellOf is the cell of a running actor; nil when it has not started.
func (h *Host) cellOf(kind events.Kind, id string) *cell {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cells[actorKey{kind, id}]
}

// skippedRecord is a record an actor skipped, as kept in its snapshot.
type skippedRecord struct {
	Seq     uint64        `json:"seq"`
	Subject string        `json:"subject"`
	Reason  events.Reason `json:"reason"`
	Detail  string        `json:"detail"`
}

// skip passes over a record that is not a fact of this actor: the state
// is unchanged, and the record still counts as the last on the actor's
// subjects, which its next append expects.
func (m *machine[S, C]) skip(b *events.BadRecord) {
	m.last = b.Seq
	m.skipped = append(m.skipped, skippedRecord{Seq: b.Seq, Subject: b.Subject, Reason: b.Reason, Detail: errDetail(b)})
	m.logger.Debug("actor skipped a record", "kind", m.agg.Kind, "id", m.id, "seq", b.Seq,
		"subject", b.Subject, "reason", b.Reason, "err", b.Err)
}

func errDetail(b *events.BadRecord) string {
	if b.Err == nil {
		return ""
	}
	return b.Err.Error()
}

// read decodes a record of this actor and admits its event, or says why
// it is skipped. A further check of a record against the actor's history
// (a hash chain linking its events) belongs here too, with a reason of
// its own: every follower skips whatever comes back as a BadRecord.
func (m *machine[S, C]) read(r events.Record) (events.Event, *events.BadRecord) {
	e, err := events.Read(r)
	if err != nil {
		b, _ := events.AsBadRecord(err)
		return nil, b
	}
	if m.agg.Admit != nil {
		if err := m.agg.Admit(m.state, e); err != nil {
			return nil, events.Skip(r, events.ReasonInvariant, err)
		}
	}
	return e, nil
}

// publishAdmissions asks for the actor's admissions to be published for
// Host.Admitted: the skipped records (when they changed), then the last
// sequence they are good up to.
func (m *machine[S, C]) publishAdmissions() {
	m.rd.admissions, m.rd.last = true, m.last
	if len(m.skipped) != m.skippedPublished {
		s := make(map[uint64]*events.BadRecord, len(m.skipped))
		for _, k := range m.skipped {
			s[k.Seq] = &events.BadRecord{Seq: k.Seq, Subject: k.Subject, Reason: k.Reason, Err: errors.New(k.Detail)}
		}
		m.rd.skipped = s
		m.skippedPublished = len(m.skipped)
	}
}

// admit answers an admission on durable state, with nothing decided and
// not yet durable. A record after the actor's last durable one is a
// foreign record (nothing of the actor's own is being appended): the
// actor reads the records after its last first (catchingUp).
func (m *machine[S, C]) admit(c call, seq uint64, now time.Time) {
	if m.load(c, now) {
		return
	}
	if seq > m.last {
		m.phase, m.rd.catchUp = catchingUp, true
		m.held = append(m.held, heldCall{c, now})
		return
	}
	m.reply(c.to, reply{err: m.admittedAt(seq)})
}

// admittedAt is the verdict on the record at seq, of the records read.
func (m *machine[S, C]) admittedAt(seq uint64) error {
	for i := len(m.skipped) - 1; i >= 0; i-- {
		if m.skipped[i].Seq == seq {
			k := m.skipped[i]
			return &events.BadRecord{Seq: k.Seq, Subject: k.Subject, Reason: k.Reason, Err: errors.New(k.Detail)}
		}
	}
	if seq > m.last {
		return fmt.Errorf("%w: %d on %s %s (last %d)", ErrNotFound, seq, m.agg.Kind, m.id, m.last)
	}
	return nil
}

// publishAdmissions makes the actor's admissions readable by
// Host.Admitted: the skipped records first (unless unchanged, nil), then
// the last sequence they are good up to.
func (s *shell[S, C]) publishAdmissions(last uint64, skipped map[uint64]*events.BadRecord) {
	if s.cell == nil {
		return
	}
	if skipped != nil {
		m := skipped // moved to the heap here only, not on every call
		s.cell.skipped.Store(&m)
	}
	s.cell.last.Store(last)
}

// settleWaiters tells the followers waiting on this actor what it has
// reached, once a message is handled. Idle with followers still waiting,
// the actor has nothing of its own in flight: what they wait for is a
// foreign record, which it reads now.
func (s *shell[S, C]) settleWaiters() {
	if s.cell == nil {
		return
	}
	idle := s.m.idle()
	s.cell.busy.Store(!idle)
	if !s.cell.settle() || !idle {
		return
	}
	if s.m.phase != live {
		err := s.recover()
		s.run()
		if err != nil {
			s.cell.fail(err)
			return
		}
	}
	err := s.catchUp()
	s.run()
	if err != nil {
		s.cell.fail(err)
		return
	}
	if s.cell.settle() {
		s.cell.fail(fmt.Errorf("%w: %s %s (last %d)", ErrNotFound, s.m.agg.Kind, s.id, s.m.last))
	}
}

// catchUp folds the records after the actor's last durable one (foreign
// records, admitted or skipped) and tells the machine.
func (s *shell[S, C]) catchUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.RecoverTimeout)
	defer cancel()
	err := s.deps.log.Read(ctx, s.filter, s.m.last+1, func(r events.Record) error {
		s.m.fold(r)
		return nil
	})
	return s.m.caughtUp(err)
}
