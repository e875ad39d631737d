package work

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
)

// Order is one run of an execution's program, as the economy's executor
// asked for it: the paid envelope, the command and environment (the token
// among them), and the deadline.
type Order struct {
	AgentID     string            `json:"agent_id"`
	ExecutionID string            `json:"execution_id"`
	Attempt     int               `json:"attempt"`
	Command     []string          `json:"command"`
	Env         map[string]string `json:"env"`
	CPUSeconds  int               `json:"cpu_seconds"`
	MemoryMB    int               `json:"memory_mb"`
	WorkspaceMB int               `json:"workspace_mb"`
	Processes   int               `json:"processes"`
	// TimeoutMillis is the program's wall-clock time from its start, and
	// Deadline the time it may not run past (the lease's end, less a
	// margin): the worker gives it the lesser of both. Worker clocks must
	// be synchronized with the economy's (NTP), as in any cluster.
	TimeoutMillis int64     `json:"timeout_millis"`
	Deadline      time.Time `json:"deadline"`
}

// orderOf makes the order of spec, whose environment names the agent, the
// execution and the attempt (the executor sets them).
func orderOf(spec sandbox.Spec) (Order, error) {
	o := Order{AgentID: spec.Env[executor.EnvAgentID], ExecutionID: spec.Env[executor.EnvExecutionID],
		Command: slices.Clone(spec.Command), Env: maps.Clone(spec.Env), CPUSeconds: spec.CPUSeconds,
		MemoryMB: spec.MemoryMB, WorkspaceMB: spec.WorkspaceMB, Processes: spec.Processes,
		TimeoutMillis: spec.Timeout.Milliseconds()}
	// The worker sets the service's address as its own sandbox shows it.
	delete(o.Env, executor.EnvURL)
	attempt, err := strconv.Atoi(spec.Env[executor.EnvAttempt])
	if err != nil {
		return Order{}, fmt.Errorf("%w: attempt %q", ErrInvalidOrder, spec.Env[executor.EnvAttempt])
	}
	o.Attempt = attempt
	if d, err := time.Parse(time.RFC3339Nano, spec.Env[executor.EnvDeadline]); err == nil {
		o.Deadline = d
	} else {
		o.Deadline = time.Now().Add(spec.Timeout)
	}
	return o, o.validate()
}

// validate checks what the worker relies on before it touches anything:
// the ids (they name subjects, objects and directories) and a positive
// attempt and timeout. The sandbox checks the envelope itself.
func (o Order) validate() error {
	var errs []error
	if err := events.ValidateID(o.AgentID); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	if err := events.ValidateID(o.ExecutionID); err != nil {
		errs = append(errs, fmt.Errorf("execution: %w", err))
	}
	if o.Attempt < 1 {
		errs = append(errs, fmt.Errorf("attempt %d", o.Attempt))
	}
	if o.TimeoutMillis <= 0 {
		errs = append(errs, fmt.Errorf("timeout %d ms", o.TimeoutMillis))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOrder, errors.Join(errs...))
	}
	return nil
}

// timeout is how long the program may run if it starts at now.
func (o Order) timeout(now time.Time) time.Duration {
	return min(time.Duration(o.TimeoutMillis)*time.Millisecond, o.Deadline.Sub(now))
}

// Result is how one order ended, as its worker reports it.
type Result struct {
	ExecutionID string `json:"execution_id"`
	Attempt     int    `json:"attempt"`
	// Worker names the worker that ran it (--id; host name and process id
	// by default).
	Worker string `json:"worker"`
	// Lost says the program did not run to an end the worker knows: its
	// order was delivered again (the worker that had it died or was cut
	// off), or came too late to start. The Runner answers
	// executor.ErrRunnerLost.
	Lost bool `json:"lost,omitempty"`
	// Error says why the program could not be started or supervised
	// (the Runner's error), with the result's other fields zero.
	Error string `json:"error,omitempty"`

	Cause           sandbox.Cause `json:"cause,omitempty"`
	ExitCode        int           `json:"exit_code"`
	Signal          int           `json:"signal,omitempty"`
	CPUMicros       int64         `json:"cpu_micros"`
	MemoryPeakBytes int64         `json:"memory_peak_bytes"`
	WallMicros      int64         `json:"wall_micros"`
	OutputBytes     int64         `json:"output_bytes"`
}

// resultOf reports a sandbox's result.
func resultOf(o Order, worker string, r sandbox.Result) Result {
	return Result{ExecutionID: o.ExecutionID, Attempt: o.Attempt, Worker: worker, Cause: r.Cause,
		ExitCode: r.ExitCode, Signal: int(r.Signal), CPUMicros: r.CPU.Microseconds(),
		MemoryPeakBytes: r.MemoryPeakBytes, WallMicros: r.Wall.Microseconds(), OutputBytes: r.OutputBytes}
}

// sandboxResult is the sandbox's result a Result reports.
func (r Result) sandboxResult() sandbox.Result {
	return sandbox.Result{Cause: r.Cause, ExitCode: r.ExitCode, Signal: syscall.Signal(r.Signal),
		CPU: time.Duration(r.CPUMicros) * time.Microsecond, MemoryPeakBytes: r.MemoryPeakBytes,
		Wall: time.Duration(r.WallMicros) * time.Microsecond, OutputBytes: r.OutputBytes}
}
