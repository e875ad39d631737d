package events

// The events of an execution, on the subjects of the agent that runs (the
// bid's beneficiary, or its bidder when there is none):
// events.agent.<id>.execution_started and .execution_ended. The agent's
// account is where an execution begins and ends exactly once; the clearing
// book keeps its leases until the end is recorded.

// ExecutionStarted records, before the program starts, that an agent runs
// an execution: a won bid whose payment went through and whose leases are
// held. Pool names the clearing pool that holds the leases, so that the end
// releases them in the right book.
type ExecutionStarted struct {
	ExecutionID string           `json:"execution_id"`
	BidID       string           `json:"bid_id"`
	PayerID     string           `json:"payer_id"`
	Pool        string           `json:"pool"`
	Resources   map[string]Units `json:"resources"`
	Trigger     Trigger          `json:"trigger"`
}

// ExecutionEnded records that a running execution is over, with what it
// used. Its leases are then released by the clearing manager. Pool repeats
// the started event's, so that the release needs no other state.
type ExecutionEnded struct {
	ExecutionID  string `json:"execution_id"`
	Pool         string `json:"pool"`
	ExitCode     int    `json:"exit_code"`
	Cause        string `json:"cause"`
	CPUMillis    int64  `json:"cpu_millis"`
	MemoryPeakKB int64  `json:"memory_peak_kb"`
	WallMillis   int64  `json:"wall_millis"`
	// TokensUsed is the inference tokens the System Service metered for
	// the execution (whole tokens, at most the whole tokens of its
	// allocation). An end recorded before tokens were counted has none.
	TokensUsed int64 `json:"tokens_used"`
}

// Causes of an execution's end.
const (
	// CauseExited: the program exited by itself (any exit code).
	CauseExited = "exited"
	// CauseCPU: killed for exceeding its CPU time (every process of the
	// execution together).
	CauseCPU = "cpu"
	// CauseMemory: killed for exceeding its memory (every process of the
	// execution together).
	CauseMemory = "memory"
	// CauseDisk: killed for growing its workspace over the disk quota
	// (execution.workspace_mb).
	CauseDisk = "disk"
	// CauseDeadline: killed at its wall-clock deadline.
	CauseDeadline = "deadline"
	// CauseKilled: killed from outside (its agent died while it ran).
	CauseKilled = "killed"
	// CauseFailed: the program could not be started (no workspace, a
	// command that does not exist or cannot be executed, a sandbox that
	// refused). Nothing of it ran.
	CauseFailed = "failed"
	// CauseInterrupted: a stop or a crash cut it short and it is not run
	// again (its agent died meanwhile, its lease is gone, or its attempts
	// are used up; see ExecutionResumed); recorded at the next start.
	CauseInterrupted = "interrupted"
)

// ExecutionCauses is the closed set of causes.
var ExecutionCauses = []string{CauseExited, CauseCPU, CauseMemory, CauseDisk, CauseDeadline, CauseKilled, CauseFailed, CauseInterrupted}

func (ExecutionStarted) EventType() string { return "execution_started" }
func (ExecutionEnded) EventType() string   { return "execution_ended" }

func (ExecutionStarted) EventSchema() int { return 1 }
func (ExecutionEnded) EventSchema() int   { return 1 }

func init() { register(ExecutionStarted{}, ExecutionEnded{}) }
