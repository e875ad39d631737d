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
	// CauseCPU: the program reached its CPU time (SIGXCPU, then SIGKILL).
	CauseCPU Cause = "cpu"
	// CauseMemory: the program ended abnormally at its memory limit (see
	// MemoryNearPercent).
	CauseMemory Cause = "memory"
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
	// CPU is the user and system time of the program and every process it
	// started and waited for (with bwrap: every process of the sandbox).
	CPU time.Duration
	// MemoryPeakBytes is the largest resident set any one of its processes
	// reached (rusage maxrss).
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
)

// ending is what the supervisor observed, the input of classify.
type ending struct {
	stopped         stop
	exitCode        int
	signal          syscall.Signal
	cpu             time.Duration
	memoryPeakBytes int64
}

// classify names the cause of an ending, in this order:
//   - the supervisor's own kill (deadline, or the caller's stop) comes first:
//     whatever the program was doing, that is why it stopped;
//   - death by SIGXCPU or SIGKILL after at least CPUNearPercent of the CPU
//     limit is cpu: the kernel sends exactly these at the soft and hard
//     RLIMIT_CPU;
//   - an abnormal end (non-zero exit or any signal) with a peak resident
//     size of at least MemoryNearPercent of the limit is memory;
//   - anything else is exited, with its exit code.
func classify(e ending, sp Spec) Cause {
	switch e.stopped {
	case stopDeadline:
		return CauseDeadline
	case stopCaller:
		return CauseKilled
	}
	cpuLimit := time.Duration(sp.CPUSeconds) * time.Second
	if (e.signal == syscall.SIGXCPU || e.signal == syscall.SIGKILL) && e.cpu*100 >= cpuLimit*CPUNearPercent {
		return CauseCPU
	}
	abnormal := e.exitCode != 0 || e.signal != 0
	if abnormal && e.memoryPeakBytes*100 >= sp.memoryBytes()*MemoryNearPercent {
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
