package sandbox

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The envelope is applied by the executor with prlimit(2) to the sandbox's
// first process (bwrap's init, or the fallback's subshell) while that
// process waits on releaseFd, before it has started the program: every
// process of the program inherits the limits from it, so they hold from
// the program's first instruction, and no process of the program can
// exist without them. Setting them from outside costs no exec inside the
// sandbox (prlimit(1) there would cost a tenth of the sandbox).

// rlimit is one limit to set, soft and hard.
type rlimit struct {
	resource   int
	name       string
	soft, hard uint64
}

// rlimits are the envelope of sp as rlimits; nproc is the process limit
// as the kernel will count it (see processLimit).
func rlimits(sp Spec, nproc int) []rlimit {
	cpu, mem, disk := uint64(sp.CPUSeconds), uint64(sp.memoryBytes()), uint64(sp.workspaceBytes())
	return []rlimit{
		{unix.RLIMIT_CPU, "cpu", cpu, cpu + CPUGraceSeconds},
		{unix.RLIMIT_DATA, "data", mem, mem},
		// No single file may be larger than the workspace quota, which
		// is otherwise measured between intervals (disk.go).
		{unix.RLIMIT_FSIZE, "fsize", disk, disk},
		{unix.RLIMIT_NPROC, "nproc", uint64(nproc), uint64(nproc)},
		// A core dump of a killed program would land in the workspace.
		{unix.RLIMIT_CORE, "core", 0, 0},
	}
}

// processLimit is RLIMIT_NPROC for a program that may have sp.Processes
// processes and threads. The kernel counts every task of the program's
// user in its user namespace:
//   - with bwrap and not root, bwrap's init runs as that user in the
//     sandbox's own user namespace: one more;
//   - as root, the program runs as a sandbox uid of its own, and init as
//     root, which is not counted;
//   - without bwrap and not root, the program runs as the executor's own
//     user: every task that user already has (see tasksOf).
func processLimit(sp Spec, u user, isolated bool) (int, error) {
	switch {
	case u.switched:
		return sp.Processes, nil
	case isolated:
		return sp.Processes + 1, nil
	}
	n, err := tasksOf(u.uid)
	if err != nil {
		return 0, fmt.Errorf("%w: count processes: %w", ErrSandboxFailed, err)
	}
	return sp.Processes + n, nil
}

// applyLimits sets the limits on pid, lowering only.
func applyLimits(pid int, limits []rlimit) error {
	for _, l := range limits {
		if err := unix.Prlimit(pid, l.resource, &unix.Rlimit{Cur: l.soft, Max: l.hard}, nil); err != nil {
			return fmt.Errorf("%w: set RLIMIT_%s of %d: %w", ErrSandboxFailed, l.name, pid, err)
		}
	}
	return nil
}
