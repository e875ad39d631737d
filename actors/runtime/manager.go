package runtime

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
)

// Reaction is one command a process manager sends because of an event.
// The command carries the manager's trigger, by which the actor's shell
// recognises a redelivery (see Manager).
type Reaction struct {
	Kind    events.Kind
	ID      string
	Command events.Triggered
}

// Manager is the pure part of a process manager: which events it watches
// and what each obliges other actors to do. Every command React returns must
// carry events.Trigger{Manager: Name, Seq: record's sequence}, which is how
// the receiving actor recognises a redelivery.
type Manager struct {
	Name   string
	Filter string
	// Types are the event types React acts on; empty means every type.
	// The runner decodes the data of those only: a manager follows the
	// whole log, and decoding every event was most of what it cost.
	Types []string
	React func(r events.Record, e events.Event) []Reaction
}

// ManagerRunner drives a Manager from the log. It delivers the reactions
// for each target actor in stream order, a window of them at a time (see
// pump; the fence keeps each actor's trigger marks growing only with what
// it applied), retries a target until its command is accepted,
// and records in the store the sequence below which every reaction is done.
// After a crash it resumes from there; reactions already applied are
// recognised by their trigger and applied once.
type ManagerRunner struct {
	m      Manager
	types  map[string]bool // m.Types; nil: every type
	host   *Host
	log    events.Log
	store  events.Store
	logger *slog.Logger

	// InFlightMax bounds the reactions dispatched and not yet done.
	InFlightMax int
	// PipelineMax bounds the commands sent to one target and not yet
	// answered.
	PipelineMax int

	mu      sync.Mutex
	changed *sync.Cond
	done    map[uint64]int // outstanding reactions per sequence
	order   []uint64       // sequences begun, oldest first
	floor   uint64         // every sequence <= floor is done
	seen    uint64         // last sequence read
	targets map[string]*targetQueue
	// waiters are the WaitFloor calls, least sequence first. Each is woken
	// alone when the floor reaches its sequence: a broadcast woke every
	// caller waiting on the manager at each reaction done.
	waiters floorWaiters

	// run is the scope of the deliveries of the current run: they stop
	// when it ends. resumers counts the goroutines that resume a target
	// after a failure (and the watch); stopping is set once Close waits
	// for them, after which none is started.
	run        context.Context
	stopRun    context.CancelFunc
	stopWaking func() bool
	resumers   *sync.WaitGroup
	stopping   bool
	cursor     *follow.Cursor
}

// targetQueue is the delivery to one target actor: the reactions not yet
// done, in stream order. A round sends them from the first, up to
// PipelineMax at a time; each success takes the first off the queue and
// makes room for the next send. After a retryable failure the round ends:
// the answers still out are collected, the actor is resumed, and a new
// round starts from the first reaction not done.
type targetQueue struct {
	key   string
	kind  events.Kind
	id    string
	items []item
	// sent counts the items, from the first, sent in this round; out
	// those of them whose answer has not come (nor been given up on).
	sent, out int
	tickets   uint64 // the last ticket given to a send
	failed    bool   // the round failed: nothing more is sent in it
	resuming  bool   // a goroutine is resuming the actor (see resume)
	backoff   time.Duration
}

type item struct {
	seq uint64
	r   Reaction
	// gate, when set, holds the item until the actor whose record caused
	// it has admitted that record (nothing after it is sent meanwhile).
	gate *gate
	// ticket names the item's send in this round while its answer is out;
	// 0 once it came or was given up on. at is when it was sent.
	ticket uint64
	at     time.Time
}

// Pauses before a target is retried after a failure: doubled at each
// failure in a row, back to the least after a success.
const (
	retryPauseMin = 10 * time.Millisecond
	retryPauseMax = 2 * time.Second
)

// NewManagerRunner prepares m to run on host over log; store keeps its
// cursor (follow.CursorKey of its name).
func NewManagerRunner(m Manager, host *Host, log events.Log, store events.Store, logger *slog.Logger) (*ManagerRunner, error) {
	if m.Name == "" || m.React == nil || host == nil || log == nil || store == nil {
		return nil, errors.New("runtime: manager needs a name, a React function, a host, a log and a store")
	}
	if logger == nil {
		logger = slog.Default()
	}
	cursor, err := follow.NewCursor(store, m.Name)
	if err != nil {
		return nil, err
	}
	mr := &ManagerRunner{m: m, host: host, log: log, store: store, logger: logger, InFlightMax: 4096, PipelineMax: 1024,
		done: map[uint64]int{}, targets: map[string]*targetQueue{}, cursor: cursor}
	mr.changed = sync.NewCond(&mr.mu)
	if len(m.Types) > 0 {
		mr.types = make(map[string]bool, len(m.Types))
		for _, t := range m.Types {
			mr.types[t] = true
		}
	}
	return mr, nil
}

// Floor is the sequence below which (inclusive) every reaction is done.
func (mr *ManagerRunner) Floor() uint64 {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	return mr.floor
}

// WaitFloor waits until every reaction to records up to seq is done. seq
// must be the sequence of a record matching the manager's filter (for
// example one the caller just appended): the runner only sees those, so a
// later sequence of another kind would keep it waiting until ctx ends.
func (mr *ManagerRunner) WaitFloor(ctx context.Context, seq uint64) error {
	mr.mu.Lock()
	if mr.reached(seq) {
		mr.mu.Unlock()
		return nil
	}
	if err := ctx.Err(); err != nil {
		mr.mu.Unlock()
		return err
	}
	w := &floorWaiter{seq: seq, ch: make(chan struct{})}
	heap.Push(&mr.waiters, w)
	mr.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		mr.mu.Lock()
		if w.index >= 0 {
			heap.Remove(&mr.waiters, w.index)
		}
		mr.mu.Unlock()
		return ctx.Err()
	}
}

// WaitCaughtUp waits until every reaction to the records the log holds
// now is done. Only a manager that follows the whole log may be asked (its
// filter events.SubjectRoot + ".>"): another never sees the log's last
// record when it is not its own, and WaitFloor would wait until ctx ends.
// It is for a caller whose command sets off a chain of reactions, each
// one's record appended by the one before: the caller waits once for each
// link it needs done.
func (mr *ManagerRunner) WaitCaughtUp(ctx context.Context) error {
	if mr.m.Filter != events.SubjectRoot+".>" {
		return fmt.Errorf("runtime: manager %s follows %s, not the whole log", mr.m.Name, mr.m.Filter)
	}
	last, err := mr.log.LastSeq(ctx)
	if err != nil || last == 0 {
		return err
	}
	return mr.WaitFloor(ctx, last)
}

// reached reports whether every reaction to records up to seq is done.
// Callers hold mr.mu.
func (mr *ManagerRunner) reached(seq uint64) bool {
	return mr.floor >= seq || (mr.seen >= seq && len(mr.order) == 0)
}

// wake releases the WaitFloor calls whose sequence is reached. Callers
// hold mr.mu.
func (mr *ManagerRunner) wake() {
	for len(mr.waiters) > 0 && mr.reached(mr.waiters[0].seq) {
		close(heap.Pop(&mr.waiters).(*floorWaiter).ch)
	}
}

// floorWaiter is one WaitFloor call.
type floorWaiter struct {
	seq   uint64
	ch    chan struct{} // closed when seq is reached
	index int           // in floorWaiters; -1 once popped
}

// floorWaiters is a min-heap of waiters by sequence (container/heap).
type floorWaiters []*floorWaiter

func (h floorWaiters) Len() int           { return len(h) }
func (h floorWaiters) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h floorWaiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *floorWaiters) Push(x any) {
	w := x.(*floorWaiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *floorWaiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	w.index = -1
	return w
}

// Run follows the log until ctx is done, alone on a follow of its own.
func (mr *ManagerRunner) Run(ctx context.Context) error { return RunManagers(ctx, mr) }

// RunManagers runs managers of one log and filter on one follow.Follower
// until ctx is done: each record is read once and handed to every manager
// whose cursor is below it. A composition root that has other followers
// (the executor, the read models) adds the managers to its own Follower
// instead.
func RunManagers(ctx context.Context, runners ...*ManagerRunner) error {
	if len(runners) == 0 {
		return nil
	}
	log, filter := runners[0].log, runners[0].m.Filter
	for _, mr := range runners[1:] {
		if mr.log != log || mr.m.Filter != filter {
			return fmt.Errorf("runtime: managers %s and %s follow different logs or filters", runners[0].m.Name, mr.m.Name)
		}
	}
	f, err := follow.New(log, follow.Options{Filter: filter, Logger: runners[0].logger})
	if err != nil {
		return err
	}
	for _, mr := range runners {
		f.Add(mr)
	}
	return f.Run(ctx)
}

var _ follow.Consumer = (*ManagerRunner)(nil)

// Name is the manager's name (follow.Consumer).
func (mr *ManagerRunner) Name() string { return "manager " + mr.m.Name }

// Types are the event types the manager reacts to (follow.Consumer).
func (mr *ManagerRunner) Types() []string { return mr.m.Types }

// Open starts a run of the manager where its saved cursor says
// (follow.Consumer). The deliveries of the run end with ctx or Close,
// whatever comes first: a reaction not done then stays above the saved
// cursor and is redone at the next start.
func (mr *ManagerRunner) Open(ctx context.Context, last uint64) (uint64, error) {
	pos, err := mr.cursor.Load(ctx, last)
	if err != nil {
		return 0, fmt.Errorf("manager %s: %w", mr.m.Name, err)
	}
	run, stop := context.WithCancel(ctx)
	wg := &sync.WaitGroup{}
	mr.mu.Lock()
	mr.floor, mr.seen = pos, pos
	mr.run, mr.stopRun, mr.resumers, mr.stopping = run, stop, wg, false
	mr.wake()
	mr.changed.Broadcast()
	mr.mu.Unlock()
	// dispatch may be waiting for room in the in-flight window; wake it
	// when the run ends, or a stop would wait for ever.
	mr.stopWaking = context.AfterFunc(run, mr.broadcast)
	wg.Go(func() { mr.watch(run) })
	return pos, nil
}

// Deliver hands the manager the next record (follow.Consumer).
func (mr *ManagerRunner) Deliver(_ context.Context, r events.Record) error {
	return mr.record(mr.run, r)
}

// Close ends the run's deliveries and waits for the goroutines that
// resume targets (follow.Consumer).
func (mr *ManagerRunner) Close() {
	mr.stopRun()
	mr.mu.Lock()
	mr.stopping = true
	mr.changed.Broadcast()
	wg := mr.resumers
	mr.mu.Unlock()
	wg.Wait()
	mr.stopWaking()
}

// Save stores the floor as the manager's cursor (follow.Consumer).
func (mr *ManagerRunner) Save(ctx context.Context) error { return mr.cursor.Save(ctx, mr.Floor) }

func (mr *ManagerRunner) broadcast() {
	mr.mu.Lock()
	mr.changed.Broadcast()
	mr.mu.Unlock()
}

// record hands one record to the manager: its reactions, if it acts on
// the record's type (only those are decoded), are dispatched. A record
// that is not a sound event is skipped; one whose actor has not admitted
// it yet has its reactions dispatched held (see gate).
func (mr *ManagerRunner) record(ctx context.Context, r events.Record) error {
	if mr.types != nil && !mr.types[r.Envelope.Type] {
		return mr.dispatch(ctx, r.Seq, nil, nil)
	}
	e, err := events.Read(r)
	if err != nil {
		mr.skipped(err)
		return mr.dispatch(ctx, r.Seq, nil, nil)
	}
	rs := mr.m.React(r, e)
	if len(rs) == 0 {
		return mr.dispatch(ctx, r.Seq, nil, nil)
	}
	kind, id, _ := events.ActorOf(r)
	if !mr.host.runs(kind) {
		return mr.dispatch(ctx, r.Seq, rs, nil)
	}
	if known, err := mr.host.cellOf(kind, id).admitted(r.Seq); known {
		if err != nil {
			mr.skipped(err)
			rs = nil
		}
		return mr.dispatch(ctx, r.Seq, rs, nil)
	}
	g := &gate{}
	if err := mr.dispatch(ctx, r.Seq, rs, g); err != nil {
		return err
	}
	mr.admit(r, g)
	return nil
}

// skipped notes a record the manager does not act on.
func (mr *ManagerRunner) skipped(err error) {
	mr.logger.Debug("manager: record skipped", "manager", mr.m.Name, "err", err)
}

// gate holds the reactions to one record until its actor has admitted it:
// the actor has not reached the record yet when the manager reads it
// (its append's answer is on its way, or the record is not the actor's
// own), and a record the actor skips must cause nothing.
type gate struct {
	state  gateState
	queues []*targetQueue // those holding the record's reactions
}

type gateState uint8

const (
	gateHeld gateState = iota
	gateOpen
	gateShut
)

// open reports whether an item may be sent.
func (it *item) open() bool { return it.gate == nil || it.gate.state == gateOpen }

// admit asks the record's actor whether it admits r, and opens or shuts
// g with the answer; an actor that cannot answer is asked again.
func (mr *ManagerRunner) admit(r events.Record, g *gate) {
	mr.host.admittedThen(r, func(err error) { mr.resolve(r, g, err) })
}

// resolve opens g (the record was admitted) or shuts it (skipped: its
// reactions are dropped, done); on another error, it asks again after a
// pause. It may run on the actor's goroutine: it must not block.
func (mr *ManagerRunner) resolve(r events.Record, g *gate, err error) {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if err != nil && !errors.Is(err, events.ErrBadRecord) {
		if mr.stopping || mr.run.Err() != nil {
			return // the reactions stay above the cursor: redone at the next start
		}
		mr.resumers.Add(1)
		go func() {
			defer mr.resumers.Done()
			t := time.NewTimer(retryPauseMax)
			defer t.Stop()
			select {
			case <-mr.run.Done():
			case <-t.C:
				mr.admit(r, g)
			}
		}()
		return
	}
	g.state = gateOpen
	if err != nil {
		g.state = gateShut
		mr.skipped(err)
	}
	for _, q := range g.queues {
		if g.state == gateShut {
			kept := q.items[:q.sent]
			for _, it := range q.items[q.sent:] {
				if it.gate == g {
					mr.complete(it.seq)
					continue
				}
				kept = append(kept, it)
			}
			clear(q.items[len(kept):])
			q.items = kept
		}
		mr.pump(q)
	}
}

func (mr *ManagerRunner) dispatch(ctx context.Context, seq uint64, rs []Reaction, g *gate) error {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	for len(mr.order) >= mr.InFlightMax && ctx.Err() == nil {
		mr.changed.Wait()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	mr.seen = seq
	if len(rs) == 0 {
		if len(mr.order) == 0 {
			mr.floor = seq
			mr.wake()
		} else {
			mr.order = append(mr.order, seq)
			mr.done[seq] = 0
		}
		return nil
	}
	mr.order = append(mr.order, seq)
	mr.done[seq] = len(rs)
	for _, r := range rs {
		key := string(r.Kind) + "/" + r.ID
		q := mr.targets[key]
		if q == nil {
			q = &targetQueue{key: key, kind: r.Kind, id: r.ID, backoff: retryPauseMin}
			mr.targets[key] = q
		}
		q.items = append(q.items, item{seq: seq, r: r, gate: g})
		if g != nil && !slices.Contains(g.queues, q) {
			g.queues = append(g.queues, q)
		}
		mr.pump(q)
	}
	return nil
}

// pump sends the target's next reactions, so that up to PipelineMax are in
// its mailbox or being decided at once: the actor always has the next
// commands at hand while it appends (it group-commits them), and a
// reaction waits for no batch but its own. The actor settles each answer
// itself, on its own goroutine (answered): a goroutine per target waiting
// for the answers, with its timer and its select, would cost about as much
// as the reaction itself. Sends happen under mr.mu, so that a target's commands
// leave in stream order whoever pumps. Callers hold mr.mu.
func (mr *ManagerRunner) pump(q *targetQueue) {
	window := max(mr.PipelineMax, 1)
	for !q.failed && !q.resuming && q.sent < len(q.items) && q.items[q.sent].open() && q.out < window && mr.run.Err() == nil {
		it := &q.items[q.sent]
		q.tickets++
		ticket := q.tickets
		err := mr.host.sendThen(q.kind, q.id, Request{Command: it.r.Command, Manager: mr.m.Name},
			func(r reply) { mr.answered(q, ticket, r.err) })
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				mr.logger.Error("manager: reaction cannot be sent", "manager", mr.m.Name, "seq", it.seq,
					"kind", q.kind, "id", q.id, "err", err)
			}
			q.failed = true
			break
		}
		it.ticket, it.at = ticket, time.Now()
		q.sent++
		q.out++
	}
	mr.retryOrDrop(q)
}

// answered settles the answer to the send with ticket. It runs on the
// target actor's goroutine, and must not block. Callers do not hold mr.mu.
func (mr *ManagerRunner) answered(q *targetQueue, ticket uint64, err error) {
	mr.mu.Lock()
	defer mr.mu.Unlock()
	i := 0
	for i < q.sent && q.items[i].ticket != ticket {
		i++
	}
	if i == q.sent {
		return // given up on (see watch): the round was resent since
	}
	it := q.items[i]
	q.items[i].ticket = 0
	q.out--
	switch {
	case q.failed:
		// Collected: the actor refuses it (fenced), and the next round
		// resends it if it was not applied.
	case i != 0:
		// An actor answers in the order it was sent to; should an answer
		// overtake another, resend the round rather than guess.
		q.failed = true
	case err == nil:
		mr.done1(q)
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict):
		q.failed = true
	default:
		// A rejection is final: retrying cannot change it. It means the
		// rules let an event oblige something impossible; log loudly.
		mr.logger.Error("manager: reaction rejected", "manager", mr.m.Name, "seq", it.seq,
			"kind", q.kind, "id", q.id, "command", fmt.Sprintf("%T", it.r.Command), "err", err)
		mr.done1(q)
	}
	mr.pump(q)
}

// done1 takes the first reaction of q, answered, off the queue. Callers
// hold mr.mu.
func (mr *ManagerRunner) done1(q *targetQueue) {
	mr.complete(q.items[0].seq)
	q.items[0] = item{} // the command is garbage now
	q.items = q.items[1:]
	q.sent--
	q.backoff = retryPauseMin
}

// retryOrDrop resumes a failed target once none of its answers is out,
// and forgets a target with nothing left to deliver. Callers hold mr.mu.
func (mr *ManagerRunner) retryOrDrop(q *targetQueue) {
	switch {
	case q.failed && q.out == 0 && !q.resuming && !mr.stopping && mr.run.Err() == nil:
		q.resuming = true
		mr.resumers.Add(1)
		go mr.resume(q)
	case !q.failed && !q.resuming && len(q.items) == 0:
		delete(mr.targets, q.key)
	}
}

// resume starts a new round of q after a failed one. The actor has fenced
// this manager after its failure (or did not answer): resume lifts the
// fence, and reaches the actor after every command of the failed round
// (a mailbox keeps the order), so what the actor accepts after it is the
// new round, in order.
func (mr *ManagerRunner) resume(q *targetQueue) {
	defer mr.resumers.Done()
	ctx := mr.run
	if _, err := mr.host.ask(ctx, q.kind, q.id, resume{manager: mr.m.Name}); err != nil && ctx.Err() == nil {
		mr.logger.Warn("manager: resume", "manager", mr.m.Name, "kind", q.kind, "id", q.id, "err", err)
	}
	mr.mu.Lock()
	pause := q.backoff
	q.backoff = min(2*pause, retryPauseMax)
	mr.mu.Unlock()
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	q.resuming, q.failed, q.sent = false, false, 0
	mr.pump(q)
}

// watch gives up on answers that do not come within the ask timeout (an
// actor that panicked on a command never answers it) until ctx ends: the
// round fails, and the target is resumed and resent from its first
// reaction not done, as after a refusal.
func (mr *ManagerRunner) watch(ctx context.Context) {
	timeout := mr.host.deps.opts.AskTimeout
	t := time.NewTicker(min(max(timeout/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		mr.mu.Lock()
		for _, q := range mr.targets {
			if q.out == 0 {
				continue
			}
			oldest := 0 // the first send still out: sends leave in order
			for oldest < q.sent && q.items[oldest].ticket == 0 {
				oldest++
			}
			if oldest == q.sent || now.Sub(q.items[oldest].at) < timeout {
				continue
			}
			mr.logger.Warn("manager: no answer in time; resending", "manager", mr.m.Name, "kind", q.kind,
				"id", q.id, "seq", q.items[oldest].seq, "timeout", timeout)
			for i := range q.sent {
				q.items[i].ticket = 0
			}
			q.out, q.failed = 0, true
			mr.retryOrDrop(q)
		}
		mr.mu.Unlock()
	}
}

// complete marks one reaction of seq done and advances the floor. Callers
// hold mr.mu.
func (mr *ManagerRunner) complete(seq uint64) {
	mr.done[seq]--
	for len(mr.order) > 0 && mr.done[mr.order[0]] <= 0 {
		mr.floor = mr.order[0]
		delete(mr.done, mr.order[0])
		mr.order = mr.order[1:]
	}
	if len(mr.order) == 0 && mr.seen > mr.floor {
		mr.floor = mr.seen
	}
	mr.wake()
	mr.changed.Broadcast() // room in the in-flight window
}
