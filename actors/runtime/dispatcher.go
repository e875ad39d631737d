package runtime

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// workersIdleMax bounds the goroutines a host keeps parked for its actors'
// mailboxes; past it a worker whose mailbox is done exits.
const workersIdleMax = 1024

// workers is the dispatcher of a host's actors: it runs each scheduled
// mailbox on a parked goroutine when one is free, else on a new one that
// then parks. protoactor's default starts a goroutine per scheduling, and
// each grew its stack anew through the shell's decide and append: starting
// goroutines and copying stacks was a visible share of every command
// (docs/decisions.md, "The hot path").
type workers struct {
	throughput int
	work       chan func() // unbuffered: a send succeeds only to a parked worker
	quit       chan struct{}
	stopOnce   sync.Once
	idle       atomic.Int32
}

var _ actor.Dispatcher = (*workers)(nil)

func newWorkers(throughput int) *workers {
	return &workers{throughput: throughput, work: make(chan func()), quit: make(chan struct{})}
}

// Schedule runs fn (a mailbox's run) on a worker.
func (w *workers) Schedule(fn func()) {
	select {
	case w.work <- fn:
	default:
		go w.run(fn)
	}
}

// Throughput is how many messages a mailbox handles before it yields.
func (w *workers) Throughput() int { return w.throughput }

func (w *workers) run(fn func()) {
	for {
		fn()
		if w.idle.Add(1) > workersIdleMax {
			w.idle.Add(-1)
			return
		}
		select {
		case fn = <-w.work:
			w.idle.Add(-1)
		case <-w.quit:
			w.idle.Add(-1)
			return
		}
	}
}

// stop ends the parked workers; a mailbox scheduled later still runs, on
// a goroutine that then exits.
func (w *workers) stop() { w.stopOnce.Do(func() { close(w.quit) }) }
