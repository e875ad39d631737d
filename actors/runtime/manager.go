package runtime

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/agora-econ/agora/events"
)

// Reaction is one command a process manager sends because of an event.
type Reaction struct {
	Kind    events.Kind
	ID      string
	Command any
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
// work; the fence keeps each actor's trigger marks growing only with what
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
}

type targetQueue struct {
	items []item // not yet done, in stream order
	// wake tells the target's worker that items were added.
	wake chan struct{}
}

type item struct {
	seq uint64
	r   Reaction
}

// NewManagerRunner prepares m to run on host over log; store keeps its
// cursor.
func NewManagerRunner(m Manager, host *Host, log events.Log, store events.Store, logger *slog.Logger) (*ManagerRunner, error) {
	if m.Name == "" || m.React == nil || host == nil || log == nil || store == nil {
		return nil, errors.New("runtime: manager needs a name, a React function, a host, a log and a store")
	}
	if logger == nil {
		logger = slog.Default()
	}
	mr := &ManagerRunner{m: m, host: host, log: log, store: store, logger: logger, InFlightMax: 4096, PipelineMax: 1024,
		done: map[uint64]int{}, targets: map[string]*targetQueue{}}
	mr.changed = sync.NewCond(&mr.mu)
	if len(m.Types) > 0 {
		mr.types = make(map[string]bool, len(m.Types))
		for _, t := range m.Types {
			mr.types[t] = true
		}
	}
	return mr, nil
}

func (mr *ManagerRunner) cursorKey() string { return "cursor." + mr.m.Name }

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

// Run follows the log until ctx is done.
func (mr *ManagerRunner) Run(ctx context.Context) error { return RunManagers(ctx, mr) }

// RunManagers runs managers of one log and filter over a single follow of
// it until ctx is done: each record is read and parsed once and handed to
// every manager whose cursor is below it. A follower of the whole log costs
// about as much CPU per event as the append of the event itself.
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
	var wg sync.WaitGroup
	from := uint64(0)
	starts := make([]uint64, len(runners))
	for i, mr := range runners {
		// dispatch may be waiting for room in the in-flight window; wake
		// it when ctx ends, or a stop would wait for ever.
		stop := context.AfterFunc(ctx, mr.broadcast)
		defer stop()
		if err := mr.loadCursor(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		starts[i] = mr.Floor()
		if i == 0 || starts[i] < from {
			from = starts[i]
		}
	}
	saves := make([]func(), len(runners))
	for i, mr := range runners {
		saves[i] = mr.saver(ctx, &wg)
	}
	err := log.Follow(ctx, filter, from+1, func(r events.Record) error {
		for i, mr := range runners {
			if r.Seq <= starts[i] {
				continue // done before the restart
			}
			if err := mr.record(ctx, &wg, r); err != nil {
				return err
			}
		}
		return nil
	})
	for _, mr := range runners {
		mr.broadcast()
	}
	wg.Wait()
	for _, save := range saves {
		save()
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (mr *ManagerRunner) broadcast() {
	mr.mu.Lock()
	mr.changed.Broadcast()
	mr.mu.Unlock()
}

// loadCursor starts the manager where its saved cursor says.
func (mr *ManagerRunner) loadCursor(ctx context.Context) error {
	b, ok, err := mr.store.Get(ctx, mr.cursorKey())
	if err != nil {
		return fmt.Errorf("manager %s: load cursor: %w", mr.m.Name, err)
	}
	if !ok {
		return nil
	}
	c, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("manager %s: cursor %q: %w", mr.m.Name, b, err)
	}
	mr.mu.Lock()
	mr.floor, mr.seen = c, c
	mr.wake()
	mr.changed.Broadcast()
	mr.mu.Unlock()
	return nil
}

// saver saves the cursor every 200 ms until ctx ends, and returns the save
// for a last one.
func (mr *ManagerRunner) saver(ctx context.Context, wg *sync.WaitGroup) func() {
	saved := mr.Floor()
	var mu sync.Mutex
	save := func() {
		mu.Lock()
		defer mu.Unlock()
		f := mr.Floor()
		if f == saved {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := mr.store.Put(sctx, mr.cursorKey(), []byte(strconv.FormatUint(f, 10))); err != nil {
			mr.logger.Warn("manager: save cursor", "manager", mr.m.Name, "err", err)
			return
		}
		saved = f
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				save()
			}
		}
	}()
	return save
}

// record hands one record to the manager: its reactions, if it acts on
// the record's type (only those are decoded), are dispatched.
func (mr *ManagerRunner) record(ctx context.Context, wg *sync.WaitGroup, r events.Record) error {
	if mr.types != nil && !mr.types[r.Envelope.Type] {
		return mr.dispatch(ctx, wg, r.Seq, nil)
	}
	e, err := events.Decode(r.Envelope)
	if err != nil {
		return fmt.Errorf("manager %s: seq %d: %w", mr.m.Name, r.Seq, err)
	}
	return mr.dispatch(ctx, wg, r.Seq, mr.m.React(r, e))
}

func (mr *ManagerRunner) dispatch(ctx context.Context, wg *sync.WaitGroup, seq uint64, rs []Reaction) error {
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
		q, running := mr.targets[key]
		if !running {
			q = &targetQueue{wake: make(chan struct{}, 1)}
			mr.targets[key] = q
		}
		q.items = append(q.items, item{seq: seq, r: r})
		if !running {
			wg.Add(1)
			go mr.work(ctx, wg, key, q)
		} else {
			select {
			case q.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// work delivers one target's reactions in order through a sliding window:
// up to PipelineMax commands are in the actor's mailbox or being decided at
// once, and each answer, read in order, makes room for the next command.
// The actor thus always has the next commands at hand while it appends
// (it group-commits them), and a reaction waits for no batch but its own.
// On a retryable failure the actor has fenced this manager (or the answer
// timed out, and the mailbox still keeps the order): the worker collects
// the remaining answers, resumes the actor and resends from the first
// command not accepted.
func (mr *ManagerRunner) work(ctx context.Context, wg *sync.WaitGroup, key string, q *targetQueue) {
	defer wg.Done()
	backoff := 10 * time.Millisecond
	window := max(mr.PipelineMax, 1)
	var out []sent // in flight, oldest first: out[i] is q.items[i]
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		mr.mu.Lock()
		n := min(len(q.items), window) - len(out)
		if n <= 0 && len(out) == 0 {
			delete(mr.targets, key)
			mr.mu.Unlock()
			return
		}
		var fresh []item
		if n > 0 {
			fresh = append(fresh, q.items[len(out):len(out)+n]...)
		}
		mr.mu.Unlock()
		failed := false
		for _, it := range fresh {
			ch, err := mr.host.send(it.r.Kind, it.r.ID, Request{Command: it.r.Command, Manager: mr.m.Name})
			if err != nil {
				// The commands out are answered first; then, with nothing
				// out, the send is tried again after a pause.
				if len(out) == 0 {
					if !errors.Is(err, ErrUnavailable) {
						mr.logger.Error("manager: reaction cannot be sent", "manager", mr.m.Name, "seq", it.seq,
							"kind", it.r.Kind, "id", it.r.ID, "err", err)
					}
					failed = true
				}
				break
			}
			out = append(out, sent{ch: ch, at: time.Now()})
		}
		if len(out) > 0 {
			var ok bool
			if failed, ok = mr.await(ctx, q, &out, timer); !ok {
				return // shutting down; the cursor stays below what is not done
			}
		}
		if !failed {
			backoff = 10 * time.Millisecond
			continue
		}
		// Collect what is still out (the actor refuses it, fenced), then
		// resume the actor and resend from the first command not accepted.
		for i, o := range out {
			if o.ch != nil {
				it := q.peek(&mr.mu, i)
				_, _ = mr.host.answer(ctx, o.ch, it.r.Kind, it.r.ID)
			}
		}
		out = out[:0]
		it := q.peek(&mr.mu, 0)
		if _, err := mr.host.ask(ctx, it.r.Kind, it.r.ID, resume{manager: mr.m.Name}); err != nil && ctx.Err() == nil {
			mr.logger.Warn("manager: resume", "manager", mr.m.Name, "kind", it.r.Kind, "id", it.r.ID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// sent is a command in a target's mailbox: where its answer comes, and
// when it was sent.
type sent struct {
	ch <-chan reply
	at time.Time
}

// peek returns the i-th item of the queue.
func (q *targetQueue) peek(mu *sync.Mutex, i int) item {
	mu.Lock()
	defer mu.Unlock()
	return q.items[i]
}

// await reads the answer of the oldest command out, or returns early when
// new reactions for the target arrive (to send them). It returns whether a
// retryable failure stopped the delivery, and false when ctx ended.
func (mr *ManagerRunner) await(ctx context.Context, q *targetQueue, out *[]sent, timer *time.Timer) (failed, ok bool) {
	o := (*out)[0]
	timeout := mr.host.deps.opts.AskTimeout - time.Since(o.at)
	if dl, has := ctx.Deadline(); has {
		timeout = min(timeout, time.Until(dl))
	}
	timer.Reset(max(timeout, 0))
	defer timer.Stop()
	var err error
	select {
	case r := <-o.ch:
		err = r.err
	case <-q.wake:
		return false, true
	case <-ctx.Done():
		return false, false
	case <-timer.C:
		err = fmt.Errorf("%w: no answer within %v", ErrUnavailable, mr.host.deps.opts.AskTimeout)
	}
	it := q.peek(&mr.mu, 0)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict):
		(*out)[0].ch = nil // answered
		return true, true
	default:
		// A rejection is final: retrying cannot change it. It means the
		// rules let an event oblige something impossible; log loudly.
		mr.logger.Error("manager: reaction rejected", "manager", mr.m.Name, "seq", it.seq,
			"kind", it.r.Kind, "id", it.r.ID, "command", fmt.Sprintf("%T", it.r.Command), "err", err)
	}
	mr.mu.Lock()
	mr.complete(it.seq)
	q.items = q.items[1:]
	mr.mu.Unlock()
	*out = (*out)[1:]
	return false, true
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
