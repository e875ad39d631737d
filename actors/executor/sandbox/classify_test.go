package sandbox

import (
	"syscall"
	"testing"
	"time"
)

// Given what the supervisor observed, then the cause.
func TestClassify(t *testing.T) {
	sp := Spec{CPUSeconds: 10, MemoryMB: 100}
	const mib = 1 << 20
	for _, c := range []struct {
		name string
		e    ending
		want Cause
	}{
		{"clean exit", ending{}, CauseExited},
		{"error exit", ending{exitCode: 2, processPeakBytes: 10 * mib}, CauseExited},
		{"deadline wins over everything", ending{stopped: stopDeadline, signal: syscall.SIGXCPU, cpu: 20 * time.Second}, CauseDeadline},
		{"caller's stop", ending{stopped: stopCaller, signal: syscall.SIGKILL}, CauseKilled},
		{"SIGXCPU at the limit", ending{signal: syscall.SIGXCPU, exitCode: 152, cpu: 10 * time.Second}, CauseCPU},
		{"SIGXCPU a little early by rusage", ending{signal: syscall.SIGXCPU, exitCode: 152, cpu: 9 * time.Second}, CauseCPU},
		{"SIGKILL at the hard limit", ending{signal: syscall.SIGKILL, exitCode: 137, cpu: 11 * time.Second}, CauseCPU},
		{"stray SIGKILL far from the CPU limit", ending{signal: syscall.SIGKILL, exitCode: 137, cpu: time.Second}, CauseExited},
		{"exit 152 by itself, little CPU", ending{signal: syscall.SIGXCPU, exitCode: 152, cpu: time.Second}, CauseExited},
		{"MemoryError near the limit", ending{exitCode: 1, processPeakBytes: 90 * mib}, CauseMemory},
		{"segfault near the limit", ending{signal: syscall.SIGSEGV, exitCode: 139, processPeakBytes: 80 * mib}, CauseMemory},
		{"at MemoryNearPercent exactly", ending{exitCode: 1, processPeakBytes: 100 * mib * MemoryNearPercent / 100}, CauseMemory},
		{"just below MemoryNearPercent", ending{exitCode: 1, processPeakBytes: 100*mib*MemoryNearPercent/100 - 1}, CauseExited},
		{"clean exit near the limit is no failure", ending{processPeakBytes: 99 * mib}, CauseExited},
		{"CPU before memory", ending{signal: syscall.SIGXCPU, cpu: 10 * time.Second, processPeakBytes: 99 * mib}, CauseCPU},
		{"the execution's CPU", ending{stopped: stopCPU, signal: syscall.SIGKILL, cpu: 11 * time.Second}, CauseCPU},
		{"the execution's memory", ending{stopped: stopMemory, signal: syscall.SIGKILL}, CauseMemory},
		{"the execution's disk", ending{stopped: stopDisk, signal: syscall.SIGKILL}, CauseDisk},
		{"deadline before a later look at the disk", ending{stopped: stopDeadline, overDisk: true}, CauseDeadline},
		{"a process killed by the kernel at the group's limit", ending{exitCode: 0, oomKilled: true}, CauseMemory},
		{"the group's OOM before a stray SIGKILL", ending{signal: syscall.SIGKILL, exitCode: 137, oomKilled: true}, CauseMemory},
		{"workspace over its quota at the end", ending{overDisk: true}, CauseDisk},
		{"a file at RLIMIT_FSIZE", ending{signal: syscall.SIGXFSZ, exitCode: 153}, CauseDisk},
		{"never started", ending{exitCode: 127, neverStarted: true}, CauseFailed},
		{"exit 127 by itself", ending{exitCode: 127}, CauseExited},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := classify(c.e, sp); got != c.want {
				t.Errorf("classify(%+v) = %s; want %s", c.e, got, c.want)
			}
		})
	}
}

func TestSignalOfExitCode(t *testing.T) {
	for code, want := range map[int]syscall.Signal{0: 0, 1: 0, 128: 0, 137: syscall.SIGKILL, 152: syscall.SIGXCPU, 192: 64, 193: 0, 255: 0} {
		if got := signalOfExitCode(code); got != want {
			t.Errorf("signalOfExitCode(%d) = %d; want %d", code, got, want)
		}
	}
}
