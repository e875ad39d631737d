package sandbox

import (
	"fmt"
	"syscall"
	"time"
)

// Cause is why an execution ended. The values are stable: they go into
// events.
type Cause string

const (
	// CauseExited: the program ended by itself (any exit code) or died of a
	// signal that is not one of the causes below.
	CauseExited Cause = "exited"
	// CauseCPU: the execution reached its CPU time, summed over all its
	// processes (SIGXCPU, then SIGKILL).
	CauseCPU Cause = "cpu"
	// CauseMemory: the execution reached its memory limit, summed over all
	// its processes (the kernel killed one of them, or it ended abnormally
	// near the limit: see MemoryNearPercent).
	CauseMemory Cause = "memory"
	// CauseDisk: the workspace grew over its quota (Spec.WorkspaceMB), or
	// a file reached it (SIGXFSZ).
	CauseDisk Cause = "disk"
	// CauseFailed: the program could not be started: its command was not
	// found, or could not be executed. Nothing of it ran.
	CauseFailed Cause = "failed"
	// CauseDeadline: the wall-clock deadline came first; every process of
	// the program was killed.
	CauseDeadline Cause = "deadline"
	// CauseKilled: the caller stopped the execution (its context ended).
	CauseKilled Cause = "killed"
	// CauseInterrupted: the executor itself died during the execution. Run
	// never returns it; crash recovery records it for executions that were
	// running when the process went away.
	CauseInterrupted Cause = "interrupted"
)

// Result is how one execution ended.
type Result struct {
	Cause Cause
	// ExitCode is the program's exit status, or 128+n when it died of
	// signal n (the shell's convention, and all bwrap can report).
	ExitCode int
	// Signal is the signal the program died of, or 0.
	Signal syscall.Signal
	// CPU is the user and system time of every process of the execution,
	// together (from its control group; see doc.go for the fallback).
	CPU time.Duration
	// MemoryPeakBytes is the most memory the execution's processes held
	// at once, together (the group's peak, which counts shared memory and
	// the page cache of the files it wrote), and at least the largest
	// resident set one of them reached.
	MemoryPeakBytes int64
	// Wall runs from the start of the sandbox to the reaping of the
	// program.
	Wall time.Duration
	// OutputBytes counts everything the program wrote to stdout and
	// stderr; only the last OutputTailBytesMax are kept.
	OutputBytes int64
}

// String is the one-line summary written at the end of the output log.
func (r Result) String() string {
	s := fmt.Sprintf("cause=%s exit_code=%d", r.Cause, r.ExitCode)
	if r.Signal != 0 {
		s += fmt.Sprintf(" signal=%d(%s)", int(r.Signal), r.Signal)
	}
	return s + fmt.Sprintf(" cpu_seconds=%.3f memory_peak_mb=%.1f wall_seconds=%.3f output_bytes=%d",
		r.CPU.Seconds(), float64(r.MemoryPeakBytes)/(1<<20), r.Wall.Seconds(), r.OutputBytes)
}

// stop is why the supervisor killed the program, if it did.
type stop int

const (
	stopNone stop = iota
	stopDeadline
	stopCaller
	// The whole execution went over its envelope (see watch).
	stopCPU
	stopMemory
	stopDisk
)

// ending is what the supervisor observed, the input of classify.
type ending struct {
	stopped  stop
	exitCode int
	signal   syscall.Signal
	// neverStarted: the command could not be executed (see
	// launcherFailed).
	neverStarted bool
	cpu          time.Duration
	// processPeakBytes is the largest resident set of one process
	// (rusage).
	processPeakBytes int64
	// oomKilled: the kernel killed a process of the execution at its
	// memory limit (or, without a control group, the execution's memory
	// was seen over it).
	oomKilled bool
	// overDisk: the workspace was over its quota once the program ended.
	overDisk bool
}

// classify names the cause of an ending, in this order:
//   - the supervisor's own kill (deadline, the caller's stop, or the whole
//     execution over its CPU, memory or disk) comes first: whatever the
//     program was doing, that is why it stopped;
//   - a command that could not be executed is failed;
//   - a process killed by the kernel at the execution's memory limit is
//     memory, whichever process it was and however the program ended;
//   - a workspace over its quota at the end, or a death by SIGXFSZ (a file
//     at RLIMIT_FSIZE), is disk;
//   - death by SIGXCPU or SIGKILL after at least CPUNearPercent of the CPU
//     limit is cpu: the supervisor sends exactly these when the
//     execution's CPU time reaches the soft and hard limits, and the
//     kernel when one process reaches RLIMIT_CPU;
//   - an abnormal end (non-zero exit or any signal) with one process's
//     peak resident size at MemoryNearPercent of the limit or more is
//     memory (a refused allocation, RLIMIT_DATA);
//   - anything else is exited, with its exit code.
func classify(e ending, sp Spec) Cause {
	switch e.stopped {
	case stopDeadline:
		return CauseDeadline
	case stopCaller:
		return CauseKilled
	case stopCPU:
		return CauseCPU
	case stopMemory:
		return CauseMemory
	case stopDisk:
		return CauseDisk
	}
	switch {
	case e.neverStarted:
		return CauseFailed
	case e.oomKilled:
		return CauseMemory
	case e.overDisk || e.signal == syscall.SIGXFSZ:
		return CauseDisk
	}
	cpuLimit := time.Duration(sp.CPUSeconds) * time.Second
	if (e.signal == syscall.SIGXCPU || e.signal == syscall.SIGKILL) && e.cpu*100 >= cpuLimit*CPUNearPercent {
		return CauseCPU
	}
	abnormal := e.exitCode != 0 || e.signal != 0
	if abnormal && e.processPeakBytes*100 >= sp.memoryBytes()*MemoryNearPercent {
		return CauseMemory
	}
	return CauseExited
}

// signalOfExitCode reads the shell convention bwrap uses to report a
// death by signal n as exit code 128+n. A program that exits with such a
// code by itself is indistinguishable; classify's CPU and memory checks
// keep that from mattering.
func signalOfExitCode(code int) syscall.Signal {
	if code > 128 && code < 128+65 {
		return syscall.Signal(code - 128)
	}
	return 0
}
