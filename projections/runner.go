// Package projections feeds read models from the event log. A read model is
// a deterministic fold of the records it is given; the Runner here decides
// which records, in which order, and how far the fold has got, so that each
// read model only has to say what one record means to it.
package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/agora-econ/agora/events"
)

// Filter is the subject filter every runner reads: the whole stream. A view
// sees every record, even those it ignores, so that LastSeq is the stream
// sequence a writer got back from Append and WaitFor can be given it as is.
const Filter = events.SubjectRoot + ".>"

// Projection is a read model the Runner feeds.
type Projection interface {
	// Apply folds one record into the view, under the view's own write lock,
	// so that readers never see half a record. It is called once per record,
	// in stream order. An error stops the view at the record before: a read
	// model that cannot account for a record must not pretend it did.
	Apply(events.Record) error
	// Reset empties the view before a rebuild from sequence 1.
	Reset()
}

// Skipper is a Projection that is told of the records the runner skips
// without applying them (they are not sound events, or the runner's
// admission refused them): the economy fold lists them. Skip is called
// under the same lock as Apply, in stream order.
type Skipper interface {
	Skip(rec events.Record, why error)
}

// Runner feeds one Projection from a Log and tracks the stream sequence of
// the last record it applied. Run, CatchUp, Rebuild and WaitFor may be
// called from any goroutines at once: records are applied one at a time, in
// order, and each exactly once.
type Runner struct {
	log  events.Log
	view Projection
	// admitted, when set, is asked before each record is applied: a
	// *events.BadRecord skips it (see AdmitWith).
	admitted func(events.Record) error

	// applyMu makes applying a record, and a whole Rebuild, one step. Two
	// readers (Run and CatchUp) may both deliver a record; the second one
	// sees it at or below lastSeq and skips it.
	applyMu sync.Mutex
	gen     uint64 // bumped by Rebuild; guarded by applyMu
	lastSeq atomic.Uint64

	mu     sync.Mutex    // guards waitCh and err
	waitCh chan struct{} // closed when lastSeq advances; nil when no one waits
	err    error         // why the view stopped; cleared by Rebuild
}

// NewRunner returns a runner for view over log, starting before sequence 1.
func NewRunner(log events.Log, view Projection) (*Runner, error) {
	if log == nil || view == nil {
		return nil, fmt.Errorf("projections: %w: a runner needs a log and a projection", ErrNilDependency)
	}
	return &Runner{log: log, view: view}, nil
}

// AdmitWith makes the runner ask fn about each record before applying it:
// a *events.BadRecord (a record whose actor does not admit its event) is
// skipped like a record that does not decode. A read model cannot tell an
// overspend from a payment by itself; the economy fold, which folds every
// actor with its own Admit, can. Call it before the runner runs.
func (r *Runner) AdmitWith(fn func(events.Record) error) { r.admitted = fn }

// LastSeq is the stream sequence of the last record applied (0: none yet).
func (r *Runner) LastSeq() uint64 { return r.lastSeq.Load() }

// Err is the error that stopped the view, or nil while it is healthy. A
// stopped view keeps serving what it applied before the failing record.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Run applies records as they are appended, until ctx is done (it then
// returns nil: stopping is not a failure), the log fails, or a record cannot
// be applied (the view stays stopped; see Err). It follows the log for this
// view alone, from sequence 1; a composition root with several views puts
// them in a Group instead, on the follow.Follower of its other followers.
func (r *Runner) Run(ctx context.Context) error {
	return RunGroup(ctx, r.log, soleGroup(r))
}

// CatchUp applies every record present when it is called and returns. It
// serves one-shot commands that read the log directly and have no running
// view to ask.
func (r *Runner) CatchUp(ctx context.Context) error {
	return r.read(ctx, r.log.Read)
}

// Rebuild empties the view and applies the log again from sequence 1, up to
// the end present when it is called; Run, if running, carries on from there.
// Applying is held for the whole rebuild, so readers see the view grow back
// from empty but never a mix of old and new. If ctx ends first, the view
// holds a prefix of the log and Run or CatchUp carry on from its end. It also
// clears a stopped view's error, so that a view can be retried once the cause
// is fixed.
func (r *Runner) Rebuild(ctx context.Context) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.gen++
	r.view.Reset()
	r.lastSeq.Store(0)
	r.setErr(nil)
	return r.log.Read(ctx, Filter, 1, r.applyLocked)
}

// WaitFor returns once the view has applied the record with stream sequence
// seq, so that a caller that has just appended it reads its own write. It
// returns early with the view's error if the view stops, or with ctx's.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		// lastSeq is stored before the lock is taken in advance, so a
		// record applied after this check closes the channel made here.
		if r.lastSeq.Load() >= seq {
			r.mu.Unlock()
			return nil
		}
		if r.err != nil {
			err := r.err
			r.mu.Unlock()
			return err
		}
		if r.waitCh == nil {
			r.waitCh = make(chan struct{})
		}
		ch := r.waitCh
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// read delivers records from the log to the view, starting after the last
// applied one, and starts again when a Rebuild moved that point under it.
func (r *Runner) read(ctx context.Context, scan func(context.Context, string, uint64, func(events.Record) error) error) error {
	for {
		if err := r.Err(); err != nil {
			return err
		}
		r.applyMu.Lock()
		gen, from := r.gen, r.lastSeq.Load()+1
		r.applyMu.Unlock()
		err := scan(ctx, Filter, from, func(rec events.Record) error {
			r.applyMu.Lock()
			defer r.applyMu.Unlock()
			if r.gen != gen {
				return errRebuilt
			}
			return r.applyLocked(rec)
		})
		if !errors.Is(err, errRebuilt) {
			return err
		}
	}
}

// applyLocked applies one record; applyMu is held.
func (r *Runner) applyLocked(rec events.Record) error {
	if err := r.Err(); err != nil {
		return err
	}
	if rec.Seq <= r.lastSeq.Load() {
		return nil // already applied, delivered again by a second reader
	}
	// A record that is not a sound event (events.Check), or that the view
	// or the admission finds not to be a fact (an *events.BadRecord), is
	// skipped: it is no fact of the economy for any follower, and stopping
	// here would stop the view at every start.
	err := events.Check(rec)
	if err == nil && r.admitted != nil {
		err = r.admitted(rec)
	}
	if err != nil {
		if s, ok := r.view.(Skipper); ok {
			s.Skip(rec, err)
		}
	} else {
		err = r.view.Apply(rec)
	}
	if errors.Is(err, events.ErrBadRecord) {
		r.advance(rec.Seq)
		return nil
	}
	if err != nil {
		err = fmt.Errorf("projection stopped at sequence %d (%s %s): %w",
			rec.Seq, rec.Envelope.Type, rec.Envelope.ID, err)
		r.setErr(err)
		return err
	}
	r.advance(rec.Seq)
	return nil
}

// advance records seq as applied and wakes the waiters.
func (r *Runner) advance(seq uint64) {
	r.lastSeq.Store(seq)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waitCh != nil {
		close(r.waitCh)
		r.waitCh = nil
	}
}

// setErr records why the view stopped (nil: it runs again) and wakes the
// waiters, who would otherwise wait for a sequence that will never come.
func (r *Runner) setErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
	if err != nil && r.waitCh != nil {
		close(r.waitCh)
		r.waitCh = nil
	}
}
