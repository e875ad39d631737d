// Package ticket is the registry of execution tokens (SPEC.md 1.4): the
// executor issues a secret token when it starts an execution and revokes it
// when the execution ends; the System Service looks the token of each call
// up to learn which agent and execution it acts for, and meters the
// execution's inference tokens against it.
//
// A token is the only credential an agent program has, so the registry
// keeps no token in the clear: tickets are found by the SHA-256 of their
// token, which also keeps a map lookup from timing the secret.
package ticket

import (
	"maps"
	"time"

	"github.com/agora-econ/agora/events"
)

// Ticket is what a token stands for: one execution of one agent, its
// envelope and its deadline, and the inference tokens it has used.
type Ticket struct {
	AgentID     string
	ExecutionID string
	// Allocation is the execution's bundle: units per resource
	// (cpu_seconds, memory_mb, tokens).
	Allocation map[string]events.Units
	Deadline   time.Time
	IssuedAt   time.Time
	// TokensUsed is the inference tokens metered so far; never above
	// TokensAllocated.
	TokensUsed int64
}

// TokensAllocated is the execution's inference quota in whole tokens (a
// fraction of a token buys nothing).
func (t Ticket) TokensAllocated() int64 {
	return int64(t.Allocation[ResourceTokens] / events.MicroUnitsPerUnit)
}

// TokensRemaining is what the execution may still spend on inference.
func (t Ticket) TokensRemaining() int64 { return max(t.TokensAllocated()-t.TokensUsed, 0) }

func (t Ticket) clone() Ticket {
	t.Allocation = maps.Clone(t.Allocation)
	return t
}
