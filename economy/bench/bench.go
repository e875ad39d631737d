// Package bench measures the economy against the raw limits of what it is
// built on (JetStream appends, protoactor requests) in the same run, on a
// fresh embedded server in a temporary directory, so that every figure is a
// ratio to something measured on the same machine a moment before (SPEC.md
// section 5); and drives load through it (Loader). It uses only the
// exported API of the economy: what it measures is what `agora run` wires.
// The `agora bench` and `agora load` commands give it its flags and print
// its reports.
package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"syscall"
	"time"
)

// profile runs fn under the CPU profiler when path is set.
func profile(path string, fn func() error) (err error) {
	if path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// progressf reports a phase of a long benchmark; w may be nil.
func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, "bench: "+format+"\n", args...)
	}
}

// processCPU is the CPU time this process has used (user and system), the
// embedded server's included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// perEvent is d in microseconds per event.
func perEvent(d time.Duration, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}

// Audited is the economy audit of the log the ledger benchmark built.
func (r LedgerReport) Audited() AuditResult { return r.Audit }

// Audited is the economy audit of the log the restart benchmark built.
func (r RestartReport) Audited() AuditResult { return r.Audit }

// Audited is the economy audit of the log the clearing benchmark built.
func (r ClearingReport) Audited() AuditResult { return r.Audit }
