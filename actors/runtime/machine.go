package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
)

// machine is the commit path of one actor without its IO, in the way
// etcd-io/raft's RawNode hands IO back through Ready: the shell gives it
// inputs (a command, a read, an append done or failed, flush, stop, a
// recovery done) and carries out what the ready it returns says (envelopes
// to append, replies to send, a snapshot to save, state to publish, a
// recovery to run). It holds no log, no clock, no goroutine and no actor
// system, so every step of the batch lifecycle (open, waiting, in flight,
// durable; failed, fenced, recovered) is a plain function call, which
// testdata/commit/*.txt scripts drive one input at a time
// (machine_test.go).
//
// The lifecycle (docs/architecture.md, "The commit path"): commands are
// decided into the open batch, each on the state its predecessors leave
// (state is the durable state plus every event decided since); the open
// batch closes when it is full, on flush, or when the batch before it is
// durable; one batch is in flight at a time, and those closed behind it
// wait. A batch is durable once its append is acknowledged: only then are
// its commands answered, its state published and its snapshot saved. A
// failed append fences the actor and asks for a recovery; once recovered,
// every command decided after the last durable event is answered with the
// error. An input that needs durable state the machine has not loaded (the
// first command, a read after a failed recovery) is held until the
// recovery it asks for is done.
type machine[S, C any] struct {
	agg    Aggregate[S, C]
	id     string
	filter string
	opts   Options
	// snapshots is false when the host has no snapshot store.
	snapshots bool
	logger    *slog.Logger

	state S // durable state plus every event decided since
	// marks are the redelivery marks of state: they move with it, at
	// decide time and in recovery, and are saved with its snapshots.
	marks     Marks
	last      uint64 // stream sequence of this actor's last durable record
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
	// after each snapshot too large to keep (see tooLarge).
	snapEvery int
	mem       *memory
	// skipped are the records on the actor's subjects it did not fold
	// (admission.go); skippedPublished how many of them are published.
	skipped          []skippedRecord
	skippedPublished int

	// phase is where the actor is between recoveries (see phase).
	phase phase
	// held are the inputs waiting for the recovery or catch-up asked for.
	held []heldCall
	// failure is the failed append whose answers wait for the recovery.
	failure *failure[S]

	// inflight is the batch being appended, waiting the batches closed
	// behind it (full), open the batch commands are decided into.
	inflight *batch[S]
	waiting  []*batch[S]
	open     *batch[S]
	// pendingEvents counts the events of the batches closed and not yet
	// durable; snapPlanned is set while one of them carries a snapshot.
	pendingEvents int
	snapPlanned   bool
	// stopping appends in the shell's own turn: the answer of an append
	// beside it would come after the actor has stopped.
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

	rd ready[S]
	// replyFirst holds the first reply of a ready: most inputs answer one
	// call, and a slice allocated for each would cost every command.
	replyFirst [1]outgoing
}

// phase is whether the machine's durable state is the log's.
type phase int

const (
	// unloaded: the state may be behind the log (never loaded, or a
	// recovery or catch-up failed); the next input that needs it asks for
	// a recovery.
	unloaded phase = iota
	// recovering: a recovery is asked for (ready.recover); inputs wait.
	recovering
	// catchingUp: the actor reads the records after its last (foreign
	// records) before it answers an admission beyond it.
	catchingUp
	// live: the state is the fold of the log up to last plus what is
	// decided since.
	live
)

var phaseNames = [...]string{"unloaded", "recovering", "catching-up", "live"}

func (p phase) String() string { return phaseNames[p] }

// failure is an append that failed, answered once the actor has recovered.
type failure[S any] struct {
	b    *batch[S]
	seqs []uint64
	err  error
}

// ready is what the shell must do after an input, in this order: publish,
// reply, save the snapshot, then append or recover or catch up (and feed
// the outcome back). The zero ready asks nothing.
type ready[S any] struct {
	// public, with publish set, is Aggregate.Public of the durable state
	// (Host.Peek). It is published before the replies go out: a caller
	// that has its answer finds Peek showing what it rests on.
	publish bool
	public  any
	// admissions, when set, are the actor's admissions to publish
	// (Host.Admitted): skipped is nil when those have not changed.
	admissions bool
	last       uint64
	skipped    map[uint64]*events.BadRecord
	replies    []outgoing
	// snapshot is a snapshot to save under the actor's snapshot key.
	snapshot []byte
	// append is the batch to append now; the shell answers with appended.
	append *appendOrder[S]
	// recover asks for a recovery: the shell resets the machine, restores
	// the snapshot, folds the log, then calls recovered.
	recover bool
	// catchUp asks for the records after last to be folded, then
	// caughtUp.
	catchUp bool
	// opened is set when a batch opened with nothing in flight: the shell
	// flushes it once the commands already in its mailbox are decided
	// into it.
	opened bool
}

// outgoing is one answer to send.
type outgoing struct {
	to replyTo
	r  reply
}

// appendOrder is a batch to append: envs after the actor's record at last
// (the expected last sequence on the actor's filter), as one atomic batch
// or event by event, beside the actor (it goes on deciding) or in its own
// turn.
type appendOrder[S any] struct {
	b      *batch[S]
	filter string
	last   uint64
	envs   []events.Envelope
	atomic bool
	beside bool
}

// heldCall is an input the machine holds until the recovery or catch-up
// it asked for is done, with the time it was received at.
type heldCall struct {
	c   call
	now time.Time
}

// newMachine returns the machine of actor id, unloaded: its first input
// that needs the state asks for a recovery.
func newMachine[S, C any](agg Aggregate[S, C], id string, opts Options, snapshots bool, logger *slog.Logger) *machine[S, C] {
	m := &machine[S, C]{agg: agg, id: id, filter: events.Filter(agg.Kind, id), opts: opts.withDefaults(),
		snapshots: snapshots, logger: logger}
	m.reset()
	return m
}

// take returns what the shell must do and forgets it. The ready's replies
// are valid until the next input: the shell sends them first.
func (m *machine[S, C]) take() ready[S] {
	rd := m.rd
	if len(rd.replies) == 0 {
		// Those of the ready before are sent: an idle actor keeps no
		// caller's channel or callback.
		m.replyFirst[0] = outgoing{}
	}
	m.rd = ready[S]{}
	return rd
}

func (m *machine[S, C]) reply(to replyTo, r reply) {
	if m.rd.replies == nil {
		m.rd.replies = m.replyFirst[:0]
	}
	m.rd.replies = append(m.rd.replies, outgoing{to: to, r: r})
}

// load asks for a recovery and holds c until it is done; it reports false
// when the state is loaded and c may go on.
func (m *machine[S, C]) load(c call, now time.Time) bool {
	switch m.phase {
	case live:
		return false
	case unloaded:
		m.phase, m.rd.recover = recovering, true
	}
	m.held = append(m.held, heldCall{c, now})
	return true
}

// receive is the machine's one entry for the messages of callers: a
// command (Request), a read (Query, recall), an admission and a resume.
// now is the time written in the envelope of an event decided.
func (m *machine[S, C]) receive(c call, now time.Time) {
	if m.phase == recovering || m.phase == catchingUp {
		m.held = append(m.held, heldCall{c, now})
		return
	}
	switch msg := c.msg.(type) {
	case Request:
		m.command(c, msg, now)
	case Query[S]:
		if !m.idle() && !m.unaffected(msg.Unaffected) {
			// A query sees durable state only: it is answered with the
			// last batch, and does not cut a batch short.
			m.openBatch().add(pending[S]{to: c.to, query: msg.Fn})
			return
		}
		if m.load(c, now) {
			return
		}
		m.reply(c.to, reply{value: msg.Fn(m.state)})
	case recall:
		if !m.idle() {
			// Answered from the memory once every decided event is
			// durable: the command may be among them.
			m.openBatch().add(pending[S]{to: c.to, recalls: true, key: msg.key})
			return
		}
		if m.load(c, now) {
			return
		}
		res, ok, err := m.mem.result(msg.key)
		m.reply(c.to, reply{result: res, value: ok, err: err})
	case admission:
		if !m.idle() {
			// The record may be one being appended: answered once
			// everything decided is durable.
			m.openBatch().add(pending[S]{to: c.to, admits: msg.seq})
			return
		}
		m.admit(c, msg.seq, now)
	case resume:
		if m.resumed == nil {
			m.resumed = map[string]bool{}
		}
		m.resumed[msg.manager] = true
		m.reply(c.to, reply{})
	default:
		m.reply(c.to, reply{err: fmt.Errorf("%w: %s %s cannot handle %T", ErrUnknownMessage, m.agg.Kind, m.id, msg)})
	}
}

// command decides one command. With nothing decided and not yet durable,
// an answer that writes nothing (a rejection, a remembered retry) goes out
// at once: it rests on durable state. Otherwise it waits for what was
// decided before it.
func (m *machine[S, C]) command(c call, req Request, now time.Time) {
	if req.Manager != "" && m.fenced && !m.resumed[req.Manager] {
		m.reply(c.to, reply{err: fmt.Errorf("%w: %s %s", ErrFenced, m.agg.Kind, m.id)})
		return
	}
	if m.idle() && m.load(c, now) {
		return
	}
	if req.Key != "" {
		if res, ok, err := m.mem.result(req.Key); ok {
			m.reply(c.to, reply{result: res, err: err})
			return
		}
		if b, i, ok := m.decided(req.Key); ok {
			m.openBatch().add(pending[S]{to: c.to, dupIn: b, dupOf: i})
			return
		}
	}
	e, err := Step(m.agg, m.state, m.marks, req.Command)
	if err == nil && e != nil {
		var env events.Envelope
		env, err = events.Encode(m.agg.Kind, m.id, e, events.Meta{
			Time:           now,
			CausationID:    req.CausationID,
			CorrelationID:  req.CorrelationID,
			IdempotencyKey: req.Key,
			Prev:           m.head,
		})
		var link string
		if err == nil {
			link, err = chain.Hash(env)
		}
		if err == nil {
			m.head = link
			m.state = m.agg.Evolve(m.state, e)
			m.marks = m.marks.Settle(TriggerOf(e))
			b := m.openBatch()
			b.addEvent(c.to, e, env)
			if len(b.envs) >= m.opts.BatchMax {
				m.close()
			}
			return
		}
	}
	if m.idle() {
		m.reply(c.to, reply{err: err})
		return
	}
	m.openBatch().add(pending[S]{to: c.to, err: err})
}

// fence refuses every manager's commands until it resumes.
func (m *machine[S, C]) fence() {
	m.fenced, m.resumed = true, map[string]bool{}
}

// flush appends the open batch unless an append is on its way.
func (m *machine[S, C]) flush() {
	if m.open != nil && m.inflight == nil && m.phase == live {
		m.close()
	}
}

// stop makes every later append happen in the shell's turn and appends
// the open batch if nothing is in flight: the shell then waits for the
// append in flight, if any, and feeds its outcome, until the machine asks
// for nothing more.
func (m *machine[S, C]) stop() {
	m.stopping = true
	m.flush()
}

// reset empties the state before a recovery folds the log into it.
func (m *machine[S, C]) reset() {
	m.state, m.marks, m.last, m.sinceSnap, m.mem = m.agg.New(m.id), nil, 0, 0, newMemory(m.opts.IdempotencyMemory)
	m.head, m.tail = "", events.Envelope{}
	m.skipped, m.skippedPublished = nil, -1
}

// restore starts a recovery from snapshot snap, whose event at snap.Seq
// is first (the shell has checked it is the snapshot's).
func (m *machine[S, C]) restore(snap snapshot[S], first events.Envelope) {
	m.state, m.marks, m.last, m.tail, m.skipped = snap.State, snap.Marks, snap.Seq, first, snap.Skipped
	for _, a := range snap.Applied {
		m.mem.add(a)
	}
}

// fold applies one durable record of the actor's subjects (a recovery or
// a catch-up), or skips it when it is not a fact of this actor.
func (m *machine[S, C]) fold(r events.Record) {
	e, bad := m.read(r)
	if bad != nil {
		m.skip(bad)
		return
	}
	m.state = m.agg.Evolve(m.state, e)
	m.marks = m.marks.Settle(TriggerOf(e))
	m.last, m.tail = r.Seq, r.Envelope
	m.sinceSnap++
	if r.Envelope.IdempotencyKey != "" {
		m.mem.add(applied{Key: r.Envelope.IdempotencyKey, Seq: r.Seq, Type: r.Envelope.Type, Data: r.Envelope.Data})
	}
}

// relink sets head to the link of the last record folded: a skipped
// record is in no actor's chain (the audit passes over it too).
func (m *machine[S, C]) relink() error {
	var err error
	if m.tail.Subject != "" {
		m.head, err = chain.Hash(m.tail)
	}
	m.tail = events.Envelope{}
	return err
}

// recovered ends a recovery: err is why reading the log failed, if it
// did. Recovered, the machine publishes its state, saves a snapshot if
// one is due, answers a failed append's commands, then takes the inputs
// held meanwhile. It returns the recovery's error, wrapped.
func (m *machine[S, C]) recovered(err error) error {
	if err == nil {
		err = m.relink()
	}
	if err != nil {
		err = fmt.Errorf("%w: recover %s %s: %v", ErrUnavailable, m.agg.Kind, m.id, err)
		m.phase = unloaded
	} else {
		m.phase = live
		m.publishState()
		m.publishAdmissions()
		m.maybeSnapshot()
	}
	if f := m.failure; f != nil {
		m.failure = nil
		m.answer(f.b, f.seqs, f.err)
		m.unsettled(func(w *batch[S]) bool {
			m.answer(w, nil, f.err)
			return true
		})
		m.waiting, m.open = nil, nil
	}
	held := m.held
	m.held = nil
	for _, h := range held {
		if err == nil {
			m.receive(h.c, h.now)
			continue
		}
		// As if each had come alone and its recovery had failed: a
		// manager's command the fence refuses gets ErrFenced, any other
		// command fences the actor.
		req, ok := h.c.msg.(Request)
		switch {
		case ok && req.Manager != "" && m.fenced && !m.resumed[req.Manager]:
			m.reply(h.c.to, reply{err: fmt.Errorf("%w: %s %s", ErrFenced, m.agg.Kind, m.id)})
		case ok:
			m.fence()
			m.reply(h.c.to, reply{err: err})
		default:
			m.reply(h.c.to, reply{err: err})
		}
	}
	return err
}

// caughtUp ends a catch-up (the records after last folded; err is why
// reading failed) and answers the admissions that waited for it.
func (m *machine[S, C]) caughtUp(err error) error {
	if err == nil {
		err = m.relink()
	}
	if err != nil {
		err = fmt.Errorf("%w: catch up %s %s: %v", ErrUnavailable, m.agg.Kind, m.id, err)
		m.phase = unloaded
	} else {
		m.phase = live
		m.publishState()
		m.publishAdmissions()
	}
	held := m.held
	m.held = nil
	for _, h := range held {
		a, ok := h.c.msg.(admission)
		switch {
		case err != nil:
			m.reply(h.c.to, reply{err: err})
		case ok:
			m.reply(h.c.to, reply{err: m.admittedAt(a.seq)})
		default:
			m.receive(h.c, h.now)
		}
	}
	return err
}

// publishState publishes Aggregate.Public of the state (durable: the
// machine calls it only with nothing decided since, or with a batch's).
func (m *machine[S, C]) publishState() {
	if m.agg.Public != nil {
		m.rd.publish, m.rd.public = true, m.agg.Public(m.state)
	}
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

// SnapshotBytesMax keeps a snapshot under NATS's default 1 MiB message
// limit. A larger state (a book of many thousand bids) is not snapshotted:
// its recovery replays its events instead.
const SnapshotBytesMax = 1000 << 10

// snapshotBackoffMax bounds how far the snapshot interval of a state too
// large to snapshot stretches: a state that shrinks (a book after a busy
// cycle) gets a snapshot again within that many intervals.
const snapshotBackoffMax = 1024

// errSnapshotMismatch stops a recovery whose snapshot is not in the log.
var errSnapshotMismatch = errors.New("snapshot does not match the log")

func (m *machine[S, C]) snapshotKey() string {
	return "snapshot." + string(m.agg.Kind) + "." + m.id
}

// maybeSnapshot takes a snapshot of the durable state if one is due; the
// actor has nothing in flight (it has just recovered).
func (m *machine[S, C]) maybeSnapshot() {
	if !m.snapshotDue(0) {
		return
	}
	m.sinceSnap = 0
	if state, ok := m.encodeState(); ok {
		m.takeSnapshot(m.last, m.head, state, m.marks)
	}
}

// snapshotDue reports whether a snapshot is due once n more events are
// durable.
func (m *machine[S, C]) snapshotDue(n int) bool {
	if !m.snapshots || m.opts.SnapshotEvery <= 0 {
		return false
	}
	if m.snapEvery < m.opts.SnapshotEvery {
		m.snapEvery = m.opts.SnapshotEvery
	}
	return m.sinceSnap+n >= m.snapEvery
}

// encodeState encodes the state for a snapshot, unless it is too large.
// Whatever happens, the caller waits a full interval before the next try:
// a snapshot that fails (too large, store down) must not be retried on
// every event.
func (m *machine[S, C]) encodeState() (json.RawMessage, bool) {
	if m.agg.SnapshotBytesMin != nil && m.agg.SnapshotBytesMin(m.state) > SnapshotBytesMax {
		return nil, false
	}
	b, err := json.Marshal(m.state)
	if err != nil {
		m.logger.Error("encode snapshot", "key", m.snapshotKey(), "err", err)
		return nil, false
	}
	if len(b) > SnapshotBytesMax {
		m.tooLarge(len(b))
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
func (m *machine[S, C]) tooLarge(bytes int) {
	if m.snapEvery < snapshotBackoffMax*m.opts.SnapshotEvery {
		m.snapEvery *= 2
	}
	m.logger.Warn("state too large to snapshot; recovery replays its events", "key", m.snapshotKey(), "bytes", bytes,
		"next_try_after_events", m.snapEvery)
}

// takeSnapshot asks for state, the encoded state as of the actor's event
// at seq (whose link is head), and its marks to be saved, with the memory
// of the commands applied up to it and the records skipped.
func (m *machine[S, C]) takeSnapshot(seq uint64, head string, state json.RawMessage, marks Marks) {
	b, err := json.Marshal(snapshotOut{Format: snapshotFormat, Kind: m.agg.Kind, ID: m.id, Seq: seq, Head: head, State: state,
		Marks: marks, Applied: m.mem.entries(), Skipped: m.skippedUpTo(seq)})
	if err != nil {
		m.logger.Error("encode snapshot", "key", m.snapshotKey(), "err", err)
		return
	}
	if len(b) > SnapshotBytesMax {
		m.tooLarge(len(b))
		return
	}
	m.snapEvery = m.opts.SnapshotEvery
	m.rd.snapshot = b
}

// skippedUpTo lists the records skipped up to seq (a snapshot's).
func (m *machine[S, C]) skippedUpTo(seq uint64) []skippedRecord {
	n := len(m.skipped)
	for n > 0 && m.skipped[n-1].Seq > seq {
		n--
	}
	return m.skipped[:n:n]
}
