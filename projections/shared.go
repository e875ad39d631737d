package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/agora-econ/agora/events"
)

// RunShared runs several runners on one follow of the log, with no saved
// position (a Group without a store): each record is delivered by the
// server and parsed once, then applied to every runner in turn, where
// running them apart made the server deliver, and the client parse, the
// whole log once per read model.
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
	g := soleGroup()
	for i, r := range runners {
		if err := g.Add(fmt.Sprintf("view%d", i), r); err != nil {
			return err
		}
	}
	return RunGroup(ctx, log, g)
}

// soleGroup is a group of runners with no store.
func soleGroup(runners ...*Runner) *Group {
	g := &Group{o: GroupOptions{Name: "shared", SnapshotEvery: SnapshotEveryDefault, SnapshotInterval: time.Hour}}
	for i, r := range runners {
		g.names = append(g.names, fmt.Sprintf("view%d", i))
		g.runners = append(g.runners, r)
	}
	return g
}

func firstErr(runners []*Runner) error {
	for _, r := range runners {
		if err := r.Err(); err != nil {
			return err
		}
	}
	return nil
}
