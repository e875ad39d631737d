package projections

import (
	"fmt"
	"time"
)

// soleGroup is a group of runners with no store: what Runner.Run follows
// the log with.
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
