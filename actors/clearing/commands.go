package clearing

import (
	"time"

	"github.com/agora-econ/agora/events"
)

// Command is a command of a clearing book: Decide takes nothing else, and
// the shell refuses any other (runtime.ErrWrongCommand).
type Command interface{ clearingCommand() }

func (Configure) clearingCommand()        {}
func (ListBid) clearingCommand()          {}
func (RaiseBid) clearingCommand()         {}
func (WithdrawBid) clearingCommand()      {}
func (CancelAgentBids) clearingCommand()  {}
func (Clear) clearingCommand()            {}
func (ReleaseExecution) clearingCommand() {}
func (RenewLease) clearingCommand()       {}

// The commands the clearing manager sends carry its trigger: the shell
// answers a redelivered one as already applied (events.Triggered).

func (c ListBid) Triggered() events.Trigger          { return c.Trigger }
func (c RaiseBid) Triggered() events.Trigger         { return c.Trigger }
func (c CancelAgentBids) Triggered() events.Trigger  { return c.Trigger }
func (c ReleaseExecution) Triggered() events.Trigger { return c.Trigger }

// Configure sets the markets and rules of the book (at every start).
type Configure struct {
	Markets             map[string]events.MarketTerms
	Rules               events.PriceRules
	LeaseTimeoutSeconds int64
	AllocationsMax      int
}

// ListBid lists the bid whose hold the bidder's account placed (sent by the
// clearing manager reacting to the hold).
type ListBid struct {
	BidID        string
	AgentID      string
	Terms        events.BidTerms
	AmountMicros events.Micros
	PlacedAt     time.Time
	Trigger      events.Trigger
}

// RaiseBid follows a raised hold.
type RaiseBid struct {
	BidID        string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// WithdrawBid takes an agent's own bid out of the book.
type WithdrawBid struct {
	BidID   string
	AgentID string
	Reason  string
}

// CancelAgentBids takes a dead agent's bids out of the book.
type CancelAgentBids struct {
	AgentID string
	Trigger events.Trigger
}

// Clear runs allocation cycle number Cycle at time At.
type Clear struct {
	Cycle uint64
	At    time.Time
}

// ReleaseExecution ends an execution's leases, exactly once.
type ReleaseExecution struct {
	ExecutionID string
	Reason      string
	Trigger     events.Trigger
}

// RenewLease makes a running execution's lease count again from At: the
// executor runs the execution again after a stop or a crash, and the time
// the economy was down must not use up its lease. The units stay leased; a
// lease never moves back; an execution whose lease is gone (released,
// timed out) is refused with ErrExecutionNotRunning, since taking its units
// again could lease more than supply.
type RenewLease struct {
	ExecutionID string
	At          time.Time
}
