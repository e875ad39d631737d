package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
}

// DefaultOptions are the values used for zero fields.
func DefaultOptions() Options {
	return Options{SnapshotEvery: 100, IdempotencyMemory: 256, AppendTimeout: 10 * time.Second,
		RecoverTimeout: time.Minute, AskTimeout: 30 * time.Second, BatchMax: 1000, AtomicBatchMin: 64,
		PipelineMin: 8}
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
	return o
}

// Host runs the event-sourced actors of one process on a protoactor-go
// actor system. Actors are spawned on first use and recover from the log.
type Host struct {
	system   *actor.ActorSystem
	deps     deps
	dispatch *workers
	// asks bounds the wait for an answer of callers without a deadline
	// of their own by opts.AskTimeout.
	asks *deadlines

	mu      sync.RWMutex
	stopped bool
	kinds   map[events.Kind]func(id string, c *cell, mailbox *mailboxRef) actor.Producer
	pids    map[string]*actor.PID
	// cells hold what each actor publishes of its durable state
	// (Aggregate.Public, for Peek; its admissions, for Admitted).
	cells map[actorKey]*cell
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
	return &Host{
		system: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		})),
		deps: deps{log: log, store: store, opts: opts, clock: time.Now, logger: logger,
			background: dispatch.Schedule, appends: newDeadlines(opts.AppendTimeout)},
		asks:     newDeadlines(opts.AskTimeout),
		dispatch: dispatch,
		kinds:    map[events.Kind]func(string, *cell, *mailboxRef) actor.Producer{},
		pids:     map[string]*actor.PID{},
		cells:    map[actorKey]*cell{},
	}, nil
}

// Register makes a kind of actor available on h.
func Register[S, C any](h *Host, agg Aggregate[S, C]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds[agg.Kind] = func(id string, c *cell, mailbox *mailboxRef) actor.Producer {
		return func() actor.Actor {
			return &shell[S, C]{agg: agg, id: id, filter: events.Filter(agg.Kind, id), deps: h.deps, public: &c.public,
				cell: c, mailbox: mailbox}
		}
	}
}

// ActorSystem is the protoactor-go actor system h runs its actors on, for
// the actors that are not event-sourced (the System Service's) to live
// beside them. Stop shuts it down.
func (h *Host) ActorSystem() *actor.ActorSystem { return h.system }

// pid returns the actor (kind, id), spawning it on first use.
func (h *Host) pid(kind events.Kind, id string) (*actor.PID, error) {
	if err := events.ValidateID(id); err != nil {
		return nil, err
	}
	name := string(kind) + "/" + id
	// Every command looks its actor up; read-locked, callers on all cores
	// do not queue behind one another.
	h.mu.RLock()
	pid, ok := h.pids[name]
	stopped := h.stopped
	h.mu.RUnlock()
	switch {
	case stopped:
		return nil, ErrStopped
	case ok:
		return pid, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrStopped
	}
	if pid, ok := h.pids[name]; ok {
		return pid, nil
	}
	producer, ok := h.kinds[kind]
	if !ok {
		// Retryable: a manager may start before every kind is registered.
		return nil, fmt.Errorf("%w: no actor kind %q registered", ErrUnavailable, kind)
	}
	c, mailbox := &cell{}, &mailboxRef{}
	props := actor.PropsFromProducer(producer(id, c, mailbox), actor.WithDispatcher(h.dispatch),
		actor.WithMailbox(mailbox.produce))
	pid, err := h.system.Root.SpawnNamed(props, name)
	if err != nil {
		return nil, fmt.Errorf("runtime: spawn %s: %w", name, err)
	}
	h.pids[name], h.cells[actorKey{kind, id}] = pid, c
	return pid, nil
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
// running or has not recovered yet, and the caller asks it instead. The
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

func (h *Host) post(kind events.Kind, id string, c call) error {
	pid, err := h.pid(kind, id)
	if err != nil {
		return err
	}
	h.system.Root.Send(pid, c)
	return nil
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
	pids := make([]*actor.PID, 0, len(h.pids))
	for _, pid := range h.pids {
		pids = append(pids, pid)
	}
	h.mu.Unlock()
	for _, pid := range pids {
		_ = h.system.Root.PoisonFuture(pid).Wait()
	}
	h.system.Shutdown()
	h.dispatch.stop()
}
