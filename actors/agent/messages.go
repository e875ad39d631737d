package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Messages between agents (SPEC.md 1.6), in two phases as transfers are:
// the sender's account decides SendMessage into MessageSent (the cost leaves
// its balance and is in flight); the transfer manager obliges the recipient
// to ReceiveMessage, which delivers it (the cost is burned) or bounces it
// (dead, unknown, inbox full); a bounce obliges the sender to
// ReturnMessage, which gives the cost back. The recipient's account keeps
// the ids of its unread messages, so that its inbox is bounded and a
// message is marked read once; the messages themselves are in the log and
// in the inbox read model (projections/inbox).

// Limits of messages.
const (
	// MessageBytesMax bounds a message's content, in bytes of UTF-8
	// (SPEC.md 1.6: 64 KiB).
	MessageBytesMax = 64 << 10
	// InboxLimitDefault is economy.inbox_limit when the configuration
	// gives none: the unread messages an inbox holds.
	InboxLimitDefault = 1000
	// InboxLimitMax bounds economy.inbox_limit: the account keeps the id
	// of every unread message, and the inbox read model its content, so
	// the limit bounds both (at most InboxLimitMax * MessageBytesMax of
	// unread content per agent).
	InboxLimitMax = 10_000
)

// The rejections of messages.
var (
	// ErrMessageToSelf: a message goes to another agent.
	ErrMessageToSelf = errors.New("message to self")
	// ErrInvalidMessage: content empty or not UTF-8 text, or an inbox
	// limit out of range.
	ErrInvalidMessage = errors.New("invalid message")
	// ErrMessageTooLarge: content above MessageBytesMax bytes.
	ErrMessageTooLarge = errors.New("message content too large")
	// ErrInboxFull: the recipient holds its inbox limit of unread
	// messages; nothing is charged.
	ErrInboxFull = errors.New("recipient's inbox is full")
)

func (SendMessage) agentCommand()    {}
func (ReceiveMessage) agentCommand() {}
func (ReturnMessage) agentCommand()  {}
func (MarkRead) agentCommand()       {}

func (c ReceiveMessage) Triggered() events.Trigger { return c.Trigger }
func (c ReturnMessage) Triggered() events.Trigger  { return c.Trigger }

// SendMessage debits this account for the cost of a message to To (the
// cost is decided by the caller, economy.message_cost, as amounts are; it
// may be 0). InboxLimit is economy.inbox_limit, carried in the event to the
// recipient's delivery.
type SendMessage struct {
	MessageID  string
	To         string
	Content    string
	CostMicros events.Micros
	InboxLimit int
}

// ReceiveMessage delivers a message to this account (sent by the transfer
// manager), or bounces it.
type ReceiveMessage struct {
	MessageID  string
	From       string
	Content    string
	CostMicros events.Micros
	InboxLimit int
	Trigger    events.Trigger
}

// ReturnMessage gives the cost of a bounced message back (sent by the
// transfer manager).
type ReturnMessage struct {
	MessageID  string
	To         string
	CostMicros events.Micros
	Trigger    events.Trigger
}

// MarkRead marks messages of this account's inbox read. Ids that are not
// unread (read already, by a concurrent read, or unknown) are left out of
// the event; none left: nothing is recorded.
type MarkRead struct {
	MessageIDs []string
}

// UnreadCount is the number of unread messages in the account's inbox.
func (a Account) UnreadCount() int { return len(a.Unread) }

// ValidateContent checks a message's content: non-empty UTF-8 text of at
// most MessageBytesMax bytes.
func ValidateContent(content string) error {
	switch {
	case content == "":
		return fmt.Errorf("%w: content is empty", ErrInvalidMessage)
	case len(content) > MessageBytesMax:
		return fmt.Errorf("%w: %d bytes, at most %d are allowed", ErrMessageTooLarge, len(content), MessageBytesMax)
	case !utf8.ValidString(content):
		return fmt.Errorf("%w: content is not UTF-8 text", ErrInvalidMessage)
	}
	return nil
}

// ValidateInboxLimit checks an inbox limit: 1 to InboxLimitMax.
func ValidateInboxLimit(limit int) error {
	if limit < 1 || limit > InboxLimitMax {
		return fmt.Errorf("%w: inbox limit %d is not within 1 to %d", ErrInvalidMessage, limit, InboxLimitMax)
	}
	return nil
}

// validMessage checks what a message from one agent carries, as the
// command that sends it and the event that records it both do: another
// agent to go to, its content and the inbox limit it is delivered under.
func validMessage(from, to, content string, inboxLimit int) error {
	if to == from {
		return ErrMessageToSelf
	}
	if err := ValidateContent(content); err != nil {
		return err
	}
	return ValidateInboxLimit(inboxLimit)
}

func validCost(cost events.Micros) error {
	if cost < 0 || cost > events.AmountMax {
		return fmt.Errorf("%w: message cost %s", ErrInvalidAmount, cost)
	}
	return nil
}

// decideMessage decides the message commands; ok is false for any other
// command.
func decideMessage(a Account, cmd Command) (e events.Event, err error, ok bool) {
	switch c := cmd.(type) {
	case SendMessage:
		e, err = decideSendMessage(a, c)
	case ReceiveMessage:
		e, err = decideReceiveMessage(a, c)
	case ReturnMessage:
		e, err = decideReturnMessage(a, c)
	case MarkRead:
		e, err = decideMarkRead(a, c)
	default:
		return nil, nil, false
	}
	return e, err, true
}

func decideSendMessage(a Account, c SendMessage) (events.Event, error) {
	if err := events.ValidateID(c.To); err != nil {
		return nil, err
	}
	if err := events.ValidateID(c.MessageID); err != nil {
		return nil, err
	}
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, a.ID)
	}
	if err := validMessage(a.ID, c.To, c.Content, c.InboxLimit); err != nil {
		return nil, err
	}
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if err := validCost(c.CostMicros); err != nil {
		return nil, err
	}
	if c.CostMicros > a.Available() {
		return nil, fmt.Errorf("%w: the message costs %s, %s available", ErrInsufficientCredits, c.CostMicros, a.Available())
	}
	return events.MessageSent{MessageID: c.MessageID, ToAgentID: c.To, Content: c.Content, CostMicros: c.CostMicros,
		InboxLimit: c.InboxLimit}, nil
}

// decideReceiveMessage delivers to a living account with room in its inbox;
// any other account bounces the message so that its sender gets the cost
// back.
func decideReceiveMessage(a Account, c ReceiveMessage) (events.Event, error) {
	if err := validCost(c.CostMicros); err != nil {
		return nil, err
	}
	reason := ""
	switch {
	case !a.Exists():
		reason = "recipient is unknown"
	case a.Status != StatusAlive:
		reason = "recipient is dead"
	case len(a.Unread) >= c.InboxLimit:
		reason = fmt.Sprintf("recipient's inbox is full (%d unread)", len(a.Unread))
	}
	if _, dup := a.Unread[c.MessageID]; dup && reason == "" {
		return nil, nil // delivered already: the same message once
	}
	if reason != "" {
		return events.MessageBounced{MessageID: c.MessageID, FromAgentID: c.From, CostMicros: c.CostMicros, Reason: reason,
			Trigger: c.Trigger}, nil
	}
	return events.MessageDelivered{MessageID: c.MessageID, FromAgentID: c.From, Content: c.Content, CostMicros: c.CostMicros,
		Trigger: c.Trigger}, nil
}

// decideReturnMessage gives a bounced message's cost back, or burns it if
// the sender died meanwhile, as a returned transfer is.
func decideReturnMessage(a Account, c ReturnMessage) (events.Event, error) {
	if err := validCost(c.CostMicros); err != nil {
		return nil, err
	}
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, a.ID)
	}
	burned := a.Status == StatusDead || a.BalanceMicros > events.AmountMax-c.CostMicros
	return events.MessageReturned{MessageID: c.MessageID, ToAgentID: c.To, CostMicros: c.CostMicros, Burned: burned,
		Trigger: c.Trigger}, nil
}

func decideMarkRead(a Account, c MarkRead) (events.Event, error) {
	if !a.Exists() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownAgent, a.ID)
	}
	if a.Status == StatusDead {
		return nil, fmt.Errorf("%w: %s", ErrAgentDead, a.ID)
	}
	if len(c.MessageIDs) > InboxLimitMax {
		return nil, fmt.Errorf("%w: %d ids marked read at once, at most %d", ErrInvalidMessage, len(c.MessageIDs), InboxLimitMax)
	}
	var ids []string
	for _, id := range c.MessageIDs {
		if _, unread := a.Unread[id]; unread && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return events.MessagesRead{MessageIDs: ids}, nil
}

// evolveMessage applies a message event. Like Evolve, it changes the
// unread set in place: the caller gives up the account passed in.
func evolveMessage(a Account, e events.Event) Account {
	switch e := e.(type) {
	case events.MessageSent:
		a.BalanceMicros -= e.CostMicros
		a.SpentMicros += e.CostMicros
	case events.MessageReturned:
		if !e.Burned {
			a.BalanceMicros += e.CostMicros
			a.SpentMicros -= e.CostMicros
		}
	case events.MessageDelivered:
		if a.Unread == nil {
			a.Unread = map[string]struct{}{}
		}
		a.Unread[e.MessageID] = struct{}{}
	case events.MessagesRead:
		for _, id := range e.MessageIDs {
			delete(a.Unread, id)
		}
		if len(a.Unread) == 0 {
			a.Unread = nil
		}
	}
	return a
}

// admitMessage checks what a message event may do given the account before
// it (the balance is checked by Admit after it). ok is false for any
// other event.
func admitMessage(a Account, e events.Event) (err error, ok bool) {
	switch e := e.(type) {
	case events.MessageSent:
		if err := validMessage(a.ID, e.ToAgentID, e.Content, e.InboxLimit); err != nil {
			return err, true
		}
		return validCost(e.CostMicros), true
	case events.MessageDelivered:
		if _, dup := a.Unread[e.MessageID]; dup {
			return fmt.Errorf("%w: message %s delivered twice", ErrInvalidMessage, e.MessageID), true
		}
		if len(a.Unread) >= InboxLimitMax {
			return ErrInboxFull, true
		}
		return validCost(e.CostMicros), true
	case events.MessageBounced:
		return validCost(e.CostMicros), true
	case events.MessageReturned:
		return validCost(e.CostMicros), true
	case events.MessagesRead:
		if len(e.MessageIDs) == 0 {
			return fmt.Errorf("%w: no message marked read", ErrInvalidMessage), true
		}
		for i, id := range e.MessageIDs {
			if _, unread := a.Unread[id]; !unread || slices.Contains(e.MessageIDs[:i], id) {
				return fmt.Errorf("%w: message %s is not unread", ErrInvalidMessage, id), true
			}
		}
		return nil, true
	}
	return nil, false
}

// messageBalance is what a message event does to the balance, for Admit's
// check after it.
func messageBalance(balance events.Micros, e events.Event) events.Micros {
	switch e := e.(type) {
	case events.MessageSent:
		return balance - e.CostMicros
	case events.MessageReturned:
		if !e.Burned {
			return balance + e.CostMicros
		}
	}
	return balance
}

// reactMessages is the transfer manager's part for messages: a MessageSent
// obliges the recipient to receive (or bounce) it, a MessageBounced obliges
// the sender to take the cost back.
func reactMessages(from string, t events.Trigger, e events.Event) []runtime.Reaction {
	switch e := e.(type) {
	case events.MessageSent:
		return []runtime.Reaction{{Kind: events.KindAgent, ID: e.ToAgentID, Command: ReceiveMessage{
			MessageID: e.MessageID, From: from, Content: e.Content, CostMicros: e.CostMicros, InboxLimit: e.InboxLimit, Trigger: t}}}
	case events.MessageBounced:
		return []runtime.Reaction{{Kind: events.KindAgent, ID: e.FromAgentID, Command: ReturnMessage{
			MessageID: e.MessageID, To: from, CostMicros: e.CostMicros, Trigger: t}}}
	}
	return nil
}

// messageTypes are the events the transfer manager reacts to for messages.
var messageTypes = []string{events.MessageSent{}.EventType(), events.MessageBounced{}.EventType()}

// Published is what an account publishes of its durable state (Host.Peek):
// its status, and the number of its unread messages, so that a sender's
// check of the recipient (alive, inbox not full) needs no round trip to
// the recipient's actor.
type Published struct {
	Status Status
	Unread int
}

func publish(a Account) any { return Published{Status: a.Status, Unread: len(a.Unread)} }

// SendMessage sends a message from one agent to another: the front door
// checks the recipient first (valid id, not the sender, known, alive, with
// room in its inbox), so that a message that cannot be delivered is
// refused before anything is charged. A recipient that dies, or whose inbox
// fills, after the check bounces the message and its cost goes back.
func (a *Accounts) SendMessage(ctx context.Context, from, key string, m SendMessage) (runtime.Result, error) {
	if err := events.ValidateID(m.To); err != nil {
		return runtime.Result{}, err
	}
	if m.To == from {
		return runtime.Result{}, ErrMessageToSelf
	}
	p, err := a.published(ctx, m.To)
	if err != nil {
		return runtime.Result{}, err
	}
	switch {
	case p.Status == StatusNone:
		return runtime.Result{}, fmt.Errorf("%w: %s", ErrUnknownAgent, m.To)
	case p.Status == StatusDead:
		return runtime.Result{}, fmt.Errorf("%w: %s", ErrAgentDead, m.To)
	case m.InboxLimit > 0 && p.Unread >= m.InboxLimit:
		return runtime.Result{}, fmt.Errorf("%w: %s holds %d unread messages, the limit is %d", ErrInboxFull, m.To, p.Unread, m.InboxLimit)
	}
	return a.Do(ctx, from, key, m)
}

// published is what agent id's actor published (no round trip when it is
// running), else asked of it.
func (a *Accounts) published(ctx context.Context, id string) (Published, error) {
	if v, ok := a.host.Peek(events.KindAgent, id); ok {
		if p, ok := v.(Published); ok && p.Status != StatusNone {
			return p, nil
		}
	}
	return runtime.Inspect(ctx, a.host, events.KindAgent, id, func(s Account) Published { return publish(s).(Published) })
}

// MarkRead records that agent id was handed its unread messages ids (GET
// /social/inbox): they are read from then on. Ids no longer unread are
// passed over, so two readings at once mark each message once.
func (a *Accounts) MarkRead(ctx context.Context, id string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := a.Do(ctx, id, "", MarkRead{MessageIDs: ids})
	return err
}
