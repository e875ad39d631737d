package runtime

import (
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
// for each target actor one at a time in stream order (so each actor's
// trigger marks only grow), retries a target until its command is accepted,
// and records in the store the sequence below which every reaction is done.
// After a crash it resumes from there; reactions already applied are
// recognised by their trigger and applied once.
type ManagerRunner struct {
	m      Manager
	host   *Host
	log    events.Log
	store  events.Store
	logger *slog.Logger

	// InFlightMax bounds the reactions dispatched and not yet done.
	InFlightMax int
	// PipelineMax bounds the commands in one target's mailbox at once.
	PipelineMax int

	mu      sync.Mutex
	changed *sync.Cond
	done    map[uint64]int // outstanding reactions per sequence
	order   []uint64       // sequences begun, oldest first
	floor   uint64         // every sequence <= floor is done
	seen    uint64         // last sequence read
	targets map[string]*targetQueue
}

type targetQueue struct {
	items []item
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
	mr := &ManagerRunner{m: m, host: host, log: log, store: store, logger: logger, InFlightMax: 4096, PipelineMax: 256,
		done: map[uint64]int{}, targets: map[string]*targetQueue{}}
	mr.changed = sync.NewCond(&mr.mu)
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
	stop := context.AfterFunc(ctx, func() {
		mr.mu.Lock()
		mr.changed.Broadcast()
		mr.mu.Unlock()
	})
	defer stop()
	mr.mu.Lock()
	defer mr.mu.Unlock()
	for mr.floor < seq && !(mr.seen >= seq && len(mr.order) == 0) {
		if err := ctx.Err(); err != nil {
			return err
		}
		mr.changed.Wait()
	}
	return nil
}

// Run follows the log until ctx is done.
func (mr *ManagerRunner) Run(ctx context.Context) error {
	// dispatch may be waiting for room in the in-flight window; wake it
	// when ctx ends, or a stop would wait for ever.
	stop := context.AfterFunc(ctx, func() {
		mr.mu.Lock()
		mr.changed.Broadcast()
		mr.mu.Unlock()
	})
	defer stop()
	b, ok, err := mr.store.Get(ctx, mr.cursorKey())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("manager %s: load cursor: %w", mr.m.Name, err)
	}
	if ok {
		c, err := strconv.ParseUint(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("manager %s: cursor %q: %w", mr.m.Name, b, err)
		}
		mr.mu.Lock()
		mr.floor, mr.seen = c, c
		mr.changed.Broadcast()
		mr.mu.Unlock()
	}
	var wg sync.WaitGroup
	saved := mr.floor
	save := func() {
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
	var types map[string]bool
	if len(mr.m.Types) > 0 {
		types = make(map[string]bool, len(mr.m.Types))
		for _, t := range mr.m.Types {
			types[t] = true
		}
	}
	err = mr.log.Follow(ctx, mr.m.Filter, mr.floor+1, func(r events.Record) error {
		if types != nil && !types[r.Envelope.Type] {
			return mr.dispatch(ctx, &wg, r.Seq, nil)
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return fmt.Errorf("manager %s: seq %d: %w", mr.m.Name, r.Seq, err)
		}
		return mr.dispatch(ctx, &wg, r.Seq, mr.m.React(r, e))
	})
	mr.mu.Lock()
	mr.changed.Broadcast()
	mr.mu.Unlock()
	wg.Wait()
	save()
	if ctx.Err() != nil {
		return nil
	}
	return err
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
			mr.changed.Broadcast()
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
			q = &targetQueue{}
			mr.targets[key] = q
		}
		q.items = append(q.items, item{seq: seq, r: r})
		if !running {
			wg.Add(1)
			go mr.work(ctx, wg, key, q)
		}
	}
	return nil
}

// work delivers one target's reactions in order. Up to PipelineMax are in
// the actor's mailbox at once, so that the actor can append them as one
// batch; answers are read in order. On a retryable failure the actor has
// fenced this manager (or the answer timed out, and the mailbox still keeps
// the order): the worker collects the remaining answers, resumes the actor
// and resends from the first command not accepted.
func (mr *ManagerRunner) work(ctx context.Context, wg *sync.WaitGroup, key string, q *targetQueue) {
	defer wg.Done()
	backoff := 10 * time.Millisecond
	for {
		mr.mu.Lock()
		n := min(len(q.items), max(mr.PipelineMax, 1))
		if n == 0 {
			delete(mr.targets, key)
			mr.mu.Unlock()
			return
		}
		batch := append([]item(nil), q.items[:n]...)
		mr.mu.Unlock()
		done, failed := mr.deliver(ctx, batch)
		mr.mu.Lock()
		for _, it := range batch[:done] {
			mr.complete(it.seq)
		}
		q.items = q.items[done:]
		mr.mu.Unlock()
		if ctx.Err() != nil {
			return // shutting down; the cursor stays below what is not done
		}
		if !failed {
			backoff = 10 * time.Millisecond
			continue
		}
		it := batch[done]
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

// deliver sends the batch to its target and reads the answers in order. It
// returns how many leading commands are done (accepted, or rejected for
// good) and whether a retryable failure stopped it there.
func (mr *ManagerRunner) deliver(ctx context.Context, batch []item) (int, bool) {
	answers := make([]<-chan reply, 0, len(batch))
	var sendErr error
	for _, it := range batch {
		ch, err := mr.host.send(it.r.Kind, it.r.ID, Request{Command: it.r.Command, Manager: mr.m.Name})
		if err != nil {
			sendErr = err
			break
		}
		answers = append(answers, ch)
	}
	done, failed := 0, false
	for i, ch := range answers {
		if failed {
			_, _ = mr.host.answer(ctx, ch, batch[i].r.Kind, batch[i].r.ID) // drain: the resend follows the resume
			continue
		}
		_, err := mr.host.answer(ctx, ch, batch[i].r.Kind, batch[i].r.ID)
		switch {
		case err == nil:
			done++
		case ctx.Err() != nil:
			return done, false
		case errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict):
			failed = true
		default:
			// A rejection is final: retrying cannot change it. It means the
			// rules let an event oblige something impossible; log loudly.
			it := batch[i]
			mr.logger.Error("manager: reaction rejected", "manager", mr.m.Name, "seq", it.seq,
				"kind", it.r.Kind, "id", it.r.ID, "command", fmt.Sprintf("%T", it.r.Command), "err", err)
			done++
		}
	}
	if sendErr != nil && !failed && done == len(answers) {
		if !errors.Is(sendErr, ErrUnavailable) {
			it := batch[done]
			mr.logger.Error("manager: reaction cannot be sent", "manager", mr.m.Name, "seq", it.seq,
				"kind", it.r.Kind, "id", it.r.ID, "err", sendErr)
		}
		failed = true
	}
	return done, failed
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
	mr.changed.Broadcast()
}
