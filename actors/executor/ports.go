package executor

import (
	"context"
	"time"

	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
)

// Runner runs one program in its sandbox and reports how it ended:
// *sandbox.Sandbox (tests may run plain processes). Run returns when the
// program is over: it exited, was killed for exceeding its envelope (CPU,
// memory, Spec.Timeout), or ctx ended (the executor stops, or the agent
// died), in which case every process of the program is killed before Run
// returns. An error means the program could not be started or supervised;
// sandbox.ErrOutputLog beside a complete Result means only its output log
// could not be written.
type Runner interface {
	Run(ctx context.Context, spec sandbox.Spec) (sandbox.Result, error)
}

// Tickets issues the execution token a program authenticates with to the
// System Service, valid only for this execution of this agent, until its
// deadline or its end (*ticket.Registry). End revokes it and says how many
// inference tokens the service metered for it.
type Tickets interface {
	Issue(agentID, executionID string, allocation map[string]events.Units, deadline time.Time) (string, error)
	End(token string) (tokensUsed int64, err error)
}

// The names of the resources the sandbox enforces (tokens, the inference
// quota, is metered by the System Service through the ticket), and of the
// environment variables a program gets besides the sandbox's own (PATH,
// HOME).
const (
	ResourceCPU    = "cpu_seconds"
	ResourceMemory = "memory_mb"

	EnvURL         = "AGORA_URL"
	EnvToken       = "AGORA_TOKEN"
	EnvAgentID     = "AGORA_AGENT_ID"
	EnvExecutionID = "AGORA_EXECUTION_ID"
	EnvPayload     = "AGORA_PAYLOAD"
	// EnvDeadline is the wall-clock deadline, RFC 3339.
	EnvDeadline = "AGORA_DEADLINE"
	// EnvAttempt is the run of the execution's program, from 1: more when
	// a stop or a crash cut the earlier runs short and it runs again with
	// the same envelope, payload and execution id.
	EnvAttempt = "AGORA_ATTEMPT"
)

// wholeUnits rounds a quantity up to whole units, at least 1 and at most
// limit: the sandbox counts whole CPU seconds and MiB, and a bundle always
// names a positive quantity of both.
func wholeUnits(u events.Units, limit int) int {
	n := (int64(u) + events.MicroUnitsPerUnit - 1) / events.MicroUnitsPerUnit
	return int(max(1, min(n, int64(limit))))
}
