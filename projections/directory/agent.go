// Package directory is the read model of every agent the economy has
// created: whether it lives, who its ancestors are, when it was created
// and died, its balance and what it has earned and spent, its bids, and
// its executions. It also keeps the economy's totals over all agents
// (agents alive, credits minted, burned and in circulation, bids and
// executions), which the dashboard and the operator's metrics show. It is
// a fold of the agent events alone, so replaying the log gives it back
// exactly; reads never ask the actors. Each agent's account is folded with
// the agent actor's own Admit and Evolve, and an agent's balance, holds,
// status and executions are its account's.
package directory

import (
	"maps"
	"slices"
	"time"

	"github.com/agora-econ/agora/events"
)

// Status is an agent's life: alive from its creation until it dies, never
// back.
type Status string

// The statuses of an agent in the directory.
const (
	StatusAlive Status = "alive"
	StatusDead  Status = "dead"
)

// Agent is the directory's record of one agent. Money is exact
// micro-credits.
type Agent struct {
	ID       string `json:"id"`
	Status   Status `json:"status"`
	ParentID string `json:"parent_id,omitempty"`
	// Lineage is the agent's ancestors, nearest first (parent, grandparent,
	// ...), at most LineageLengthMax of them; the parent links lead further.
	Lineage []string `json:"lineage,omitempty"`
	// Children are the ids of the agents created with this one as their
	// parent, in order of creation, all of them: each agent is the child
	// of at most one parent, so the children of every agent together hold
	// at most one id per agent ever created, which the directory keeps a
	// whole record of already.
	Children []string `json:"children,omitempty"`
	// Command is the agent's program as its creation recorded it (empty:
	// the executor's default).
	Command []string `json:"command,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	CreatedSeq uint64    `json:"created_seq"`
	// CreationReason is the creation's reason ("genesis", "operator", ...).
	CreationReason string    `json:"creation_reason,omitempty"`
	DiedAt         time.Time `json:"died_at,omitzero"`
	DeathReason    string    `json:"death_reason,omitempty"`

	BalanceMicros events.Micros `json:"balance_micros"`
	HeldMicros    events.Micros `json:"held_micros"`

	// What the agent earned: its grants (at creation, and the operator's
	// credits_granted since) and the transfers it received.
	GrantMicros    events.Micros `json:"grant_micros"`
	ReceivedMicros events.Micros `json:"received_micros"`
	// RewardMicros are the human's rewards for its prompts (minted).
	RewardMicros events.Micros `json:"reward_micros,omitempty"`
	// What it spent: bids and prompts paid, transfers sent (less those
	// returned to it), credits burned (spawn and message costs).
	PaidMicros   events.Micros `json:"paid_micros"`
	SentMicros   events.Micros `json:"sent_micros"`
	BurnedMicros events.Micros `json:"burned_micros"`
	// DeathBurnedMicros is what was left of the balance when the agent
	// died, burned by the death: lost, not spent.
	DeathBurnedMicros events.Micros `json:"death_burned_micros,omitempty"`

	// BidsPlaced counts the bids the agent placed (held), including those
	// the book refused at listing; BidsWon the bids of its that won a cycle
	// and were paid.
	BidsPlaced int64 `json:"bids_placed"`
	BidsWon    int64 `json:"bids_won"`

	// ExecutionCount is the number of executions the agent has started
	// (as the one that runs, whoever paid); ExecutionsRunning those not
	// yet ended.
	ExecutionCount    int64      `json:"execution_count"`
	ExecutionsRunning int        `json:"executions_running"`
	LastExecution     *Execution `json:"last_execution,omitempty"`
}

// Available is what the agent may still commit: balance minus held.
func (a Agent) Available() events.Micros { return a.BalanceMicros - a.HeldMicros }

// EarnedMicros is every credit the agent received: its grant, the
// transfers it was sent and the human's rewards.
func (a Agent) EarnedMicros() events.Micros { return a.GrantMicros + a.ReceivedMicros + a.RewardMicros }

// SpentMicros is every credit the agent let go of by its own acts:
// payments, transfers sent and burns. Its death's burn is not among them.
func (a Agent) SpentMicros() events.Micros { return a.PaidMicros + a.SentMicros + a.BurnedMicros }

// clone copies a so that the caller may keep it while the view moves on.
func (a Agent) clone() Agent {
	c := a
	c.Lineage = slices.Clone(a.Lineage)
	c.Children = slices.Clone(a.Children)
	c.Command = slices.Clone(a.Command)
	if a.LastExecution != nil {
		x := *a.LastExecution
		c.LastExecution = &x
	}
	return c
}

// Execution is an agent's latest execution: started, and ended once its
// end is recorded (EndedAt is zero and Cause empty while it runs).
type Execution struct {
	ID        string    `json:"execution_id"`
	BidID     string    `json:"bid_id"`
	PayerID   string    `json:"payer_id"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Cause is one of events.ExecutionCauses once ended.
	Cause        string `json:"cause,omitempty"`
	ExitCode     int    `json:"exit_code"`
	CPUMillis    int64  `json:"cpu_millis"`
	MemoryPeakKB int64  `json:"memory_peak_kb"`
	WallMillis   int64  `json:"wall_millis"`
	// TokensUsed is the inference tokens it used (events.ExecutionEnded).
	TokensUsed int64 `json:"tokens_used,omitempty"`
}

// Running reports whether the execution has not ended yet.
func (x Execution) Running() bool { return x.Cause == "" }

// Summary is an agent as a line of a listing.
type Summary struct {
	ID             string        `json:"id"`
	Status         Status        `json:"status"`
	ParentID       string        `json:"parent_id,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	CreatedSeq     uint64        `json:"created_seq"`
	DiedAt         time.Time     `json:"died_at,omitzero"`
	BalanceMicros  events.Micros `json:"balance_micros"`
	HeldMicros     events.Micros `json:"held_micros"`
	EarnedMicros   events.Micros `json:"earned_micros"`
	SpentMicros    events.Micros `json:"spent_micros"`
	ExecutionCount int64         `json:"execution_count"`
	// LastExecutionAt is when its latest execution started (zero: never).
	LastExecutionAt time.Time `json:"last_execution_at,omitzero"`
}

func (a Agent) summary() Summary {
	s := Summary{ID: a.ID, Status: a.Status, ParentID: a.ParentID, CreatedAt: a.CreatedAt, CreatedSeq: a.CreatedSeq, DiedAt: a.DiedAt,
		BalanceMicros: a.BalanceMicros, HeldMicros: a.HeldMicros, EarnedMicros: a.EarnedMicros(),
		SpentMicros: a.SpentMicros(), ExecutionCount: a.ExecutionCount}
	if a.LastExecution != nil {
		s.LastExecutionAt = a.LastExecution.StartedAt
	}
	return s
}

// Totals are the economy's figures over every agent.
type Totals struct {
	Alive int `json:"alive"`
	Dead  int `json:"dead"`
	// MintedMicros is every credit created (grants); BurnedMicros every
	// credit destroyed (payments, burns, deaths, transfers returned to a
	// dead sender).
	MintedMicros events.Micros `json:"minted_micros"`
	BurnedMicros events.Micros `json:"burned_micros"`
	// BalanceMicros and HeldMicros are the sums over every account.
	BalanceMicros events.Micros `json:"balance_micros"`
	HeldMicros    events.Micros `json:"held_micros"`

	// BidsPlaced counts the bids agents placed (held); BidsPaid those that
	// won a cycle and were paid; PaymentsRefused the won bids whose
	// payment was refused (their agent had died).
	BidsPlaced      int64 `json:"bids_placed"`
	BidsPaid        int64 `json:"bids_paid"`
	PaymentsRefused int64 `json:"payments_refused"`

	ExecutionsStarted int64 `json:"executions_started"`
	ExecutionsRunning int64 `json:"executions_running"`
	// ExecutionsEnded counts the ended executions by cause (one of
	// events.ExecutionCauses).
	ExecutionsEnded map[string]int64 `json:"executions_ended"`
}

// CirculatingMicros is the credits that exist: minted minus burned. It is
// the sum of the balances plus what is in flight between two accounts
// (SPEC.md 4.1).
func (t Totals) CirculatingMicros() events.Micros { return t.MintedMicros - t.BurnedMicros }

// InFlightMicros is what has left one account and not yet reached (or
// returned to) another.
func (t Totals) InFlightMicros() events.Micros { return t.CirculatingMicros() - t.BalanceMicros }

func (t Totals) clone() Totals {
	c := t
	c.ExecutionsEnded = maps.Clone(t.ExecutionsEnded)
	if c.ExecutionsEnded == nil {
		c.ExecutionsEnded = map[string]int64{}
	}
	return c
}
