package projections

import (
	"errors"

	"github.com/agora-econ/agora/events"
)

// ErrNilDependency is returned by NewRunner when it is given no log or no
// projection: a runner without either would fail later, far from the wiring
// mistake that caused it.
var ErrNilDependency = errors.New("nil dependency")

// ErrUnknownSchema is the cause of a record whose event schema is newer
// than this binary understands (events.ErrUnknownSchema): its payload may
// carry money in fields the decoder would silently drop, so every follower
// skips it rather than fold a guess.
var ErrUnknownSchema = events.ErrUnknownSchema

// errRebuilt tells a reader that a Rebuild replaced the view under it: the
// cursor it started from no longer describes the view, so it must start
// again from the runner's new last sequence.
var errRebuilt = errors.New("projection rebuilt")
