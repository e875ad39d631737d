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
	// they save (5 µs of the ledger's 60 per event). A busy actor's
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

	mu      sync.Mutex
	stopped bool
	kinds   map[events.Kind]func(id string, public *atomic.Value) actor.Producer
	pids    map[string]*actor.PID
	// public holds what each actor publishes of its durable state
	// (Aggregate.Public), for Peek.
	public map[string]*atomic.Value
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
	return &Host{
		system: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		})),
		deps: deps{log: log, store: store, opts: opts.withDefaults(), clock: time.Now, logger: logger,
			background: dispatch.Schedule},
		dispatch: dispatch,
		kinds:    map[events.Kind]func(string, *atomic.Value) actor.Producer{},
		pids:     map[string]*actor.PID{},
		public:   map[string]*atomic.Value{},
	}, nil
}

// Register makes a kind of actor available on h.
func Register[S any](h *Host, agg Aggregate[S]) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kinds[agg.Kind] = func(id string, public *atomic.Value) actor.Producer {
		return func() actor.Actor {
			return &shell[S]{agg: agg, id: id, filter: events.Filter(agg.Kind, id), deps: h.deps, public: public}
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
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrStopped
	}
	name := string(kind) + "/" + id
	if pid, ok := h.pids[name]; ok {
		return pid, nil
	}
	producer, ok := h.kinds[kind]
	if !ok {
		// Retryable: a manager may start before every kind is registered.
		return nil, fmt.Errorf("%w: no actor kind %q registered", ErrUnavailable, kind)
	}
	public := &atomic.Value{}
	pid, err := h.system.Root.SpawnNamed(actor.PropsFromProducer(producer(id, public), actor.WithDispatcher(h.dispatch)), name)
	if err != nil {
		return nil, fmt.Errorf("runtime: spawn %s: %w", name, err)
	}
	h.pids[name], h.public[name] = pid, public
	return pid, nil
}

// Peek returns what actor (kind, id) published of its durable state
// (Aggregate.Public) without asking it: ok is false when the actor is not
// running or has not recovered yet, and the caller asks it instead. The
// value may be behind a command being appended at this moment, never ahead
// of the log.
func (h *Host) Peek(kind events.Kind, id string) (any, bool) {
	h.mu.Lock()
	cell := h.public[string(kind)+"/"+id]
	h.mu.Unlock()
	if cell == nil {
		return nil, false
	}
	p, ok := cell.Load().(published)
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

// call is a message with the channel its answer goes to (room for one).
// An ask is thus a channel and a mailbox entry: protoactor's futures
// register a process and start a timer and a goroutine for each, which cost
// as much as the command they carried.
type call struct {
	msg    any
	answer chan<- reply
}

// send delivers msg to actor (kind, id) and returns the channel of its
// answer, so that a caller can have several commands in the actor's
// mailbox at once (in order) and collect the answers in order.
func (h *Host) send(kind events.Kind, id string, msg any) (<-chan reply, error) {
	pid, err := h.pid(kind, id)
	if err != nil {
		return nil, err
	}
	ch := make(chan reply, 1)
	h.system.Root.Send(pid, call{msg: msg, answer: ch})
	return ch, nil
}

// answer waits for the answer on ch as long as ctx allows, and no longer
// than the ask timeout: an actor that never answers (it panicked on the
// command, or was stopped before it) must not hold its caller for ever.
func (h *Host) answer(ctx context.Context, ch <-chan reply, kind events.Kind, id string) (reply, error) {
	timeout := h.deps.opts.AskTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return reply{}, context.DeadlineExceeded
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r, r.err
	case <-ctx.Done():
		// The command may still be applied; a retry with the same key
		// learns its outcome.
		return reply{}, ctx.Err()
	case <-timer.C:
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
