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
	Trigger      events.Trigger
}

// IncreaseHold raises an open hold to AmountMicros (the new total).
type IncreaseHold struct {
	HoldID       string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// PostHold pays an open hold: the amount is burned.
type PostHold struct {
	HoldID  string
	Trigger events.Trigger
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

// Die ends the agent: holds voided, balance burned.
type Die struct {
	Reason  string
	Trigger events.Trigger
}
