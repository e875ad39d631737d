package runtime

import (
	"context"
	"sync"
	"time"
)

// deadlineStep is how long one context of deadlines serves: every call
// within a step gets the same one, so a wait may last that much longer
// than asked.
const deadlineStep = 100 * time.Millisecond

// deadlines hands out contexts that end a given time after they are asked
// for (up to deadlineStep more). Every append and every ask needs a bound
// on its wait; a context or a timer of its own for each (a timer, a
// channel, a cancellation) would be paid on every event.
type deadlines struct {
	after time.Duration

	mu  sync.Mutex
	ctx context.Context
	// cancel is kept for the vet; a context ends at its deadline anyway,
	// and one handed out may still be in use when the next replaces it.
	cancel context.CancelFunc
	until  time.Time // after it, get makes a new context
}

func newDeadlines(after time.Duration) *deadlines { return &deadlines{after: after} }

// get returns a context that ends between after and after+deadlineStep
// from now.
func (d *deadlines) get() context.Context {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || now.After(d.until) {
		d.ctx, d.cancel = context.WithDeadline(context.Background(), now.Add(d.after+deadlineStep))
		d.until = now.Add(deadlineStep)
	}
	return d.ctx
}
