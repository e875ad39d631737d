package executor

import "time"

// Limits of the executor and of a workspace, in one place.
const (
	// ConcurrentMaxDefault bounds the programs running at once when the
	// configuration names no bound. Executions of one agent never overlap
	// (they share its workspace); those of different agents run side by
	// side up to this bound.
	ConcurrentMaxDefault = 16
	// ProcessesDefault bounds the processes and threads of one program
	// when the configuration names no bound: enough for a Python program
	// and a few helpers, not for a fork bomb.
	ProcessesDefault = 64
	// WorkspaceMBDefault is the disk quota of a workspace when the
	// configuration names none (execution.workspace_mb).
	WorkspaceMBDefault = 256
	// LeaseMarginMin is the least time an execution's lease must still
	// have when its program starts; the program's deadline is never later
	// than the lease's end minus this margin, so a program never runs
	// without its lease (SPEC.md 1.3: units are leased until the execution
	// ends). An allocation with less left is skipped: the next cycle
	// releases its lease.
	LeaseMarginMin = 2 * time.Second
	// DeadlineGrace is how long past its deadline a program's context is
	// cancelled too, should the runner not enforce the deadline itself.
	DeadlineGrace = 10 * time.Second
	// RecordTimeout bounds recording an end at shutdown, when the run's
	// own context is over.
	RecordTimeout = 10 * time.Second
	// RecoverParallelMax bounds the accounts read at once when the
	// executor looks for executions a crash interrupted.
	RecoverParallelMax = 16
	// AttemptsMax bounds the runs of one execution's program: its start,
	// then a run again at each start-up after a stop or a crash cut it
	// short (SPEC.md 1.4). A program that brings the host down every time
	// must not loop for ever: past the bound its execution ends as
	// interrupted and "no bid, no future" judges its agent.
	AttemptsMax = 3
	// CursorSaveInterval is how often the follower's cursor is saved.
	CursorSaveInterval = 200 * time.Millisecond
)

// Limits of a workspace created from files (SPEC.md 1.7: a spawned
// program is files and a command).
const (
	// FilesPerWorkspaceMax bounds the files of a new workspace.
	FilesPerWorkspaceMax = 256
	// FileBytesMax bounds one file.
	FileBytesMax = 1 << 20
	// WorkspaceBytesMax bounds all the files of a new workspace together.
	WorkspaceBytesMax = 8 << 20
	// PathBytesMax bounds a file's path inside the workspace.
	PathBytesMax = 255
	// PathDepthMax bounds the directories of a file's path.
	PathDepthMax = 16
)
