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
	React  func(r events.Record, e events.Event) []Reaction
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
	mr := &ManagerRunner{m: m, host: host, log: log, store: store, logger: logger, InFlightMax: 4096,
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
	err = mr.log.Follow(ctx, mr.m.Filter, mr.floor+1, func(r events.Record) error {
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

// work delivers one target's reactions in order, one at a time.
func (mr *ManagerRunner) work(ctx context.Context, wg *sync.WaitGroup, key string, q *targetQueue) {
	defer wg.Done()
	for {
		mr.mu.Lock()
		if len(q.items) == 0 {
			delete(mr.targets, key)
			mr.mu.Unlock()
			return
		}
		it := q.items[0]
		mr.mu.Unlock()
		if !mr.deliver(ctx, it) {
			return // shutting down; the cursor stays below this item
		}
		mr.mu.Lock()
		q.items = q.items[1:]
		mr.complete(it.seq)
		mr.mu.Unlock()
	}
}

// deliver sends one reaction until it is accepted; false when ctx ends
// first.
func (mr *ManagerRunner) deliver(ctx context.Context, it item) bool {
	backoff := 10 * time.Millisecond
	for {
		_, err := mr.host.Ask(ctx, it.r.Kind, it.r.ID, Request{Command: it.r.Command})
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrConflict) && ctx.Err() == nil {
			// A rejection is final: retrying cannot change it. It means the
			// rules let an event oblige something impossible; log loudly.
			mr.logger.Error("manager: reaction rejected", "manager", mr.m.Name, "seq", it.seq,
				"kind", it.r.Kind, "id", it.r.ID, "command", fmt.Sprintf("%T", it.r.Command), "err", err)
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
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
	mr.changed.Broadcast()
}
