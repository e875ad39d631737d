package sandbox

import "time"

// Bounds of a Spec. They only refuse nonsense (a typo of a few zeros); the
// economy's markets decide the real envelope of each execution.
const (
	// CPUSecondsMax bounds Spec.CPUSeconds: a day of CPU.
	CPUSecondsMax = 24 * 3600
	// MemoryMBMax bounds Spec.MemoryMB: 1 TiB.
	MemoryMBMax = 1 << 20
	// WorkspaceMBMax bounds Spec.WorkspaceMB: 1 TiB.
	WorkspaceMBMax = 1 << 20
	// ProcessesMax bounds Spec.Processes.
	ProcessesMax = 1 << 16
	// TimeoutMax bounds Spec.Timeout.
	TimeoutMax = 24 * time.Hour
	// CommandArgsMax and EnvBytesMax bound the command line and the
	// environment, far below the kernel's own limit on execve.
	CommandArgsMax = 1024
	EnvBytesMax    = 256 << 10
)

// How limits are applied and causes told apart.
const (
	// CPUGraceSeconds separate the soft CPU limit (SIGXCPU, which a program
	// may catch to save its state) from the hard one (SIGKILL).
	CPUGraceSeconds = 1
	// MemoryNearPercent: a program that ends abnormally (non-zero exit or a
	// signal) with a peak resident size of at least this share of its
	// memory limit is taken to have run out of memory. A refused
	// allocation is an ordinary error to a program (Python raises
	// MemoryError and exits 1), so the exit alone cannot say it.
	MemoryNearPercent = 75
	// CPUNearPercent: a death by SIGXCPU or SIGKILL is the CPU limit's
	// when the program used at least this share of its CPU seconds. The
	// kernel checks RLIMIT_CPU against its tick-sampled CPU time, which runs
	// ahead of the precise time rusage reports, the more so on a busy
	// machine (by 5 to 10% on the one this was written on), so "at least
	// the limit" would miss real CPU kills. The share only keeps a stray
	// SIGKILL (the OOM killer, an operator) to a program far from its limit
	// from being taken for one.
	CPUNearPercent = 50
	// envelopeCheckInterval is how often the whole execution's CPU time,
	// memory and workspace are looked at while it runs. With the CPU
	// killed at the next look past the limit, a program may overrun its
	// CPU seconds by this interval times the cores it keeps busy.
	envelopeCheckInterval = 50 * time.Millisecond
)

// The program's output.
const (
	// OutputTailBytesMax is how much of the end of the program's stdout and
	// stderr (merged, in order) is kept in OutputLogPath.
	OutputTailBytesMax = 64 << 10
	// OutputLogPath is where, relative to the workspace, the tail of the
	// output of the last execution is written (replaced each time).
	OutputLogPath = ".agora/output.log"
	// outputDrainTimeout bounds the wait for the end of the output once the
	// program is reaped: a process that escaped the sandbox's kill (possible
	// only without bwrap) must not hold the execution open.
	outputDrainTimeout = 2 * time.Second
)

// The sandbox's view of the world.
const (
	// WorkspaceMountPath is where the workspace appears inside bwrap.
	WorkspaceMountPath = "/workspace"
	// ServiceSocketPath is where the service socket appears inside bwrap,
	// so AGORA_URL can be unix:///run/agora.sock whatever the host path.
	ServiceSocketPath = "/run/agora.sock"
	// SandboxPATH is the program's PATH: the system runtime only, never an
	// operator's shims (pyenv, asdf) from a home directory it cannot see.
	SandboxPATH = "/usr/local/bin:/usr/bin:/bin"
)

// Sandbox users, when the executor runs as root.
const (
	// UIDFirstDefault is the first host uid given to sandboxed programs,
	// in a range no distribution, systemd or subuid allocation uses.
	UIDFirstDefault = 1_900_000_000
	// UIDsDefault is how many such uids there are: each execution running
	// at once has its own, so the kernel counts processes per execution.
	// It is also the most executions that run at once.
	UIDsDefault = 1024
	// UIDsMax bounds the range an option may ask for.
	UIDsMax = 1 << 20
)

// probeTimeout bounds the trivial run New makes to check the sandbox.
const probeTimeout = 30 * time.Second
