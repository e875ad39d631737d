package agent_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// The message commands' table: given the events of account "a", when a
// command, then the event (or nil) or the typed rejection, and the balance
// and unread ids after it.
func TestDecideMessages(t *testing.T) {
	const tm = agent.TransferManagerName
	send := func(cost events.Micros) agent.SendMessage {
		return agent.SendMessage{MessageID: "m1", To: "b", Content: "hello", CostMicros: cost, InboxLimit: 2}
	}
	receive := func(id string, seq uint64) agent.ReceiveMessage {
		return agent.ReceiveMessage{MessageID: id, From: "b", Content: "hi", CostMicros: cr(1), InboxLimit: 2, Trigger: trig(tm, seq)}
	}
	delivered := func(id string, seq uint64) events.MessageDelivered {
		return events.MessageDelivered{MessageID: id, FromAgentID: "b", Content: "hi", CostMicros: cr(1), Trigger: trig(tm, seq)}
	}
	dead := events.AgentDied{BurnedMicros: cr(10), Reason: "test"}
	tests := []struct {
		name    string
		given   []events.Event
		cmd     any
		want    events.Event
		err     error
		balance events.Micros
		unread  []string
	}{
		{name: "a message sent", given: given(created(cr(10))), cmd: send(cr(1)),
			want: events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "hello", CostMicros: cr(1), InboxLimit: 2}, balance: cr(9)},
		{name: "a free message", given: given(created(cr(10))), cmd: send(0),
			want: events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "hello", InboxLimit: 2}, balance: cr(10)},
		{name: "all the balance", given: given(created(cr(1))), cmd: send(cr(1)),
			want: events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "hello", CostMicros: cr(1), InboxLimit: 2}, balance: 0},
		{name: "more than available", given: given(created(cr(3)), placed("h", cr(3))), cmd: send(cr(1)), err: agent.ErrInsufficientCredits, balance: cr(3)},
		{name: "a negative cost", given: given(created(cr(3))), cmd: send(-1), err: agent.ErrInvalidAmount, balance: cr(3)},
		{name: "to self", given: given(created(cr(3))), cmd: agent.SendMessage{MessageID: "m1", To: acctID, Content: "x", InboxLimit: 1},
			err: agent.ErrMessageToSelf, balance: cr(3)},
		{name: "empty", given: given(created(cr(3))), cmd: agent.SendMessage{MessageID: "m1", To: "b", InboxLimit: 1},
			err: agent.ErrInvalidMessage, balance: cr(3)},
		{name: "too large", given: given(created(cr(3))),
			cmd: agent.SendMessage{MessageID: "m1", To: "b", Content: strings.Repeat("x", agent.MessageBytesMax+1), InboxLimit: 1},
			err: agent.ErrMessageTooLarge, balance: cr(3)},
		{name: "not UTF-8", given: given(created(cr(3))), cmd: agent.SendMessage{MessageID: "m1", To: "b", Content: "\xff", InboxLimit: 1},
			err: agent.ErrInvalidMessage, balance: cr(3)},
		{name: "no inbox limit", given: given(created(cr(3))), cmd: agent.SendMessage{MessageID: "m1", To: "b", Content: "x"},
			err: agent.ErrInvalidMessage, balance: cr(3)},
		{name: "a bad recipient id", given: given(created(cr(3))), cmd: agent.SendMessage{MessageID: "m1", To: "B!", Content: "x", InboxLimit: 1},
			err: events.ErrInvalidID, balance: cr(3)},
		{name: "from a dead agent", given: given(created(cr(10)), dead), cmd: send(0), err: agent.ErrAgentDead},
		{name: "from nobody", cmd: send(0), err: agent.ErrUnknownAgent},
		{name: "delivered", given: given(created(cr(3))), cmd: receive("m1", 5), want: delivered("m1", 5), balance: cr(3), unread: []string{"m1"}},
		{name: "delivered again (redelivery)", given: given(created(cr(3)), delivered("m1", 5)), cmd: receive("m1", 5),
			balance: cr(3), unread: []string{"m1"}},
		{name: "inbox full", given: given(created(cr(3)), delivered("m1", 5), delivered("m2", 6)), cmd: receive("m3", 7),
			want:    events.MessageBounced{MessageID: "m3", FromAgentID: "b", CostMicros: cr(1), Reason: "recipient's inbox is full (2 unread)", Trigger: trig(tm, 7)},
			balance: cr(3), unread: []string{"m1", "m2"}},
		{name: "to a dead agent", given: given(created(cr(10)), dead), cmd: receive("m1", 5),
			want: events.MessageBounced{MessageID: "m1", FromAgentID: "b", CostMicros: cr(1), Reason: "recipient is dead", Trigger: trig(tm, 5)}},
		{name: "to nobody", cmd: receive("m1", 5),
			want: events.MessageBounced{MessageID: "m1", FromAgentID: "b", CostMicros: cr(1), Reason: "recipient is unknown", Trigger: trig(tm, 5)}},
		{name: "a cost returned", given: given(created(cr(3)), events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "x", CostMicros: cr(1), InboxLimit: 1}),
			cmd:  agent.ReturnMessage{MessageID: "m1", To: "b", CostMicros: cr(1), Trigger: trig(tm, 9)},
			want: events.MessageReturned{MessageID: "m1", ToAgentID: "b", CostMicros: cr(1), Trigger: trig(tm, 9)}, balance: cr(3)},
		{name: "a cost returned to a dead sender is burned",
			given: given(created(cr(3)), events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "x", CostMicros: cr(1), InboxLimit: 1},
				events.AgentDied{BurnedMicros: cr(2)}),
			cmd:  agent.ReturnMessage{MessageID: "m1", To: "b", CostMicros: cr(1), Trigger: trig(tm, 9)},
			want: events.MessageReturned{MessageID: "m1", ToAgentID: "b", CostMicros: cr(1), Burned: true, Trigger: trig(tm, 9)}},
		{name: "read", given: given(created(cr(3)), delivered("m1", 5), delivered("m2", 6)),
			cmd:  agent.MarkRead{MessageIDs: []string{"m2", "m2", "zz"}},
			want: events.MessagesRead{MessageIDs: []string{"m2"}}, balance: cr(3), unread: []string{"m1"}},
		{name: "read already", given: given(created(cr(3)), delivered("m1", 5), events.MessagesRead{MessageIDs: []string{"m1"}}),
			cmd: agent.MarkRead{MessageIDs: []string{"m1"}}, balance: cr(3)},
		{name: "read by a dead agent", given: given(created(cr(10)), delivered("m1", 5), dead),
			cmd: agent.MarkRead{MessageIDs: []string{"m1"}}, err: agent.ErrAgentDead, unread: []string{"m1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decide(tt.given, tt.cmd)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || got != nil {
					t.Fatalf("got %v, %v; want %v", got, err, tt.err)
				}
			} else if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, %v; want %#v", got, err, tt.want)
			}
			after := fold(tt.given...)
			if got != nil {
				if err := agent.Admit(after, got); err != nil {
					t.Fatalf("the decided event is inadmissible: %v", err)
				}
				after = agent.Evolve(after, got)
			}
			if after.BalanceMicros != tt.balance {
				t.Errorf("balance %s, want %s", after.BalanceMicros, tt.balance)
			}
			if unread := slices.Sorted(maps.Keys(after.Unread)); !slices.Equal(unread, tt.unread) {
				t.Errorf("unread %v, want %v", unread, tt.unread)
			}
		})
	}
}

// Admit refuses message events that break the account's rules, as read
// from the log.
func TestAdmitMessages(t *testing.T) {
	alive := fold(created(cr(2)))
	withUnread := agent.Evolve(alive, events.MessageDelivered{MessageID: "m1", FromAgentID: "b", Content: "x"})
	dead := agent.Evolve(alive, events.AgentDied{BurnedMicros: cr(2)})
	sent := func(cost events.Micros, content string, limit int) events.MessageSent {
		return events.MessageSent{MessageID: "m", ToAgentID: "b", Content: content, CostMicros: cost, InboxLimit: limit}
	}
	tests := []struct {
		name  string
		given agent.Account
		event events.Event
		want  error
	}{
		{"a message sent", alive, sent(cr(2), "x", 1), nil},
		{"an overspend", alive, sent(cr(3), "x", 1), agent.ErrInsufficientCredits},
		{"a negative cost", alive, sent(-1, "x", 1), agent.ErrInvalidAmount},
		{"an empty message", alive, sent(1, "", 1), agent.ErrInvalidMessage},
		{"a message too large", alive, sent(1, strings.Repeat("x", agent.MessageBytesMax+1), 1), agent.ErrMessageTooLarge},
		{"no inbox limit", alive, sent(1, "x", 0), agent.ErrInvalidMessage},
		{"to self", alive, events.MessageSent{MessageID: "m", ToAgentID: acctID, Content: "x", InboxLimit: 1}, agent.ErrMessageToSelf},
		{"sent by a dead agent", dead, sent(0, "x", 1), agent.ErrAgentDead},
		{"sent by nobody", agent.New("ghost"), sent(0, "x", 1), agent.ErrUnknownAgent},
		{"delivered", alive, events.MessageDelivered{MessageID: "m1"}, nil},
		{"delivered twice", withUnread, events.MessageDelivered{MessageID: "m1"}, agent.ErrInvalidMessage},
		{"delivered to a dead agent", dead, events.MessageDelivered{MessageID: "m1"}, agent.ErrAgentDead},
		{"bounced by a dead agent", dead, events.MessageBounced{MessageID: "m1"}, nil},
		{"bounced by nobody", agent.New("ghost"), events.MessageBounced{MessageID: "m1"}, nil},
		{"returned to a dead agent", dead, events.MessageReturned{MessageID: "m1", CostMicros: 1}, agent.ErrAgentDead},
		{"returned burned to a dead agent", dead, events.MessageReturned{MessageID: "m1", CostMicros: 1, Burned: true}, nil},
		{"returned past the maximum", alive, events.MessageReturned{MessageID: "m1", CostMicros: events.AmountMax}, agent.ErrInadmissible},
		{"read", withUnread, events.MessagesRead{MessageIDs: []string{"m1"}}, nil},
		{"read twice in one", withUnread, events.MessagesRead{MessageIDs: []string{"m1", "m1"}}, agent.ErrInvalidMessage},
		{"read, not unread", alive, events.MessagesRead{MessageIDs: []string{"m1"}}, agent.ErrInvalidMessage},
		{"read nothing", withUnread, events.MessagesRead{}, agent.ErrInvalidMessage},
		{"read by a dead agent", agent.Evolve(withUnread, events.AgentDied{BurnedMicros: cr(2)}), events.MessagesRead{MessageIDs: []string{"m1"}}, agent.ErrAgentDead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := agent.Admit(tt.given, tt.event)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Admit = %v; want it admitted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, agent.ErrInadmissible) {
				t.Fatalf("Admit = %v; want %v (and ErrInadmissible)", err, tt.want)
			}
		})
	}
}

// The transfer manager obliges the recipient of a message to receive it and
// the sender of a bounced one to take its cost back, with its trigger.
func TestManagerReactsToMessages(t *testing.T) {
	m := agent.TransferManager()
	for _, typ := range []string{"message_sent", "message_bounced"} {
		if !slices.Contains(m.Types, typ) {
			t.Fatalf("the transfer manager does not follow %s", typ)
		}
	}
	rec := func(id string, e events.Event) events.Record {
		env, err := events.Encode(events.KindAgent, id, e, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return events.Record{Seq: 7, Envelope: env}
	}
	tr := trig(agent.TransferManagerName, 7)
	sent := events.MessageSent{MessageID: "m1", ToAgentID: "b", Content: "hi", CostMicros: 3, InboxLimit: 4}
	got := m.React(rec("a", sent), sent)
	want := []runtime.Reaction{{Kind: events.KindAgent, ID: "b", Command: agent.ReceiveMessage{MessageID: "m1", From: "a",
		Content: "hi", CostMicros: 3, InboxLimit: 4, Trigger: tr}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sent: %+v", got)
	}
	bounced := events.MessageBounced{MessageID: "m1", FromAgentID: "a", CostMicros: 3, Reason: "dead"}
	got = m.React(rec("b", bounced), bounced)
	want = []runtime.Reaction{{Kind: events.KindAgent, ID: "a", Command: agent.ReturnMessage{MessageID: "m1", To: "b", CostMicros: 3, Trigger: tr}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("bounced: %+v", got)
	}
}
