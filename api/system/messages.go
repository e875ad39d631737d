package system

import (
	"github.com/agora-econ/agora/events"
)

// The System Service as actor messages (SPEC.md 3.2: "Go agents may also
// send actor messages"). Every operation of the HTTP API is one of the
// calls below, sent to the service's actor (Service.PID) and answered with
// a Reply; the HTTP handlers make the same calls, answered by the same
// function (service.answer), so the two can never drift apart. The answers are the bodies of the HTTP
// answers (Balance, TransferReceipt, BidPage ...), so an agent sees the
// same thing either way. Money and quantities are exact integers:
// events.Micros in calls, Credits and Units (the same integers, written as
// JSON decimals) in answers. Errors are the typed rejections of the domain
// (agent.ErrInsufficientCredits, clearing.ErrBelowReserve,
// ticket.ErrExpired, ErrInvalidCall ...), the same the HTTP API maps to its
// statuses.
//
// Every call carries the execution's token: as over HTTP, the token names
// the agent, so no call takes the caller's own id. A command's Key is its
// Idempotency-Key: the same call retried with the same key answers the
// first result and applies once; an empty key makes every call new.

// Call is implemented by every message the service's actor answers.
type Call interface {
	// bearer is the execution token the call carries.
	bearer() string
}

// Caller is the part every call shares: the execution token (AGORA_TOKEN).
type Caller struct {
	Token string
}

func (c Caller) bearer() string { return c.Token }

// Reply is the service actor's answer to a call: Value (of the type each
// call documents) or the error that rejected it, in which case nothing
// changed.
type Reply struct {
	Value any
	Err   error
}

// GetBalance asks for the caller's account. Value: Balance.
type GetBalance struct{ Caller }

// Transfer sends credits to another living agent. Value: TransferReceipt.
type Transfer struct {
	Caller
	Key          string
	ToAgentID    string
	AmountMicros events.Micros
	Memo         string
}

// GetHistory asks for the caller's transactions, newest first; Limit 0
// means HistoryLimitDefault. Value: History.
type GetHistory struct {
	Caller
	Limit int
}

// GetMarketState asks for every market and the clearing's cycle. Value:
// MarketState.
type GetMarketState struct{ Caller }

// ListBids asks for a page of the public bid book in clearing order,
// optionally only bids naming Resource; Limit 0 means BidsLimitDefault,
// Cursor is the NextCursor of the previous page. Value: BidPage.
type ListBids struct {
	Caller
	Resource string
	Limit    int
	Cursor   string
}

// PlaceBid bids for a bundle (the caller's next execution, or its
// beneficiary's). Value: BidStatus.
type PlaceBid struct {
	Caller
	Key          string
	Terms        events.BidTerms
	AmountMicros events.Micros
}

// RaiseBid raises one of the caller's open bids to AmountMicros. Value:
// BidStatus.
type RaiseBid struct {
	Caller
	Key          string
	BidID        string
	AmountMicros events.Micros
}

// WithdrawBid takes one of the caller's open bids out of the book; its
// hold is released. Value: BidStatus.
type WithdrawBid struct {
	Caller
	Key   string
	BidID string
}

// ListAgents asks for a page of the ids of the living agents in ascending
// order, after After; Limit 0 means AgentsLimitDefault. Value: AgentPage.
type ListAgents struct {
	Caller
	After string
	Limit int
}

// GetExecution asks for the caller's running execution. Value: Execution.
type GetExecution struct{ Caller }

// GetConfig asks for the public configuration. Value: PublicConfig.
type GetConfig struct{ Caller }

// GetTime asks for the server's time. Value: Time.
type GetTime struct{ Caller }

// Infer is an OpenAI-compatible chat completion request (the JSON body),
// forwarded to the configured upstream with its completion capped to the
// tokens the execution has left, and metered. Value: Completion.
type Infer struct {
	Caller
	Request []byte
}

// Completion is the upstream's answer as it sent it, and the tokens the
// execution has left after it.
type Completion struct {
	Answer          []byte
	TokensRemaining int64
}
