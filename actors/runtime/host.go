package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/events"
)

// Options tune every shell of a host.
type Options struct {
	// SnapshotEvery is the number of events an actor applies between two
	// snapshots; 0 disables snapshots.
	SnapshotEvery int
	// IdempotencyMemory is how many applied command keys each actor
	// remembers.
	IdempotencyMemory int
	// AppendTimeout bounds one append; past it the outcome is unknown and
	// the actor recovers from the log.
	AppendTimeout time.Duration
	// RecoverTimeout bounds loading one actor.
	RecoverTimeout time.Duration
	// AskTimeout is the default wait for an answer when the caller's
	// context has no deadline.
	AskTimeout time.Duration
	// BatchMax is the most events one actor appends at once (group
	// commit); 1 turns batching off. At most events.AppendBatchMax.
	BatchMax int
	// AtomicBatchMin is the smallest batch appended as one atomic batch;
	// smaller ones are appended event by event. JetStream stages an atomic
	// batch of a file stream through a store of its own, a few
	// milliseconds whatever its size, so small batches are cheaper one by
	// one.
	AtomicBatchMin int
	// PipelineMin is the smallest batch appended beside the actor while it
	// decides the next one (pipelined group commit); a smaller one is
	// appended in the actor's own turn, as a quiet actor needs: a
	// goroutine and a message per append cost it more CPU than the wait
	// they save (docs/decisions.md, "The hot path"). A busy actor's
	// batches grow past it and are pipelined.
	PipelineMin int
	// IdleTimeout is how long an actor goes without a message before it
	// is put to sleep (activation.go); negative: never.
	IdleTimeout time.Duration
}

// DefaultOptions are the values used for zero fields.
func DefaultOptions() Options {
	return Options{SnapshotEvery: 100, IdempotencyMemory: 256, AppendTimeout: 10 * time.Second,
		RecoverTimeout: time.Minute, AskTimeout: 30 * time.Second, BatchMax: 1000, AtomicBatchMin: 64,
		PipelineMin: 8, IdleTimeout: time.Minute}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = d.SnapshotEvery
	}
	if o.SnapshotEvery < 0 {
		o.SnapshotEvery = 0
	}
	if o.IdempotencyMemory <= 0 {
		o.IdempotencyMemory = d.IdempotencyMemory
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = d.AppendTimeout
	}
	if o.RecoverTimeout <= 0 {
		o.RecoverTimeout = d.RecoverTimeout
	}
	if o.AskTimeout <= 0 {
		o.AskTimeout = d.AskTimeout
	}
	if o.BatchMax <= 0 {
		o.BatchMax = d.BatchMax
	}
	o.BatchMax = min(o.BatchMax, events.AppendBatchMax)
	if o.AtomicBatchMin <= 0 {
		o.AtomicBatchMin = d.AtomicBatchMin
	}
	if o.PipelineMin <= 0 {
		o.PipelineMin = d.PipelineMin
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = d.IdleTimeout
	}
	return o
}

// Host runs the event-sourced actors of one process on a protoactor-go
// actor system. Actors are spawned when a message for them arrives,
// recover from the log, and are put to sleep when idle (activation.go).
type Host struct {
	system   *actor.ActorSystem
	deps     deps
	dispatch *workers
	// asks bounds the wait for an answer of callers without a deadline
	// of their own by opts.AskTimeout.
	asks *deadlines

	mu      sync.RWMutex
	stopped bool
	kinds   map[events.Kind]func(a *activation) actor.Producer
	// acts are the actors awake.
	acts map[actorKey]*activation
	// cells hold what each actor awake publishes of its durable state
	// (Aggregate.Public, for Peek; its admissions, for Admitted).
	cells map[actorKey]*cell

	// ticks counts the sweeps that put idle actors to sleep; stopSweep
	// ends them and swept is closed once they have ended.
	ticks     atomic.Uint32
	woken     atomic.Uint64
	raced     atomic.Uint64 // posts that found their actor falling asleep
	stopSweep chan struct{}
	swept     chan struct{}
}

// actorKey names an actor without building a string: Peek and Admitted
// look an actor up for every record a manager acts on.
type actorKey struct {
	kind events.Kind
	id   string
}

// mailboxThroughput is how many messages an actor handles before its
// worker yields to others (protoactor's default).
const mailboxThroughput = 300

// NewHost builds a host over a log and a store for snapshots (store may be
// nil: no snapshots).
func NewHost(log events.Log, store events.Store, opts Options, logger *slog.Logger) (*Host, error) {
	if log == nil {
		return nil, errors.New("runtime: nil event log")
	}
	if logger == nil {
		logger = slog.Default()
	}
	dispatch := newWorkers(mailboxThroughput)
	opts = opts.withDefaults()
	h := &Host{
		system: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		})),
		deps: deps{log: log, store: store, opts: opts, clock: time.Now, logger: logger,
			background: dispatch.Schedule, appends: newDeadlines(opts.AppendTimeout)},
		asks:      newDeadlines(opts.AskTimeout),
		dispatch:  dispatch,
		kinds:     map[events.Kind]func(*activation) actor.Producer{},
		acts:      map[actorKey]*activation{},
		cells:     map[actorKey]*cell{},
		stopSweep: make(chan struct{}),
		swept:     make(chan struct{}),
	}
	if opts.IdleTimeout > 0 {
		go h.sweep(opts.IdleTimeout/(idleTicks-1), h.stopSweep, h.swept)
	} else {
		close(h.swept)
	}
	return h, nil
}

// Register makes a kind of actor available on h.
func Register[S, C any](h *Host, agg Aggregate[S, C]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds[agg.Kind] = func(a *activation) actor.Producer {
		return func() actor.Actor {
			id := a.key.id
			return &sleeper{inner: &shell[S, C]{agg: agg, id: id, filter: events.Filter(agg.Kind, id), deps: h.deps,
				public: &a.cell.public, cell: a.cell, mailbox: a.mailbox}, act: a, host: h}
		}
	}
}

// ActorSystem is the protoactor-go actor system h runs its actors on, for
// the actors that are not event-sourced (the System Service's) to live
// beside them. Stop shuts it down.
func (h *Host) ActorSystem() *actor.ActorSystem { return h.system }

// activate returns the activation of actor (kind, id), waking it (it
// recovers from the log) when it is asleep.
func (h *Host) activate(kind events.Kind, id string) (*activation, error) {
	if err := events.ValidateID(id); err != nil {
		return nil, err
	}
	key := actorKey{kind, id}
	// Every command looks its actor up; read-locked, callers on all cores
	// do not queue behind one another.
	h.mu.RLock()
	a, ok := h.acts[key]
	stopped := h.stopped
	h.mu.RUnlock()
	switch {
	case stopped:
		return nil, ErrStopped
	case ok:
		return a, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrStopped
	}
	if a, ok := h.acts[key]; ok {
		return a, nil
	}
	producer, ok := h.kinds[kind]
	if !ok {
		// Retryable: a manager may start before every kind is registered.
		return nil, fmt.Errorf("%w: no actor kind %q registered", ErrUnavailable, kind)
	}
	a = &activation{key: key, cell: &cell{}, mailbox: &mailboxRef{}, done: make(chan struct{})}
	// A fresh actor counts as having work now: the message that wakes it
	// is on its way.
	a.seen.Store(h.ticks.Load())
	name := string(kind) + "/" + id
	props := actor.PropsFromProducer(producer(a), actor.WithDispatcher(h.dispatch),
		actor.WithMailbox(a.mailbox.produce))
	pid, err := h.system.Root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("runtime: spawn %s: %w", name, err)
	}
	a.pid = pid
	h.acts[key], h.cells[key] = a, a.cell
	h.woken.Add(1)
	return a, nil
}

// mailboxRef lets a shell see how many messages wait in its mailbox. A
// batch opened with nothing waiting is appended at once rather than after
// a flush message sent to itself, which cost an agent's account a mailbox
// round of its own per command.
type mailboxRef struct{ mb actor.Mailbox }

// produce is the actor's mailbox producer: protoactor's default, kept.
// It runs when the actor is spawned, before its first message.
func (r *mailboxRef) produce() actor.Mailbox {
	r.mb = actor.Unbounded()()
	return r.mb
}

// waiting is the number of messages in the mailbox behind the one being
// handled (protoactor counts a message out before it handles it).
func (r *mailboxRef) waiting() int {
	if r == nil || r.mb == nil {
		return 1 // unknown: assume some, and flush with a message
	}
	return r.mb.UserMessageCount()
}

// Peek returns what actor (kind, id) published of its durable state
// (Aggregate.Public) without asking it: ok is false when the actor is not
// running (never woken, or asleep) or has not recovered yet, and the
// caller asks it instead, which wakes it. The
// value may be behind a command being appended at this moment, never ahead
// of the log.
func (h *Host) Peek(kind events.Kind, id string) (any, bool) {
	h.mu.RLock()
	c := h.cells[actorKey{kind, id}]
	h.mu.RUnlock()
	if c == nil {
		return nil, false
	}
	p, ok := c.public.Load().(published)
	return p.v, ok
}

// Ask sends a command to the actor (kind, id) and waits for its answer,
// which comes only after the event is durable.
func (h *Host) Ask(ctx context.Context, kind events.Kind, id string, req Request) (Result, error) {
	r, err := h.ask(ctx, kind, id, req)
	return r.result, err
}

// Recall returns the result of the command with idempotency key that actor
// (kind, id) applied, if it remembers one. A front door that checks a
// command against other state before sending it asks this first, so that a
// retry gets the first answer even when that state has moved on.
func (h *Host) Recall(ctx context.Context, kind events.Kind, id, key string) (Result, bool, error) {
	if key == "" {
		return Result{}, false, nil
	}
	r, err := h.ask(ctx, kind, id, recall{key: key})
	if err != nil {
		return Result{}, false, err
	}
	found, _ := r.value.(bool)
	return r.result, found, nil
}

// Inspect runs fn on the state of actor (kind, id) inside the actor. fn
// sees durable state: it waits for the events the actor has decided and
// not yet appended.
func Inspect[S any, T any](ctx context.Context, h *Host, kind events.Kind, id string, fn func(S) T) (T, error) {
	return InspectUnaffected(ctx, h, kind, id, nil, fn)
}

// InspectUnaffected is Inspect for an fn whose answer no event of the
// types in unaffected changes: it waits only for decided events of other
// types (see Query). A hot actor appends a batch after another, and a
// query that must wait for the next one waits for a round trip to the log.
func InspectUnaffected[S any, T any](ctx context.Context, h *Host, kind events.Kind, id string, unaffected []string, fn func(S) T) (T, error) {
	r, err := h.ask(ctx, kind, id, Query[S]{Fn: func(s S) any { return fn(s) }, Unaffected: unaffected})
	if err != nil {
		var zero T
		return zero, err
	}
	if r.value == nil {
		var zero T // fn returned a nil interface (a nil error, say)
		return zero, nil
	}
	v, ok := r.value.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("runtime: inspect %s %s: wrong state type", kind, id)
	}
	return v, nil
}

// call is a message with where its answer goes: a channel with room for
// it, or a function the actor runs (then). An ask is thus a channel and a
// mailbox entry: protoactor's futures register a process and start a timer
// and a goroutine for each, more work than the command they carry.
type call struct {
	msg any
	to  replyTo
}

// replyTo is where the answer to a call goes.
type replyTo struct {
	// ch has room for the one answer, so the actor never blocks on a
	// caller that went away.
	ch chan<- reply
	// then, when set, is run with the answer on the actor's goroutine. It
	// must not block: a process manager settles its reaction there, with
	// no goroutine of its own waiting for the answer (see
	// ManagerRunner.deliver).
	then func(reply)
}

// send delivers msg to actor (kind, id) and returns the channel of its
// answer.
func (h *Host) send(kind events.Kind, id string, msg any) (<-chan reply, error) {
	ch := make(chan reply, 1)
	if err := h.post(kind, id, call{msg: msg, to: replyTo{ch: ch}}); err != nil {
		return nil, err
	}
	return ch, nil
}

// sendThen delivers msg to actor (kind, id), which runs then with its
// answer (see replyTo.then). Calls to one actor are handled, and so
// answered, in the order they were sent.
func (h *Host) sendThen(kind events.Kind, id string, msg any, then func(reply)) error {
	return h.post(kind, id, call{msg: msg, to: replyTo{then: then}})
}

// post delivers c to actor (kind, id), waking it if it is asleep. An
// actor being put to sleep takes no more messages: post waits until it
// has stopped, then wakes a fresh one (see activation.go).
func (h *Host) post(kind events.Kind, id string, c call) error {
	for {
		a, err := h.activate(kind, id)
		if err != nil {
			return err
		}
		if a.post(h.system, c, h.ticks.Load()) {
			return nil
		}
		h.raced.Add(1)
		<-a.done
	}
}

// answer waits for the answer on ch as long as ctx allows, and no longer
// than the ask timeout: an actor that never answers (it panicked on the
// command, or was stopped before it) must not hold its caller for ever.
func (h *Host) answer(ctx context.Context, ch <-chan reply, kind events.Kind, id string) (reply, error) {
	timeout := h.deps.opts.AskTimeout
	var expired <-chan struct{} // nil when ctx ends first
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > timeout {
		expired = h.asks.get().Done()
	} else if time.Until(dl) <= 0 {
		return reply{}, context.DeadlineExceeded
	}
	select {
	case r := <-ch:
		return r, r.err
	case <-ctx.Done():
		// The command may still be applied; a retry with the same key
		// learns its outcome.
		return reply{}, ctx.Err()
	case <-expired:
		if err := ctx.Err(); err != nil {
			return reply{}, err
		}
		return reply{}, fmt.Errorf("%w: %s %s did not answer within %v", ErrUnavailable, kind, id, timeout)
	}
}

func (h *Host) ask(ctx context.Context, kind events.Kind, id string, msg any) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, err
	}
	ch, err := h.send(kind, id, msg)
	if err != nil {
		return reply{}, err
	}
	return h.answer(ctx, ch, kind, id)
}

// Stop stops every actor after the command it is handling.
func (h *Host) Stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	h.stopped = true
	acts := make([]*activation, 0, len(h.acts))
	for _, a := range h.acts {
		acts = append(acts, a)
	}
	h.mu.Unlock()
	close(h.stopSweep)
	<-h.swept
	for _, a := range acts {
		a.gate.RLock()
		asleep := a.closing
		a.gate.RUnlock()
		if asleep {
			<-a.done // falling asleep: it stops by itself
			continue
		}
		_ = h.system.Root.PoisonFuture(a.pid).Wait()
	}
	h.system.Shutdown()
	h.dispatch.stop()
}
