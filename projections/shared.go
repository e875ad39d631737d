package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/agora-econ/agora/events"
)

// RunShared runs several runners on one follow of the log: each record is
// delivered by the server and parsed once, then applied to every runner in
// turn, where running them apart made the server deliver, and the client
// parse, the whole log once per read model (a minute of catching up for a
// million events with five of them, on two cores).
//
// It follows from the earliest point any runner has reached; a runner
// further on skips what it has applied. It returns when ctx is done (nil),
// the log fails, or a runner cannot apply a record (that runner's error,
// as its Run would return it). A Rebuild of one of the runners meanwhile
// makes it start again from the new earliest point.
func RunShared(ctx context.Context, log events.Log, runners ...*Runner) error {
	if log == nil || len(runners) == 0 {
		return fmt.Errorf("projections: %w: a shared run needs a log and runners", ErrNilDependency)
	}
	for _, r := range runners {
		if r == nil {
			return fmt.Errorf("projections: %w: a nil runner", ErrNilDependency)
		}
	}
	err := followShared(ctx, log, runners)
	if ctx.Err() != nil && firstErr(runners) == nil {
		return nil
	}
	return err
}

func followShared(ctx context.Context, log events.Log, runners []*Runner) error {
	gens := make([]uint64, len(runners))
	for {
		if err := firstErr(runners); err != nil {
			return err
		}
		from := uint64(0)
		for i, r := range runners {
			r.applyMu.Lock()
			gens[i] = r.gen
			next := r.lastSeq.Load() + 1
			r.applyMu.Unlock()
			if from == 0 || next < from {
				from = next
			}
		}
		err := log.Follow(ctx, Filter, from, func(rec events.Record) error {
			for i, r := range runners {
				if err := r.applyShared(rec, gens[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if !errors.Is(err, errRebuilt) {
			return err
		}
	}
}

// applyShared applies rec as part of a shared run that began at
// generation gen.
func (r *Runner) applyShared(rec events.Record, gen uint64) error {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	if r.gen != gen {
		return errRebuilt
	}
	return r.applyLocked(rec)
}

func firstErr(runners []*Runner) error {
	for _, r := range runners {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}
