package agent

import "github.com/agora-econ/agora/events"

// Command is a command of an agent's account: Decide takes nothing else,
// and the shell refuses any other (runtime.ErrWrongCommand).
type Command interface{ agentCommand() }

func (Create) agentCommand()          {}
func (Transfer) agentCommand()        {}
func (ReceiveTransfer) agentCommand() {}
func (ReturnTransfer) agentCommand()  {}
func (PlaceHold) agentCommand()       {}
func (IncreaseHold) agentCommand()    {}
func (PostHold) agentCommand()        {}
func (VoidHold) agentCommand()        {}
func (Burn) agentCommand()            {}
func (Grant) agentCommand()           {}
func (Die) agentCommand()             {}
func (StartExecution) agentCommand()  {}
func (ResumeExecution) agentCommand() {}
func (EndExecution) agentCommand()    {}
func (Spawn) agentCommand()           {}

// The commands a process manager sends carry its trigger (zero when they
// come from elsewhere): the shell answers a redelivered one as already
// applied (events.Triggered).

func (c ReceiveTransfer) Triggered() events.Trigger { return c.Trigger }
func (c ReturnTransfer) Triggered() events.Trigger  { return c.Trigger }
func (c PlaceHold) Triggered() events.Trigger       { return c.Trigger }
func (c IncreaseHold) Triggered() events.Trigger    { return c.Trigger }
func (c PostHold) Triggered() events.Trigger        { return c.Trigger }
func (c VoidHold) Triggered() events.Trigger        { return c.Trigger }
func (c Burn) Triggered() events.Trigger            { return c.Trigger }
func (c Die) Triggered() events.Trigger             { return c.Trigger }
func (c StartExecution) Triggered() events.Trigger  { return c.Trigger }
func (c Create) Triggered() events.Trigger          { return c.Trigger }

// Create opens the account with a grant (minted). Ids, lineage, the grant
// and the program's command are decided by the caller; the decider checks
// them.
type Create struct {
	ParentID    string
	Lineage     []string
	GrantMicros events.Micros
	Reason      string
	// Command is the agent's program, run from its workspace (empty: the
	// executor's default). At most CommandArgsMax arguments and
	// CommandBytesMax bytes.
	Command []string
	// FundedMicros, InitialBid and Trigger are set by the spawn manager
	// alone, for a spawned child: its initial credits (in flight since
	// its parent's ChildSpawned, not minted), its first bid, and the
	// ChildSpawned that obliged it. Such a creation is never rejected: a
	// child that cannot be created bounces its credits back to the
	// parent (decideSpawnedCreate).
	FundedMicros events.Micros
	InitialBid   *events.InitialBid
	Trigger      events.Trigger
}

// Transfer debits this account for To. The recipient is credited by the
// transfer manager reacting to TransferSent.
type Transfer struct {
	TransferID   string
	To           string
	AmountMicros events.Micros
	Memo         string
}

// ReceiveTransfer credits this account (sent by the transfer manager).
type ReceiveTransfer struct {
	TransferID   string
	From         string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// ReturnTransfer gives a bounced transfer back (sent by the transfer manager).
type ReturnTransfer struct {
	TransferID   string
	To           string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// PlaceHold reserves credits for a bid or a prompt.
type PlaceHold struct {
	HoldID       string
	AmountMicros events.Micros
	Purpose      string
	// Bid is set for a bid's hold; the clearing lists the bid from it.
	Bid *events.BidTerms
	// Prompt is set for a prompt's hold; the slot queues it from it.
	Prompt  *events.PromptTerms
	Trigger events.Trigger
}

// IncreaseHold raises an open hold to AmountMicros (the new total).
type IncreaseHold struct {
	HoldID       string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// PostHold pays an open hold: AmountMicros (0: all of it) is burned and
// the rest released. With a trigger, a hold that is no longer open is
// recorded as PaymentRefused instead of rejected, so that the manager that
// asked can undo what depended on the payment.
type PostHold struct {
	HoldID       string
	AmountMicros events.Micros
	ExecutionID  string
	Trigger      events.Trigger
}

// VoidHold releases an open hold.
type VoidHold struct {
	HoldID  string
	Reason  string
	Trigger events.Trigger
}

// Burn removes available credits (spawn and message costs).
type Burn struct {
	AmountMicros events.Micros
	Reason       string
	Trigger      events.Trigger
}

// Grant mints AmountMicros to a living account: the operator funding an
// agent (`agora agent fund`). Like Create's grant it creates credits; the
// account refuses it when the agent is dead or unknown, when the amount
// is not a valid positive amount, and when the balance would pass
// events.AmountMax.
type Grant struct {
	AmountMicros events.Micros
	Reason       string
}

// KilledByOperator is the reason of a death the operator decided (`agora
// agent kill`): a plain Die, which applies even while an execution runs
// (the executor then kills the program). The operator's own words, if any,
// follow it after ": ".
const KilledByOperator = "killed by the operator"

// Die ends the agent: holds voided, balance burned. With IfBroke it
// applies only to an agent that is broke (available <= 0), holds no bid
// or prompt and runs no execution, and is otherwise a no-op: the
// end-of-cycle rule. With IfIdle it applies only to an agent that runs no
// execution: the executor's "no bid, no future" at the end of an
// execution, which leaves the decision to the agent's last running
// execution. A plain Die applies even while an execution runs (the
// executor then kills the program, and its end is still recorded).
type Die struct {
	Reason  string
	IfBroke bool
	IfIdle  bool
	Trigger events.Trigger
}

// StartExecution records, before the program starts, that this agent runs
// an execution of a paid allocation (sent by the executor). It carries the
// executor's trigger, required: a redelivery, even after the execution has
// ended, is recognised by it and applies nothing. A dead agent never
// starts an execution.
type StartExecution struct {
	ExecutionID string
	BidID       string
	// PayerID is the bidder, who paid; the agent itself or its sponsor.
	PayerID string
	// Pool is the clearing pool that holds the execution's leases.
	Pool      string
	Resources map[string]events.Units
	Trigger   events.Trigger
}

// ResumeExecution records, before the program starts again, that a
// running execution a stop or a crash cut short runs again (sent by the
// executor at start-up). Attempt is the run it begins: one more than the
// account's count. The same attempt again is already done; a dead agent
// never runs again.
type ResumeExecution struct {
	ExecutionID string
	Attempt     int
}

// EndExecution records the end of a running execution, exactly once: an
// execution that is not running (never started, or ended already) is
// refused with ErrExecutionNotRunning. It applies to a dead agent too, so
// that an execution its death interrupted still releases its leases.
type EndExecution struct {
	ExecutionID  string
	ExitCode     int
	Cause        string // one of events.ExecutionCauses
	CPUMillis    int64
	MemoryPeakKB int64
	WallMillis   int64
	// TokensUsed is the inference tokens metered for the execution: at
	// most the whole tokens of its allocation (TokensAllowed).
	TokensUsed int64
}

// ReasonSpawn is the reason of a spawned child's creation.
const ReasonSpawn = "spawn"

// Spawn has this agent spawn a child (SPEC.md 1.7): CostMicros is burned
// and InitialMicros leave the balance for the child, which the spawn
// manager creates with them. The child's id, its program's command and
// hash and its first bid are the caller's (the child's workspace is
// written before); the lineage is the decider's: this agent, then its own
// lineage.
type Spawn struct {
	ChildID       string
	CostMicros    events.Micros
	InitialMicros events.Micros
	Command       []string
	InitialBid    *events.InitialBid
	ProgramSHA256 string
}
