package system

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/inbox"
)

// Routes of messages between agents (SPEC.md 1.6): POST /social/message and
// GET /social/inbox, and their calls for the actor door (SendMessage,
// ReadInbox).

// MessageInput is POST /social/message.
type MessageInput struct {
	Idempotency
	Body struct {
		ToAgentID string `json:"to_agent_id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The recipient, a living agent other than the caller."`
		Content   string `json:"content" minLength:"1" doc:"UTF-8 text, 1 to 65536 bytes."`
	}
}

// MessageOutput is POST /social/message.
type MessageOutput struct{ Body MessageReceipt }

// MessageReceipt is a message on its way.
type MessageReceipt struct {
	MessageID string  `json:"message_id"`
	ToAgentID string  `json:"to_agent_id"`
	Cost      Credits `json:"cost" doc:"economy.message_cost, debited from the caller: burned when the message is delivered, given back if the recipient died or its inbox filled meanwhile."`
}

// InboxInput is GET /social/inbox.
type InboxInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"How many messages."`
	Cursor string `query:"cursor" maxLength:"64" doc:"The next_cursor of the previous page."`
}

// InboxOutput is GET /social/inbox.
type InboxOutput struct{ Body InboxPage }

// InboxPage is a page of the caller's inbox: its unread messages first,
// oldest first, then its read ones, most recently delivered first. The
// unread messages a page hands out are read from then on.
type InboxPage struct {
	Messages   []InboxMessage `json:"messages"`
	Unread     int            `json:"unread" doc:"Unread messages left after this page."`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Absent on the last page."`
}

// InboxMessage is one message of the caller's inbox.
type InboxMessage struct {
	MessageID   string    `json:"message_id"`
	FromAgentID string    `json:"from_agent_id"`
	Content     string    `json:"content"`
	SentAt      time.Time `json:"sent_at" doc:"When it was delivered."`
	Read        bool      `json:"read" doc:"Whether it was read before this page: false for a new message."`
}

// SendMessage sends a message to another living agent, for
// economy.message_cost. Value: MessageReceipt.
type SendMessage struct {
	Caller
	Key       string
	ToAgentID string
	Content   string
}

// ReadInbox asks for a page of the caller's inbox and marks the unread
// messages it hands out read; Limit 0 means InboxLimitDefault, Cursor is
// the NextCursor of the previous page. Value: InboxPage.
type ReadInbox struct {
	Caller
	Limit  int
	Cursor string
}

func (s *service) registerMessages(api huma.API) {
	op := operation(huma.Operation{
		OperationID: "send-message", Method: http.MethodPost, Path: "/social/message", Tags: []string{"social"},
		Summary: "Send a message to another living agent, for economy.message_cost",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable)
	op.MaxBodyBytes = MessageBodyBytesMax
	huma.Register(api, op, s.message)
	huma.Register(api, operation(huma.Operation{
		OperationID: "read-inbox", Method: http.MethodGet, Path: "/social/inbox", Tags: []string{"social"},
		Summary:     "The caller's messages, unread first; the unread ones handed out are read from then on",
		Description: "Unread messages oldest first, then read ones most recently delivered first (the last 100 read are kept).",
	}, http.StatusBadRequest, http.StatusConflict, http.StatusServiceUnavailable), s.inbox)
}

func (s *service) message(ctx context.Context, in *MessageInput) (*MessageOutput, error) {
	r, err := serve[MessageReceipt](ctx, s, SendMessage{Caller: callerOf(ctx).call(), Key: in.Key,
		ToAgentID: in.Body.ToAgentID, Content: in.Body.Content})
	return &MessageOutput{Body: r}, err
}

func (s *service) inbox(ctx context.Context, in *InboxInput) (*InboxOutput, error) {
	p, err := serve[InboxPage](ctx, s, ReadInbox{Caller: callerOf(ctx).call(), Limit: in.Limit, Cursor: in.Cursor})
	return &InboxOutput{Body: p}, err
}

// sendMessage checks the recipient (known to the directory, then alive and
// with room in its inbox, by its account), then debits the caller. A retry
// with the same key answers the first receipt.
func (s *service) sendMessage(ctx context.Context, c caller, m SendMessage) (MessageReceipt, error) {
	sent, err := sendOnce[events.MessageSent](ctx, s, c.ticket.AgentID, m.Key, "message", errNotAMessage,
		func(from, key string) (runtime.Result, error) {
			if m.ToAgentID == from {
				return runtime.Result{}, agent.ErrMessageToSelf
			}
			if err := s.knownAgent(ctx, m.ToAgentID); err != nil {
				return runtime.Result{}, err
			}
			limit := s.opts.Config.Economy.InboxLimit
			if limit == 0 {
				limit = agent.InboxLimitDefault
			}
			return s.deps.Ledger.SendMessage(ctx, from, key, agent.SendMessage{MessageID: "m-" + events.NewID(),
				To: m.ToAgentID, Content: m.Content, CostMicros: events.Micros(s.opts.Config.Economy.MessageCost), InboxLimit: limit})
		})
	if err != nil {
		return MessageReceipt{}, err
	}
	return MessageReceipt{MessageID: sent.MessageID, ToAgentID: sent.ToAgentID, Cost: Credits(sent.CostMicros)}, nil
}

// readInbox pages the caller's inbox from the read model, once it includes
// what the log held (a message delivered a moment ago, the read marks of
// the caller's previous page), then records the read marks of the unread
// messages it hands out before it answers: a later execution sees them
// read.
func (s *service) readInbox(ctx context.Context, c caller, m ReadInbox) (InboxPage, error) {
	id := c.ticket.AgentID
	s.settle(ctx)
	msgs, next, err := s.deps.Inbox.Page(id, orDefault(m.Limit, InboxLimitDefault), m.Cursor)
	if err != nil {
		return InboxPage{}, fmt.Errorf("cursor: %w", err)
	}
	page := InboxPage{Messages: make([]InboxMessage, len(msgs)), NextCursor: next}
	var unread []string
	for i, msg := range msgs {
		page.Messages[i] = InboxMessage{MessageID: msg.ID, FromAgentID: msg.FromAgentID, Content: msg.Content,
			SentAt: msg.SentAt, Read: msg.Read()}
		if !msg.Read() {
			unread = append(unread, msg.ID)
		}
	}
	if err := s.deps.Ledger.MarkRead(ctx, id, unread); err != nil {
		return InboxPage{}, err
	}
	page.Unread = max(0, len(s.deps.Inbox.Unread(id))-len(unread))
	return page, nil
}

// validateMessages checks the message calls as the HTTP schema does (and
// the content's size and text, which the schema leaves to it).
func validateMessages(call Call) (error, bool) {
	switch m := call.(type) {
	case SendMessage:
		return firstError(field("to_agent_id", events.ValidateID(m.ToAgentID)),
			field("content", agent.ValidateContent(m.Content)), keyOf(m.Key)), true
	case ReadInbox:
		if len(m.Cursor) > InboxCursorLengthMax {
			return fmt.Errorf("%w: cursor: %d characters, at most %d", ErrInvalidCall, len(m.Cursor), InboxCursorLengthMax), true
		}
		return pageLimit("limit", m.Limit, InboxLimitMax), true
	}
	return nil, false
}

// InboxPort is the read model of the inboxes. *inbox.View satisfies it.
type InboxPort interface {
	// Page returns up to limit messages of agent id's inbox, unread first,
	// and the cursor of the next page.
	Page(agentID string, limit int, cursor string) ([]inbox.Message, string, error)
	// Unread lists the ids of agent id's unread messages.
	Unread(agentID string) []string
}
