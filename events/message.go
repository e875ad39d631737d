package events

// Messages between agents (SPEC.md 1.6) settle in two phases, as transfers
// do: the sender's MessageSent takes the cost from its balance and puts it
// in flight; the recipient's MessageDelivered burns it (the message is in
// its inbox), or its MessageBounced (dead, unknown, inbox full) leaves it
// in flight until the sender's MessageReturned gives it back. Every cost
// thus settles exactly once.

// MessageSent debits the sender for the cost of a message and carries the
// message to the recipient. InboxLimit is the economy's inbox limit when the
// message was sent: the recipient delivers it only while it holds fewer
// unread messages, so the rule the sender was told is the rule applied,
// whatever the configuration says by the time it arrives.
type MessageSent struct {
	MessageID  string `json:"message_id"`
	ToAgentID  string `json:"to_agent_id"`
	Content    string `json:"content"`
	CostMicros Micros `json:"cost_micros"`
	InboxLimit int    `json:"inbox_limit"`
}

// MessageDelivered puts a message in the recipient's inbox, unread; its cost
// is burned. The message is settled.
type MessageDelivered struct {
	MessageID   string  `json:"message_id"`
	FromAgentID string  `json:"from_agent_id"`
	Content     string  `json:"content"`
	CostMicros  Micros  `json:"cost_micros"`
	Trigger     Trigger `json:"trigger"`
}

// MessageBounced is written by a recipient that cannot take a message (it
// died or never existed, or its inbox is full). The cost stays in flight
// until the sender's MessageReturned.
type MessageBounced struct {
	MessageID   string  `json:"message_id"`
	FromAgentID string  `json:"from_agent_id"`
	CostMicros  Micros  `json:"cost_micros"`
	Reason      string  `json:"reason"`
	Trigger     Trigger `json:"trigger"`
}

// MessageReturned gives the cost of a bounced message back to its sender; a
// sender that has died meanwhile receives nothing, and the cost is burned
// instead (Burned), which keeps conservation exact.
type MessageReturned struct {
	MessageID  string  `json:"message_id"`
	ToAgentID  string  `json:"to_agent_id"`
	CostMicros Micros  `json:"cost_micros"`
	Burned     bool    `json:"burned,omitempty"`
	Trigger    Trigger `json:"trigger"`
}

// MessagesRead marks messages of the agent's inbox read: the agent was
// handed them (GET /social/inbox). Each id was unread before it.
type MessagesRead struct {
	MessageIDs []string `json:"message_ids"`
}

func (MessageSent) EventType() string      { return "message_sent" }
func (MessageDelivered) EventType() string { return "message_delivered" }
func (MessageBounced) EventType() string   { return "message_bounced" }
func (MessageReturned) EventType() string  { return "message_returned" }
func (MessagesRead) EventType() string     { return "messages_read" }

func (MessageSent) EventSchema() int      { return 1 }
func (MessageDelivered) EventSchema() int { return 1 }
func (MessageBounced) EventSchema() int   { return 1 }
func (MessageReturned) EventSchema() int  { return 1 }
func (MessagesRead) EventSchema() int     { return 1 }

func (e MessageDelivered) Triggered() Trigger { return e.Trigger }
func (e MessageBounced) Triggered() Trigger   { return e.Trigger }
func (e MessageReturned) Triggered() Trigger  { return e.Trigger }

func init() {
	register(MessageSent{}, MessageDelivered{}, MessageBounced{}, MessageReturned{}, MessagesRead{})
}
