package work

import "errors"

// Errors of the work queue.
var (
	// ErrInvalidOrder: an order without valid agent and execution ids, a
	// positive attempt or a positive timeout. A worker terminates such an
	// order (it would fail the same way everywhere).
	ErrInvalidOrder = errors.New("invalid execution order")
	// ErrNoQueue: the queue's stream, its consumer or the workspaces'
	// bucket does not exist yet (the economy creates them at its start).
	ErrNoQueue = errors.New("no work queue")
	// ErrWorkspaceArchive: a workspace's tar holds an entry that is not a
	// regular file or directory, a path that is not a valid workspace
	// path, or more than WorkspaceBytesMax.
	ErrWorkspaceArchive = errors.New("invalid workspace archive")
)
