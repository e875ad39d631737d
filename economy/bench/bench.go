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
	"log/slog"
	"os"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/agora-econ/agora/economy/config"
)

// Common are the parameters every benchmark that builds an economy takes.
type Common struct {
	// Agents is how many agents the economy is given.
	Agents int
	// Concurrency is how many callers drive it at once.
	Concurrency int
	// Sync is the fsync policy of the embedded server: config.SyncAlways
	// or config.SyncInterval.
	Sync string
	// CPUProfile is where the measured phase's CPU profile is written,
	// when set.
	CPUProfile string
	Logger     *slog.Logger
	Progress   io.Writer // phase lines; nil for none

	// RawBatchInFlight is how many raw atomic batches are sent at once,
	// where a benchmark measures them (0: RawBatchInFlightDefault).
	RawBatchInFlight int
}

// validate names, as the flags of `agora bench`, every parameter of c out
// of range; leastAgents is the fewest agents the benchmark can run with.
func (c Common) validate(leastAgents int) []error {
	var errs []error
	if c.Agents < leastAgents {
		errs = append(errs, fmt.Errorf("--agents must be at least %d, got %d", leastAgents, c.Agents))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency must be at least 1, got %d", c.Concurrency))
	}
	if c.RawBatchInFlight < 0 || c.RawBatchInFlight > rawBatchInFlightMax {
		errs = append(errs, fmt.Errorf("--raw-batches-in-flight must be within 1 and %d (0: the default), got %d", rawBatchInFlightMax, c.RawBatchInFlight))
	}
	if c.Sync != config.SyncAlways && c.Sync != config.SyncInterval {
		errs = append(errs, fmt.Errorf("--sync must be %q or %q, got %q", config.SyncAlways, config.SyncInterval, c.Sync))
	}
	return errs
}

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
