package sandbox

import "errors"

// Errors of the sandbox. Run returns one of them, wrapped with the detail,
// when no Result can describe what happened: the program did not start, or
// the sandbox itself broke. Whatever the program does is a Result, never an
// error.
var (
	// ErrInvalidSpec: a field of the Spec is missing or out of bounds;
	// nothing was started and the workspace was not touched.
	ErrInvalidSpec = errors.New("invalid sandbox spec")
	// ErrInvalidOption: an option given to New is out of bounds.
	ErrInvalidOption = errors.New("invalid sandbox option")
	// ErrWorkspace: the workspace is missing, not a directory, or cannot be
	// handed to the sandbox user; the program would have nowhere to run.
	ErrWorkspace = errors.New("workspace unusable")
	// ErrSocket: the service socket is missing or not a Unix socket, so the
	// program could not reach the System Service; starting it would waste
	// the execution the agent paid for.
	ErrSocket = errors.New("service socket unusable")
	// ErrSocketAccess: the sandbox users may not connect to the service
	// socket (they need write permission on it). GrantSocket fixes it.
	ErrSocketAccess = errors.New("service socket not writable by the sandbox users")
	// ErrToolMissing: sh, unshare or setpriv (dash and util-linux, on every
	// Debian) is not installed; without them the program cannot be started
	// as the sandbox user, or without bwrap at all.
	ErrToolMissing = errors.New("sandbox tool missing")
	// ErrSandboxFailed: the sandbox could not be built (bwrap failed before
	// the program started) or its supervision failed. It is not the
	// program's doing, so it is not a Result the agent should pay for.
	ErrSandboxFailed = errors.New("sandbox failed")
	// ErrProbeFailed: New ran a trivial program and it did not run, with
	// bwrap nor without it; no execution could run on this machine.
	ErrProbeFailed = errors.New("sandbox probe failed")
	// ErrOutputLog: the program ran and its Result is complete, but its
	// output log could not be written into the workspace.
	ErrOutputLog = errors.New("output log not written")
)
