package agent

import (
	"errors"

	"github.com/agora-econ/agora/events"
)

// The rejections of the account decider. They are values, not strings, so a
// caller (an HTTP handler, a process manager, a retrying client) knows
// exactly what happened and that nothing was recorded.
var (
	// ErrInsufficientCredits: the amount exceeds what is available (balance
	// minus held). Nothing is reserved or moved.
	ErrInsufficientCredits = errors.New("insufficient credits")
	// ErrUnknownAgent: no account with that id was ever created.
	ErrUnknownAgent = errors.New("unknown agent")
	// ErrAgentDead: the account belongs to a dead agent, which never acts or
	// receives credits again.
	ErrAgentDead = errors.New("agent is dead")
	// ErrAgentExists: Create for an id that already has an account; a second
	// genesis can never happen.
	ErrAgentExists = errors.New("agent already exists")
	// ErrInvalidAmount: not positive, above 1e12 credits, or finer than a
	// micro-credit.
	ErrInvalidAmount = events.ErrInvalidAmount
	// ErrBalanceLimit: a grant that would take the balance past
	// events.AmountMax (1e12 credits), the most any account may hold.
	ErrBalanceLimit = errors.New("balance would exceed the maximum")
	// ErrTransferToSelf: a transfer must move credits between two accounts.
	ErrTransferToSelf = errors.New("transfer to self")
	// ErrHoldNotOpen: the hold does not exist or was already posted or voided.
	ErrHoldNotOpen = errors.New("hold not open")
	// ErrExistsWithDifferentAmount: a hold id reused with another amount; a
	// retry must carry the same amount to be recognised as a retry.
	ErrExistsWithDifferentAmount = errors.New("hold exists with a different amount")
	// ErrAmountNotRaised: a hold can only grow.
	ErrAmountNotRaised = errors.New("new amount is not above the current amount")
	// ErrTooManyHolds: HoldsPerAgentMax open holds already.
	ErrTooManyHolds = errors.New("too many open holds")
	// ErrUnknownCommand: a message the account does not understand.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrExecutionNotRunning: EndExecution for an execution the agent does
	// not run: never started, or ended already (each ends exactly once).
	ErrExecutionNotRunning = errors.New("execution not running")
	// ErrMissingTrigger: StartExecution without the executor's trigger,
	// without which a redelivery after the end would start the execution a
	// second time.
	ErrMissingTrigger = errors.New("command requires a trigger")
	// ErrInvalidExecution: an execution with no resources or a
	// non-positive one, an unknown cause, or negative usage.
	ErrInvalidExecution = errors.New("invalid execution")
	// ErrTooManyExecutions: ExecutionsPerAgentMax executions run already.
	ErrTooManyExecutions = errors.New("too many running executions")
	// ErrInvalidCommand: a program command with too many arguments, too
	// many bytes, an empty program name or a NUL byte.
	ErrInvalidCommand = errors.New("invalid program command")
	// ErrDeathMismatch: a death read from the log that does not burn the
	// whole balance or void exactly the open holds; Decide never writes
	// one, so Admit refuses it.
	ErrDeathMismatch = errors.New("death does not settle the account")
	// ErrRefusalWithOpenHold: a refused payment read from the log while
	// the hold it would have paid is open (a refusal means the hold is
	// gone); Admit refuses it.
	ErrRefusalWithOpenHold = errors.New("payment refused while its hold is open")
	// ErrInvalidSpawn: a spawn naming itself as its child, or a first bid
	// the child could not place (no bid id, no resources, or an amount
	// above its initial credits).
	ErrInvalidSpawn = errors.New("invalid spawn")
)

// Limits of an account, in one place; they keep every account's state
// (and snapshot) small.
const (
	// HoldsPerAgentMax bounds an account's open holds (bids and prompts).
	HoldsPerAgentMax = 1000
	// ExecutionsPerAgentMax bounds an account's running executions; an
	// agent cannot win more bids at once than it holds, plus those placed
	// for it.
	ExecutionsPerAgentMax = 1000
	// CommandArgsMax bounds the arguments of an agent's program command.
	CommandArgsMax = 64
	// CommandBytesMax bounds the bytes of a program command, all arguments
	// together.
	CommandBytesMax = 4096
	// LineageLengthMax bounds the ancestors a spawned child's creation
	// records, nearest first: a long family keeps its nearest 64.
	LineageLengthMax = 64
)
