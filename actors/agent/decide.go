package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agora-econ/agora/events"
)

// Decide answers a command with the one event that records it, or a typed
// rejection. A nil event with a nil error means the command needs no event
// (it is done already). A redelivered command of a process manager never
// reaches it: the shell answers that from its marks.
//
// Every command yields at most one event for this account, so an append is
// a single message and needs no multi-message transaction.
func Decide(a Account, cmd Command) (events.Event, error) {
	if e, err, ok := decideMessage(a, cmd); ok {
		return e, err
	}
	switch c := cmd.(type) {
	case Create:
		return decideCreate(a, c)
	case ReceiveTransfer:
		return decideReceive(a, c)
	case ReturnTransfer:
		return decideReturn(a, c)
	}
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, a.ID)
	}
	switch c := cmd.(type) {
	case Transfer:
		return decideTransfer(a, c)
	case PlaceHold:
		return decidePlaceHold(a, c)
	case IncreaseHold:
		return decideIncreaseHold(a, c)
	case PostHold:
		return decidePostHold(a, c)
	case VoidHold:
		amount, ok := a.Holds[c.HoldID]
		if !ok {
			if c.Trigger.Seq != 0 {
				// A manager voiding a hold that is already gone (the agent
				// died, which voided it): nothing is left to release.
				return nil, nil
			}
			return nil, fmt.Errorf("%w: %s", ErrHoldNotOpen, c.HoldID)
		}
		return events.HoldVoided{HoldID: c.HoldID, AmountMicros: amount, Reason: c.Reason, Trigger: c.Trigger}, nil
	case Burn:
		if err := spend(a, c.AmountMicros); err != nil {
			return nil, err
		}
		return events.CreditsBurned{AmountMicros: c.AmountMicros, Reason: c.Reason, Trigger: c.Trigger}, nil
	case Grant:
		return decideGrant(a, c)
	case Reward:
		return decideReward(a, c)
	case StartExecution:
		return decideStart(a, c)
	case ResumeExecution:
		return decideResume(a, c)
	case EndExecution:
		return decideEnd(a, c)
	case Spawn:
		return decideSpawn(a, c)
	case Die:
		if a.Status == StatusDead {
			if c.IfBroke || c.IfIdle {
				return nil, nil
			}
			return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
		}
		if c.IfBroke && (a.Available() > 0 || len(a.Holds) > 0 || a.Running()) {
			return nil, nil
		}
		if c.IfIdle && a.Running() {
			return nil, nil
		}
		holds := make([]string, 0, len(a.Holds))
		for id := range a.Holds {
			holds = append(holds, id)
		}
		slices.Sort(holds) // the event must not depend on map order
		return events.AgentDied{Reason: c.Reason, VoidedHolds: holds, BurnedMicros: a.BalanceMicros, Trigger: c.Trigger}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideCreate(a Account, c Create) (events.Event, error) {
	if c.FundedMicros != 0 || c.Trigger.Seq != 0 {
		return decideSpawnedCreate(a, c)
	}
	if a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrAgentExists, a.ID)
	}
	if c.GrantMicros < 0 || c.GrantMicros > events.AmountMax {
		return nil, fmt.Errorf("%w: grant %s", ErrInvalidAmount, c.GrantMicros)
	}
	if c.ParentID != "" {
		if err := events.ValidateID(c.ParentID); err != nil {
			return nil, err
		}
	}
	if err := ValidateCommand(c.Command); err != nil {
		return nil, err
	}
	return events.AgentCreated{AgentID: a.ID, ParentID: c.ParentID, Lineage: c.Lineage, GrantMicros: c.GrantMicros,
		Reason: c.Reason, Command: slices.Clone(c.Command)}, nil
}

// decideGrant mints credits to a living account, never past the balance
// an account may hold.
func decideGrant(a Account, c Grant) (events.Event, error) {
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	if a.BalanceMicros > events.AmountMax-c.AmountMicros {
		return nil, fmt.Errorf("%w: balance %s + grant %s is above %d credits", ErrBalanceLimit, a.BalanceMicros,
			c.AmountMicros, events.AmountMaxCredits)
	}
	return events.CreditsGranted{AmountMicros: c.AmountMicros, Reason: c.Reason}, nil
}

// ValidateCommand checks a program command: at most CommandArgsMax
// arguments and CommandBytesMax bytes, a non-empty program name, no NUL
// byte (which no argument of a process can carry). An empty command is
// valid: the executor's default runs.
func ValidateCommand(command []string) error {
	if len(command) > CommandArgsMax {
		return fmt.Errorf("%w: %d arguments, at most %d", ErrInvalidCommand, len(command), CommandArgsMax)
	}
	if len(command) > 0 && command[0] == "" {
		return fmt.Errorf("%w: empty program name", ErrInvalidCommand)
	}
	n := 0
	for _, arg := range command {
		n += len(arg)
		if strings.IndexByte(arg, 0) >= 0 {
			return fmt.Errorf("%w: NUL byte in %q", ErrInvalidCommand, arg)
		}
	}
	if n > CommandBytesMax {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidCommand, n, CommandBytesMax)
	}
	return nil
}

// decideStart records an execution's start. Its trigger makes it exactly
// once: the executor delivers each agent's starts in log order, so a
// redelivery is at or below the executor's mark, and the shell answers it
// without asking Decide. A start for an execution already running is
// already done.
func decideStart(a Account, c StartExecution) (events.Event, error) {
	if c.Trigger.Seq == 0 || c.Trigger.Manager == "" {
		return nil, fmt.Errorf("%w: StartExecution %s", ErrMissingTrigger, c.ExecutionID)
	}
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	for _, id := range []string{c.ExecutionID, c.BidID, c.PayerID, c.Pool} {
		if err := events.ValidateID(id); err != nil {
			return nil, err
		}
	}
	if len(c.Resources) == 0 {
		return nil, fmt.Errorf("%w: %s has no resources", ErrInvalidExecution, c.ExecutionID)
	}
	for r, u := range c.Resources {
		if err := events.ValidateID(r); err != nil {
			return nil, fmt.Errorf("%w: resource: %w", ErrInvalidExecution, err)
		}
		if u <= 0 {
			return nil, fmt.Errorf("%w: %s of %s is %s", ErrInvalidExecution, r, c.ExecutionID, u)
		}
	}
	if _, running := a.Executions[c.ExecutionID]; running {
		return nil, nil
	}
	if len(a.Executions) >= ExecutionsPerAgentMax {
		return nil, fmt.Errorf("%w: %d", ErrTooManyExecutions, ExecutionsPerAgentMax)
	}
	return events.ExecutionStarted{ExecutionID: c.ExecutionID, BidID: c.BidID, PayerID: c.PayerID, Pool: c.Pool,
		Resources: maps.Clone(c.Resources), Trigger: c.Trigger}, nil
}

// decideResume records that a running execution runs again. Its attempts
// count up by one, so a retry of the same resumption writes nothing.
func decideResume(a Account, c ResumeExecution) (events.Event, error) {
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	x, running := a.Executions[c.ExecutionID]
	switch {
	case !running:
		return nil, fmt.Errorf("%w: %s", ErrExecutionNotRunning, c.ExecutionID)
	case c.Attempt == x.Attempts():
		return nil, nil
	case c.Attempt != x.Attempts()+1:
		return nil, fmt.Errorf("%w: attempt %d of %s after attempt %d", ErrInvalidExecution, c.Attempt, c.ExecutionID, x.Attempts())
	}
	return events.ExecutionResumed{ExecutionID: c.ExecutionID, Pool: x.Pool, Attempt: c.Attempt}, nil
}

// decideEnd records a running execution's end, once. A dead agent's
// execution ends too: its leases must be released.
func decideEnd(a Account, c EndExecution) (events.Event, error) {
	x, running := a.Executions[c.ExecutionID]
	if !running {
		return nil, fmt.Errorf("%w: %s", ErrExecutionNotRunning, c.ExecutionID)
	}
	if !slices.Contains(events.ExecutionCauses, c.Cause) {
		return nil, fmt.Errorf("%w: cause %q (one of %s)", ErrInvalidExecution, c.Cause, strings.Join(events.ExecutionCauses, ", "))
	}
	if c.CPUMillis < 0 || c.MemoryPeakKB < 0 || c.WallMillis < 0 {
		return nil, fmt.Errorf("%w: negative usage (cpu %d ms, memory %d KB, wall %d ms)", ErrInvalidExecution,
			c.CPUMillis, c.MemoryPeakKB, c.WallMillis)
	}
	if err := x.checkTokensUsed(c.TokensUsed); err != nil {
		return nil, err
	}
	return events.ExecutionEnded{ExecutionID: c.ExecutionID, Pool: x.Pool, ExitCode: c.ExitCode, Cause: c.Cause,
		CPUMillis: c.CPUMillis, MemoryPeakKB: c.MemoryPeakKB, WallMillis: c.WallMillis, TokensUsed: c.TokensUsed}, nil
}

func decidePostHold(a Account, c PostHold) (events.Event, error) {
	held, ok := a.Holds[c.HoldID]
	if !ok {
		if c.Trigger.Seq != 0 {
			reason := "hold not open"
			if a.Status == StatusDead {
				reason = "agent is dead"
			}
			return events.PaymentRefused{HoldID: c.HoldID, AmountMicros: c.AmountMicros, ExecutionID: c.ExecutionID,
				Reason: reason, Trigger: c.Trigger}, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrHoldNotOpen, c.HoldID)
	}
	amount := c.AmountMicros
	if amount == 0 {
		amount = held
	}
	if amount < 0 || amount > held {
		return nil, fmt.Errorf("%w: posting %s of a hold of %s", ErrInvalidAmount, amount, held)
	}
	return events.HoldPosted{HoldID: c.HoldID, AmountMicros: amount, ReleasedMicros: held - amount,
		ExecutionID: c.ExecutionID, Trigger: c.Trigger}, nil
}

func decideTransfer(a Account, c Transfer) (events.Event, error) {
	if err := events.ValidateID(c.To); err != nil {
		return nil, err
	}
	if err := events.ValidateID(c.TransferID); err != nil {
		return nil, err
	}
	if c.To == a.ID {
		return nil, ErrTransferToSelf
	}
	if err := spend(a, c.AmountMicros); err != nil {
		return nil, err
	}
	return events.TransferSent{TransferID: c.TransferID, ToAgentID: c.To, AmountMicros: c.AmountMicros, Memo: c.Memo}, nil
}

// decideReceive credits a living account; any other account bounces the
// transfer so that its sender gets the credits back.
func decideReceive(a Account, c ReceiveTransfer) (events.Event, error) {
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	if a.Status != StatusAlive || a.BalanceMicros > events.AmountMax-c.AmountMicros {
		reason := "recipient is dead"
		switch {
		case !a.Exists():
			reason = "recipient is unknown"
		case a.Status == StatusAlive:
			reason = "recipient balance would exceed the maximum"
		}
		return events.TransferBounced{TransferID: c.TransferID, FromAgentID: c.From, AmountMicros: c.AmountMicros, Reason: reason, Trigger: c.Trigger}, nil
	}
	return events.TransferReceived{TransferID: c.TransferID, FromAgentID: c.From, AmountMicros: c.AmountMicros, Trigger: c.Trigger}, nil
}

// decideReturn credits a bounced transfer back, or burns it if the sender
// died meanwhile (a dead agent receives nothing).
func decideReturn(a Account, c ReturnTransfer) (events.Event, error) {
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, a.ID)
	}
	// A sender that died, or whose balance could no longer hold the amount,
	// cannot take it back: it is burned, which keeps the books exact.
	burned := a.Status == StatusDead || a.BalanceMicros > events.AmountMax-c.AmountMicros
	return events.TransferReturned{TransferID: c.TransferID, ToAgentID: c.To, AmountMicros: c.AmountMicros, Burned: burned, Trigger: c.Trigger}, nil
}

func decidePlaceHold(a Account, c PlaceHold) (events.Event, error) {
	if err := events.ValidateID(c.HoldID); err != nil {
		return nil, err
	}
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	if held, ok := a.Holds[c.HoldID]; ok {
		if held != c.AmountMicros {
			return nil, fmt.Errorf("%w: %s holds %s, not %s", ErrExistsWithDifferentAmount, c.HoldID, held, c.AmountMicros)
		}
		return nil, nil // the same hold placed again: already done
	}
	if len(a.Holds) >= HoldsPerAgentMax {
		return nil, fmt.Errorf("%w: %d", ErrTooManyHolds, HoldsPerAgentMax)
	}
	if err := spend(a, c.AmountMicros); err != nil {
		return nil, err
	}
	return events.HoldPlaced{HoldID: c.HoldID, AmountMicros: c.AmountMicros, Purpose: c.Purpose, Bid: c.Bid, Prompt: c.Prompt, Trigger: c.Trigger}, nil
}

func decideIncreaseHold(a Account, c IncreaseHold) (events.Event, error) {
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	held, ok := a.Holds[c.HoldID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrHoldNotOpen, c.HoldID)
	}
	if c.AmountMicros <= held {
		return nil, fmt.Errorf("%w: %s holds %s", ErrAmountNotRaised, c.HoldID, held)
	}
	delta := c.AmountMicros - held
	if delta > a.Available() {
		return nil, fmt.Errorf("%w: raising by %s, available %s", ErrInsufficientCredits, delta, a.Available())
	}
	return events.HoldIncreased{HoldID: c.HoldID, AmountMicros: c.AmountMicros, DeltaMicros: delta, Trigger: c.Trigger}, nil
}

// spend checks that a living account can commit amount of its available
// credits.
func spend(a Account, amount events.Micros) error {
	if a.Status == StatusDead {
		return fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if err := events.ValidatePositive(amount); err != nil {
		return err
	}
	if amount > a.Available() {
		return fmt.Errorf("%w: %s asked, %s available", ErrInsufficientCredits, amount, a.Available())
	}
	return nil
}
