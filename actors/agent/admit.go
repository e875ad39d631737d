package agent

import (
	"errors"
	"fmt"

	"github.com/agora-econ/agora/events"
)

// ErrInadmissible is what Admit wraps: the event would break the
// account's own invariants, so it cannot be a fact of this account
// however it came to be in the log (a forged or stray publish). Every
// follower skips it and the state stays as it was.
var ErrInadmissible = errors.New("event breaks the account's invariants")

// Admit reports whether event e may be folded into account a: the checks
// Decide makes before it writes such an event, made again on what the log
// holds, plus what must hold of the account after it (no negative
// balance, held or available; held <= balance). Events Decide wrote pass
// by construction; it runs only on records read from the log (recovery,
// the audit), never on the hot path of a command. Pure.
func Admit(a Account, e events.Event) error {
	if err := admitTransition(a, e); err != nil {
		return fmt.Errorf("%w: %w", ErrInadmissible, err)
	}
	balance, held := a.BalanceMicros, a.HeldMicros
	switch e := e.(type) {
	case events.AgentCreated:
		balance += e.GrantMicros + e.FundedMicros
	case events.ChildSpawned:
		balance -= e.CostMicros + e.InitialCreditsMicros
	case events.CreditsGranted:
		balance += e.AmountMicros
	case events.HumanRewarded:
		balance += e.AmountMicros
	case events.TransferSent:
		balance -= e.AmountMicros
	case events.TransferReceived:
		balance += e.AmountMicros
	case events.TransferReturned:
		if !e.Burned {
			balance += e.AmountMicros
		}
	case events.HoldPlaced:
		held += e.AmountMicros
	case events.HoldIncreased:
		held += e.DeltaMicros
	case events.HoldPosted:
		held -= e.AmountMicros + e.ReleasedMicros
		balance -= e.AmountMicros
	case events.HoldVoided:
		held -= e.AmountMicros
	case events.CreditsBurned:
		balance -= e.AmountMicros
	case events.AgentDied:
		held, balance = 0, balance-e.BurnedMicros
	default:
		balance = messageBalance(balance, e)
	}
	switch {
	case balance < 0:
		return fmt.Errorf("%w: %w: balance would be %s", ErrInadmissible, ErrInsufficientCredits, balance)
	case held < 0:
		return fmt.Errorf("%w: %w: held would be %s", ErrInadmissible, ErrHoldNotOpen, held)
	case held > balance:
		return fmt.Errorf("%w: %w: held %s would exceed the balance %s", ErrInadmissible, ErrInsufficientCredits, held, balance)
	case balance > events.AmountMax:
		return fmt.Errorf("%w: balance %s would exceed the maximum", ErrInadmissible, balance)
	}
	return nil
}

// admitTransition checks what e may do given the account before it.
func admitTransition(a Account, e events.Event) error {
	if c, ok := e.(events.AgentCreated); ok {
		if a.Exists() {
			return ErrAgentExists
		}
		return admitCreated(c)
	}
	if !a.Exists() {
		switch e.(type) {
		case events.TransferBounced, events.MessageBounced:
			return nil // a transfer or message to an id that never was bounces there
		}
		return fmt.Errorf("%w: %s on %s", ErrUnknownAgent, e.EventType(), a.ID)
	}
	if a.Status == StatusDead {
		switch e := e.(type) {
		case events.TransferBounced, events.PaymentRefused:
		case events.ExecutionEnded:
		case events.TransferReturned:
			if !e.Burned {
				return fmt.Errorf("%w: a dead agent receives nothing", ErrAgentDead)
			}
		case events.MessageBounced:
		case events.MessageReturned:
			if !e.Burned {
				return fmt.Errorf("%w: a dead agent receives nothing", ErrAgentDead)
			}
		default:
			return fmt.Errorf("%w: %s after the death", ErrAgentDead, e.EventType())
		}
	}
	if err, ok := admitMessage(a, e); ok {
		return err
	}
	switch e := e.(type) {
	case events.TransferSent:
		return positive(e.AmountMicros)
	case events.TransferReceived:
		return positive(e.AmountMicros)
	case events.TransferReturned:
		return positive(e.AmountMicros)
	case events.CreditsBurned:
		return positive(e.AmountMicros)
	case events.CreditsGranted:
		return positive(e.AmountMicros)
	case events.HumanRewarded:
		return positive(e.AmountMicros)
	case events.ChildSpawned:
		return admitSpawned(a, e)
	case events.HoldPlaced:
		if _, open := a.Holds[e.HoldID]; open {
			return fmt.Errorf("%w: hold %s placed twice", ErrExistsWithDifferentAmount, e.HoldID)
		}
		return positive(e.AmountMicros)
	case events.HoldIncreased:
		held, open := a.Holds[e.HoldID]
		if !open {
			return fmt.Errorf("%w: %s", ErrHoldNotOpen, e.HoldID)
		}
		if e.DeltaMicros <= 0 || e.AmountMicros-held != e.DeltaMicros {
			return fmt.Errorf("%w: hold %s holds %s, raised to %s by %s", ErrAmountNotRaised, e.HoldID, held, e.AmountMicros, e.DeltaMicros)
		}
	case events.HoldPosted:
		if err := nonNegative(e.AmountMicros, e.ReleasedMicros); err != nil {
			return err
		}
		return resolves(a, e.HoldID, e.AmountMicros+e.ReleasedMicros)
	case events.HoldVoided:
		return resolves(a, e.HoldID, e.AmountMicros)
	case events.PaymentRefused:
		if _, open := a.Holds[e.HoldID]; open {
			return fmt.Errorf("%w: %s", ErrRefusalWithOpenHold, e.HoldID)
		}
	case events.AgentDied:
		if e.BurnedMicros != a.BalanceMicros || len(e.VoidedHolds) != len(a.Holds) {
			return fmt.Errorf("%w: it burns %s and voids %d holds; the balance is %s, %d holds open",
				ErrDeathMismatch, e.BurnedMicros, len(e.VoidedHolds), a.BalanceMicros, len(a.Holds))
		}
		for _, h := range e.VoidedHolds {
			if _, open := a.Holds[h]; !open {
				return fmt.Errorf("%w: death voids %s", ErrHoldNotOpen, h)
			}
		}
	case events.ExecutionStarted:
		if _, running := a.Executions[e.ExecutionID]; running {
			return fmt.Errorf("%w: execution %s started twice", ErrInvalidExecution, e.ExecutionID)
		}
	case events.ExecutionResumed:
		x, running := a.Executions[e.ExecutionID]
		if !running {
			return fmt.Errorf("%w: %s", ErrExecutionNotRunning, e.ExecutionID)
		}
		if e.Attempt != x.Attempts()+1 {
			return fmt.Errorf("%w: attempt %d of %s after attempt %d", ErrInvalidExecution, e.Attempt, e.ExecutionID, x.Attempts())
		}
	case events.ExecutionEnded:
		x, running := a.Executions[e.ExecutionID]
		if !running {
			return fmt.Errorf("%w: %s", ErrExecutionNotRunning, e.ExecutionID)
		}
		return x.checkTokensUsed(e.TokensUsed)
	}
	return nil
}

// resolves checks that a posting or voiding resolves an open hold for
// exactly what it holds.
func resolves(a Account, hold string, amount events.Micros) error {
	held, open := a.Holds[hold]
	if !open {
		return fmt.Errorf("%w: %s", ErrHoldNotOpen, hold)
	}
	if held != amount {
		return fmt.Errorf("%w: hold %s holds %s, resolved for %s", ErrExistsWithDifferentAmount, hold, held, amount)
	}
	return nil
}

func positive(m events.Micros) error {
	if m <= 0 || m > events.AmountMax {
		return fmt.Errorf("%w: %s", ErrInvalidAmount, m)
	}
	return nil
}

func nonNegative(ms ...events.Micros) error {
	for _, m := range ms {
		if m < 0 || m > events.AmountMax {
			return fmt.Errorf("%w: %s", ErrInvalidAmount, m)
		}
	}
	return nil
}

// admitCreated checks a creation: its amounts within bounds and, for a
// spawned child (funded by its parent), what its decider checks: a
// lineage that starts with its parent, and a first bid its credits pay.
func admitCreated(c events.AgentCreated) error {
	if err := nonNegative(c.GrantMicros, c.FundedMicros); err != nil {
		return err
	}
	if c.FundedMicros == 0 {
		return nil
	}
	if c.GrantMicros != 0 || c.ParentID == "" || c.ParentID == c.AgentID || len(c.Lineage) == 0 || c.Lineage[0] != c.ParentID {
		return fmt.Errorf("%w: a funded creation with grant %s, parent %q and lineage %v", ErrInvalidSpawn, c.GrantMicros, c.ParentID, c.Lineage)
	}
	return validateInitialBid(c.InitialBid, c.FundedMicros)
}

// admitSpawned checks a spawn as its decider does.
func admitSpawned(a Account, e events.ChildSpawned) error {
	if err := events.ValidateID(e.ChildID); err != nil || e.ChildID == a.ID {
		return fmt.Errorf("%w: child %q", ErrInvalidSpawn, e.ChildID)
	}
	if err := nonNegative(e.CostMicros); err != nil {
		return err
	}
	if err := positive(e.InitialCreditsMicros); err != nil {
		return err
	}
	if len(e.Lineage) == 0 || e.Lineage[0] != a.ID {
		return fmt.Errorf("%w: lineage %v does not start with the parent %s", ErrInvalidSpawn, e.Lineage, a.ID)
	}
	return validateInitialBid(e.InitialBid, e.InitialCreditsMicros)
}
