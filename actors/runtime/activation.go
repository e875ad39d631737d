package runtime

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/events"
)

// An actor is awake only while it has work: it is started when a message
// for it arrives (it recovers from its snapshot and the events after it),
// and put to sleep once it has had none for Options.IdleTimeout. A
// sleeping actor costs the host nothing: its pid, mailbox, state and
// cell are gone, and the next message wakes a fresh one. The memory of a
// long-running economy then follows the actors at work, not every actor
// ever created.
//
// Putting an actor to sleep races with the messages sent to it. The gate
// of its activation decides each race: a sender posts to the mailbox with
// the gate read-locked and only while the activation is not closing; the
// actor closes it write-locked, and only with its mailbox empty. So a
// message either reaches the old actor before it stops (which then does
// not stop) or finds the activation closing, waits until the old actor has
// stopped and is forgotten, and wakes a fresh one: never a dead letter,
// never two actors of one id at once.

// activation is one awake actor.
type activation struct {
	key     actorKey
	pid     *actor.PID
	cell    *cell
	mailbox *mailboxRef
	// gate orders posts against closing (above).
	gate    sync.RWMutex
	closing bool // guarded by gate
	// done is closed once the actor has stopped and the host has
	// forgotten it: a sender that found it closing wakes a fresh one then.
	done chan struct{}
	// seen is the host's idle tick at the last message posted to it.
	seen atomic.Uint32
}

// post puts msg in the actor's mailbox unless the activation is closing
// (false: wait for done, then activate again). A post marks the actor as
// having work at tick.
func (a *activation) post(system *actor.ActorSystem, msg any, tick uint32) bool {
	a.gate.RLock()
	defer a.gate.RUnlock()
	if a.closing {
		return false
	}
	if a.seen.Load() != tick {
		a.seen.Store(tick)
	}
	system.Root.Send(a.pid, msg)
	return true
}

// sleep asks an actor to stop if it is still idle; it is sent by the
// host's sweep, which does not count it as work.
type sleep struct{}

// sleepable is what the host asks of an actor before it puts it to
// sleep: whether nothing is in flight, nothing decided waits to be
// durable, and no follower waits on its admissions.
type sleepable interface {
	actor.Actor
	quiet() bool
}

// sleeper wraps an actor (a shell) to put it to sleep when the host's
// sweep finds it idle, and to tell the host once it has stopped.
type sleeper struct {
	inner sleepable
	act   *activation
	host  *Host
}

func (w *sleeper) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case sleep:
		w.trySleep(ctx)
		return
	case *actor.Stopped:
		w.inner.Receive(ctx)
		w.host.forget(w.act)
		close(w.act.done)
		return
	}
	w.inner.Receive(ctx)
}

// trySleep stops the actor if it has had no work for the idle timeout,
// is quiet, and nothing waits in its mailbox. The mailbox is looked at
// with the gate closed to senders, so that a message posted meanwhile
// keeps the actor awake.
func (w *sleeper) trySleep(ctx actor.Context) {
	a := w.act
	if !w.host.idleFor(a) || !w.inner.quiet() {
		return
	}
	a.gate.Lock()
	if a.mailbox.waiting() > 0 || !w.host.idleFor(a) {
		a.gate.Unlock()
		return
	}
	a.closing = true
	a.gate.Unlock()
	ctx.Stop(ctx.Self())
}

// quiet reports whether the shell may be put to sleep: everything it
// decided is durable and answered, and no follower waits for it to reach
// a record (cell.await), and the machine holds no input for a recovery
// or catch-up it asked for.
func (s *shell[S, C]) quiet() bool {
	return s.m.idle() && len(s.m.held) == 0 && !s.closeNow && !s.cell.awaited()
}

// awaited reports whether a follower waits on the cell.
func (c *cell) awaited() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters) > 0
}

// idleTicks is how many sweeps an actor must go without a message before
// it is put to sleep: the sweep runs every IdleTimeout/(idleTicks-1), so
// an actor sleeps between IdleTimeout and 1.25 x IdleTimeout after its
// last message.
const idleTicks = 5

// idleFor reports whether a has had no message for the idle timeout.
func (h *Host) idleFor(a *activation) bool {
	return h.ticks.Load()-a.seen.Load() >= idleTicks
}

// sweep puts to sleep, every IdleTimeout/(idleTicks-1), the actors that
// had no message for IdleTimeout, until stop is closed.
func (h *Host) sweep(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	var due []*activation
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		h.ticks.Add(1)
		h.mu.RLock()
		for _, a := range h.acts {
			if h.idleFor(a) {
				due = append(due, a)
			}
		}
		h.mu.RUnlock()
		for i, a := range due {
			a.gate.RLock()
			if !a.closing {
				h.system.Root.Send(a.pid, sleep{})
			}
			a.gate.RUnlock()
			due[i] = nil
		}
		due = due[:0]
	}
}

// forget drops a stopped actor from the host: the next message for its id
// starts a fresh one.
func (h *Host) forget(a *activation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.acts[a.key] == a {
		delete(h.acts, a.key)
		delete(h.cells, a.key)
	}
}

// Awake is the number of actors awake (started and not yet asleep): what
// the host holds in memory.
func (h *Host) Awake() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.acts)
}

// Woken is the number of times an actor was started (woken) since the host
// began: an actor put to sleep and woken again counts twice.
func (h *Host) Woken() uint64 { return h.woken.Load() }

// IsAwake reports whether actor (kind, id) is awake.
func (h *Host) IsAwake(kind events.Kind, id string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	_, ok := h.acts[actorKey{kind, id}]
	return ok
}
