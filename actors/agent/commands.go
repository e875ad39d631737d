package agent

import "github.com/agora-econ/agora/events"

// Create opens the account with a grant (minted). Ids, lineage and the grant
// are decided by the caller; the decider checks them.
type Create struct {
	ParentID    string
	Lineage     []string
	GrantMicros events.Micros
	Reason      string
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
	Bid     *events.BidTerms
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

// Die ends the agent: holds voided, balance burned. With IfBroke it
// applies only to an agent that is broke (available <= 0) and holds no bid
// or prompt, and is otherwise a no-op: the end-of-cycle rule.
type Die struct {
	Reason  string
	IfBroke bool
	Trigger events.Trigger
}
