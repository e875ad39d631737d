// Package agent is the account of an agent: its balance, its holds, its
// life. Decide and Evolve are pure (no clock, no IO); the actor shell in
// actors/runtime runs them against the event log.
package agent

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// Status is an agent's life: alive until it dies, never back.
type Status string

// The statuses of an account.
const (
	StatusNone  Status = ""
	StatusAlive Status = "alive"
	StatusDead  Status = "dead"
)

// Canonical is st as its constant, the same string rather than a copy
// (a status decoded from JSON is a string of its own); a status that is
// none of them is itself.
func (st Status) Canonical() Status {
	switch st {
	case StatusAlive:
		return StatusAlive
	case StatusDead:
		return StatusDead
	}
	return st
}

// Account is the state of one agent: nothing but the fold of its events.
type Account struct {
	ID            string                   `json:"id"`
	Status        Status                   `json:"status"`
	ParentID      string                   `json:"parent_id,omitempty"`
	Lineage       []string                 `json:"lineage,omitempty"`
	BalanceMicros events.Micros            `json:"balance_micros"`
	HeldMicros    events.Micros            `json:"held_micros"`
	Holds         map[string]events.Micros `json:"holds,omitempty"`
	// Totals for the agent's metadata.
	GrantedMicros  events.Micros `json:"granted_micros"`
	ReceivedMicros events.Micros `json:"received_micros"`
	SentMicros     events.Micros `json:"sent_micros"`
	SpentMicros    events.Micros `json:"spent_micros"`
	// RewardedMicros are the human's rewards for the agent's prompts.
	RewardedMicros events.Micros `json:"rewarded_micros,omitempty"`
	// Command is the agent's program, as recorded at its creation (empty:
	// the executor's default).
	Command []string `json:"command,omitempty"`
	// Executions are the executions running for this agent: started and
	// not yet ended. An execution ends exactly once because only a running
	// one can end.
	Executions map[string]Execution `json:"executions,omitempty"`
	// ExecutionCount is the number of executions ever started.
	ExecutionCount int64 `json:"execution_count,omitempty"`

	// Unread are the ids of the messages delivered to the agent and not
	// yet read (messages.go): at most the inbox limit of their delivery.
	Unread map[string]struct{} `json:"unread,omitempty"`
}

// Execution is a running execution as its agent's account knows it: the
// won bid it comes from, who paid for it, and the leases it holds in which
// pool.
type Execution struct {
	BidID     string                  `json:"bid_id"`
	PayerID   string                  `json:"payer_id"`
	Pool      string                  `json:"pool"`
	Resources map[string]events.Units `json:"resources"`
	// Attempt counts the runs of its program: 0 or 1 for the first, then
	// one more for each time a stop or a crash made it run again.
	Attempt int `json:"attempt,omitempty"`
}

// Attempts is the number of times the execution's program was started.
func (x Execution) Attempts() int { return max(1, x.Attempt) }

// New is the state of an account before its first event.
func New(id string) Account { return Account{ID: id} }

// Available is what the agent may still commit: balance minus held.
func (a Account) Available() events.Micros { return a.BalanceMicros - a.HeldMicros }

// Exists reports whether the account was created.
func (a Account) Exists() bool { return a.Status != StatusNone }

// Running reports whether the agent runs at least one execution.
func (a Account) Running() bool { return len(a.Executions) > 0 }

// Evolve applies one event. It never fails: an event in the log is a fact.
// The returned account may share its maps with the one passed in, which the
// caller gives up.
func Evolve(a Account, e events.Event) Account {
	switch e := e.(type) {
	case events.AgentCreated:
		a.Status, a.ParentID, a.Lineage, a.Command = StatusAlive, e.ParentID, e.Lineage, e.Command
		a.BalanceMicros += e.GrantMicros + e.FundedMicros
		a.GrantedMicros += e.GrantMicros
		a.ReceivedMicros += e.FundedMicros
	case events.ChildSpawned:
		// The cost is spent (burned); the initial credits are sent, as a
		// transfer's amount is, to the child.
		a.BalanceMicros -= e.CostMicros + e.InitialCreditsMicros
		a.SpentMicros += e.CostMicros
		a.SentMicros += e.InitialCreditsMicros
	case events.CreditsGranted:
		a.BalanceMicros += e.AmountMicros
		a.GrantedMicros += e.AmountMicros
	case events.HumanRewarded:
		a.BalanceMicros += e.AmountMicros
		a.RewardedMicros += e.AmountMicros
	case events.TransferSent:
		a.BalanceMicros -= e.AmountMicros
		a.SentMicros += e.AmountMicros
	case events.TransferReceived:
		a.BalanceMicros += e.AmountMicros
		a.ReceivedMicros += e.AmountMicros
	case events.TransferReturned:
		if !e.Burned {
			a.BalanceMicros += e.AmountMicros
			a.SentMicros -= e.AmountMicros
		}
	case events.HoldPlaced:
		if a.Holds == nil {
			a.Holds = map[string]events.Micros{}
		}
		a.Holds[e.HoldID] = e.AmountMicros
		a.HeldMicros += e.AmountMicros
	case events.HoldIncreased:
		a.Holds[e.HoldID] = e.AmountMicros
		a.HeldMicros += e.DeltaMicros
	case events.HoldPosted:
		delete(a.Holds, e.HoldID)
		a.HeldMicros -= e.AmountMicros + e.ReleasedMicros
		a.BalanceMicros -= e.AmountMicros
		a.SpentMicros += e.AmountMicros
	case events.HoldVoided:
		delete(a.Holds, e.HoldID)
		a.HeldMicros -= e.AmountMicros
	case events.CreditsBurned:
		a.BalanceMicros -= e.AmountMicros
		a.SpentMicros += e.AmountMicros
	case events.AgentDied:
		// Executions still running keep running until their end is
		// recorded, which releases their leases.
		a.Status = StatusDead
		a.Holds, a.HeldMicros = nil, 0
		a.BalanceMicros -= e.BurnedMicros
	case events.ExecutionStarted:
		if a.Executions == nil {
			a.Executions = map[string]Execution{}
		}
		a.Executions[e.ExecutionID] = Execution{BidID: e.BidID, PayerID: e.PayerID, Pool: e.Pool, Resources: e.Resources}
		a.ExecutionCount++
	case events.ExecutionResumed:
		if x, ok := a.Executions[e.ExecutionID]; ok {
			x.Attempt = e.Attempt
			a.Executions[e.ExecutionID] = x
		}
	case events.ExecutionEnded:
		delete(a.Executions, e.ExecutionID)
	case events.MessageSent, events.MessageDelivered, events.MessageReturned, events.MessagesRead:
		a = evolveMessage(a, e)
	}
	return a
}

// ResourceTokens is the resource whose units are an execution's inference
// quota (ticket.ResourceTokens, the System Service's meter).
const ResourceTokens = "tokens"

// TokensAllowed is the inference tokens the execution may use: the whole
// tokens of its allocation, as the System Service meters them (a fraction
// of a token buys nothing).
func (x Execution) TokensAllowed() int64 {
	return int64(x.Resources[ResourceTokens] / events.MicroUnitsPerUnit)
}

// checkTokensUsed refuses an end that says the execution used tokens it
// did not have: fewer than none, or more than its allocation allows.
func (x Execution) checkTokensUsed(used int64) error {
	if used < 0 || used > x.TokensAllowed() {
		return fmt.Errorf("%w: %d tokens used, of %d allocated", ErrInvalidExecution, used, x.TokensAllowed())
	}
	return nil
}
