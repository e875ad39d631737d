package system_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/inbox"
)

// countTypes counts the records of each type in the log.
func (e *economyForTest) countTypes() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	err := e.log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error {
		out[r.Envelope.Type]++
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// TestMessageDeliveredAndRead: a message costs its sender message_cost
// once (a retry with the same key answers the first receipt), reaches the
// recipient's inbox, is handed out unread once and is read at every later
// reading, the read mark recorded in the log.
func TestMessageDeliveredAndRead(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 10)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	bob := e.issue("bob", 0, time.Now().Add(time.Minute))
	e.settle()

	body := map[string]any{"to_agent_id": "bob", "content": "héllo, bob"}
	first := e.ok(e.call("POST", "/social/message", alice, body, "Idempotency-Key", "k1"))
	again := e.ok(e.call("POST", "/social/message", alice, body, "Idempotency-Key", "k1"))
	if first["message_id"] == "" || first["message_id"] != again["message_id"] || jsonText(first["cost"]) != "1" || first["to_agent_id"] != "bob" {
		t.Fatalf("receipts %v and %v", first, again)
	}
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(99) {
		t.Fatalf("alice holds %s after one message; want 99", a.BalanceMicros)
	}
	e.ok(e.call("POST", "/social/message", alice, map[string]any{"to_agent_id": "bob", "content": "second"}))
	e.settle()

	page := e.ok(e.call("GET", "/social/inbox", bob, nil))
	msgs := page["messages"].([]any)
	if len(msgs) != 2 || jsonText(page["unread"]) != "0" || page["next_cursor"] != nil {
		t.Fatalf("first reading: %v", page)
	}
	m := msgs[0].(map[string]any)
	if m["message_id"] != first["message_id"] || m["from_agent_id"] != "alice" || m["content"] != "héllo, bob" || m["read"] != false ||
		m["sent_at"] == nil {
		t.Fatalf("first message %v", m)
	}
	if msgs[1].(map[string]any)["content"] != "second" {
		t.Fatalf("the unread come oldest first: %v", msgs)
	}
	// Read from then on: newest first, each read.
	later := e.ok(e.call("GET", "/social/inbox", bob, nil))["messages"].([]any)
	if len(later) != 2 || later[0].(map[string]any)["content"] != "second" || later[0].(map[string]any)["read"] != true ||
		later[1].(map[string]any)["read"] != true {
		t.Fatalf("second reading: %v", later)
	}
	e.settle()
	if n := e.countTypes(); n["message_sent"] != 2 || n["message_delivered"] != 2 || n["messages_read"] != 1 {
		t.Fatalf("log: %v", n)
	}
	if b := e.account("bob"); b.UnreadCount() != 0 || b.BalanceMicros != events.Credits(10) {
		t.Fatalf("bob %+v", b)
	}
	// Another agent's inbox is its own.
	if own := e.ok(e.call("GET", "/social/inbox", alice, nil))["messages"].([]any); len(own) != 0 {
		t.Fatalf("alice's inbox: %v", own)
	}
}

// TestMessageRefusalsChangeNothing sends hostile and impossible messages:
// each is answered its 4xx problem, and nothing is written or charged.
func TestMessageRefusalsChangeNothing(t *testing.T) {
	e := startEconomy(t, harnessOptions{inboxLimit: 2})
	e.create("alice", 100)
	e.create("bob", 10)
	e.create("dead", 10)
	e.create("broke", 0)
	e.create("full", 10)
	if _, err := e.accounts.Do(context.Background(), "dead", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	broke := e.issue("broke", 0, time.Now().Add(time.Minute))
	for range 2 {
		e.ok(e.call("POST", "/social/message", alice, map[string]any{"to_agent_id": "full", "content": "x"}))
	}
	e.settle()
	before, seq := e.account("alice").BalanceMicros, e.lastSeq()

	huge := strings.Repeat("x", system.MessageBytesMax+1)
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		words  []string
		header []string
	}{
		{"no token", "", map[string]any{"to_agent_id": "bob", "content": "x"}, 401, nil, nil},
		{"a wrong token", "nope", map[string]any{"to_agent_id": "bob", "content": "x"}, 401, nil, nil},
		{"a number for the recipient", alice, map[string]any{"to_agent_id": 5, "content": "x"}, 422, []string{"to_agent_id"}, nil},
		{"a number for the content", alice, map[string]any{"to_agent_id": "bob", "content": 5}, 422, []string{"content"}, nil},
		{"no content", alice, map[string]any{"to_agent_id": "bob"}, 422, []string{"content"}, nil},
		{"empty content", alice, map[string]any{"to_agent_id": "bob", "content": ""}, 422, []string{"content"}, nil},
		{"not JSON", alice, "{to_agent_id", 400, nil, nil},
		{"a bad recipient id", alice, map[string]any{"to_agent_id": "Bob!", "content": "x"}, 422, []string{"to_agent_id"}, nil},
		{"content over 64 KiB", alice, map[string]any{"to_agent_id": "bob", "content": huge}, 413, []string{"65537 bytes"}, nil},
		{"a body over the limit", alice, map[string]any{"to_agent_id": "bob", "content": strings.Repeat("x", system.MessageBodyBytesMax)}, 413, nil, nil},
		{"an unknown recipient", alice, map[string]any{"to_agent_id": "ghost", "content": "x"}, 404, []string{"ghost"}, nil},
		{"to self", alice, map[string]any{"to_agent_id": "alice", "content": "x"}, 422, []string{"message to self"}, nil},
		{"a dead recipient", alice, map[string]any{"to_agent_id": "dead", "content": "x"}, 409, []string{"dead"}, nil},
		{"a full inbox", alice, map[string]any{"to_agent_id": "full", "content": "x"}, 409, []string{"inbox is full"}, nil},
		{"no credits", broke, map[string]any{"to_agent_id": "bob", "content": "x"}, 409, []string{"insufficient credits"}, nil},
		{"a bad key", alice, map[string]any{"to_agent_id": "bob", "content": "x"}, 400, []string{"Idempotency-Key"}, []string{"Idempotency-Key", "a key"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.call("POST", "/social/message", c.token, c.body, c.header...)
			if a.Status != c.status {
				t.Fatalf("status %d, want %d: %s", a.Status, c.status, a.Body)
			}
			if len(c.words) > 0 {
				e.problem(a, c.status, c.words...)
			}
		})
	}
	for _, q := range []string{"?limit=0", "?limit=101", "?limit=x", "?cursor=zz", "?cursor=1.2"} {
		if a := e.call("GET", "/social/inbox"+q, alice, nil); a.Status != 400 && a.Status != 422 {
			t.Errorf("GET /social/inbox%s: %d %s", q, a.Status, a.Body)
		}
	}
	e.settle()
	if after := e.account("alice").BalanceMicros; after != before {
		t.Fatalf("alice held %s before the refusals, %s after", before, after)
	}
	if got := e.lastSeq(); got != seq {
		t.Fatalf("the refusals wrote: the log moved from %d to %d", seq, got)
	}
	// Exactly 64 KiB is a message.
	e.ok(e.call("POST", "/social/message", alice, map[string]any{"to_agent_id": "bob", "content": huge[1:]}))
}

// TestMessageToAFullInboxBouncesInARace: the check before the send sees
// room; the inbox fills before the delivery: the message bounces and its
// cost comes back, once.
func TestMessageToAFullInboxBouncesInARace(t *testing.T) {
	e := startEconomy(t, harnessOptions{inboxLimit: 1})
	e.create("alice", 10)
	e.create("bob", 10)
	ctx := context.Background()
	// Two sends that both passed the check: the account decides them with
	// the limit of their time, and the second delivery finds the inbox full.
	for _, id := range []string{"m1", "m2"} {
		if _, err := e.accounts.Do(ctx, "alice", "", agent.SendMessage{MessageID: id, To: "bob", Content: "x",
			CostMicros: events.Credits(1), InboxLimit: 1}); err != nil {
			t.Fatal(err)
		}
	}
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(9) {
		t.Fatalf("alice holds %s; want 9 (one delivered, one returned)", a.BalanceMicros)
	}
	if n := e.countTypes(); n["message_delivered"] != 1 || n["message_bounced"] != 1 || n["message_returned"] != 1 {
		t.Fatalf("log: %v", n)
	}
}

// TestMessagesThroughTheDoors: the actor door and a client over HTTP send
// and read messages with the same answers and refusals as the routes.
func TestMessagesThroughTheDoors(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 10)
	alice := system.Caller{Token: e.issue("alice", 0, time.Now().Add(time.Minute))}
	bob := system.Caller{Token: e.issue("bob", 0, time.Now().Add(time.Minute))}
	e.settle()
	r := must[system.MessageReceipt](t, e, system.SendMessage{Caller: alice, Key: "k", ToAgentID: "bob", Content: "by actor"})
	if r.ToAgentID != "bob" || r.Cost != system.Credits(events.Credits(1)) || r.MessageID == "" {
		t.Fatalf("receipt %+v", r)
	}
	// The same key over HTTP answers the same receipt.
	if again := e.ok(e.call("POST", "/social/message", alice.Token, map[string]any{"to_agent_id": "bob", "content": "by actor"},
		"Idempotency-Key", "k")); again["message_id"] != r.MessageID {
		t.Fatalf("over HTTP with the actor's key: %v", again)
	}
	e.settle()
	p := must[system.InboxPage](t, e, system.ReadInbox{Caller: bob, Limit: 10})
	if len(p.Messages) != 1 || p.Messages[0].MessageID != r.MessageID || p.Messages[0].Read || p.Messages[0].FromAgentID != "alice" {
		t.Fatalf("inbox by actor: %+v", p)
	}
	client := spawnClient(t, e, serveOnSocket(t, e))
	got, err := askAt(t, e, client, system.ReadInbox{Caller: bob})
	if err != nil {
		t.Fatal(err)
	}
	if p := got.(system.InboxPage); len(p.Messages) != 1 || !p.Messages[0].Read || p.Messages[0].Content != "by actor" {
		t.Fatalf("inbox by client: %+v", p)
	}
	for _, c := range []struct {
		call system.Call
		want error
	}{
		{system.SendMessage{Caller: alice, ToAgentID: "ghost", Content: "x"}, agent.ErrUnknownAgent},
		{system.SendMessage{Caller: alice, ToAgentID: "alice", Content: "x"}, agent.ErrMessageToSelf},
		{system.SendMessage{Caller: alice, ToAgentID: "bob", Content: ""}, agent.ErrInvalidMessage},
		{system.SendMessage{Caller: alice, ToAgentID: "bob", Content: "\xff"}, agent.ErrInvalidMessage},
		{system.SendMessage{Caller: alice, ToAgentID: "bob", Content: strings.Repeat("x", system.MessageBytesMax+1)}, agent.ErrMessageTooLarge},
		{system.SendMessage{Caller: alice, ToAgentID: "B!", Content: "x"}, events.ErrInvalidID},
		{system.ReadInbox{Caller: bob, Limit: 101}, system.ErrInvalidCall},
		{system.ReadInbox{Caller: bob, Cursor: "nope"}, inbox.ErrInvalidCursor},
	} {
		if _, err := ask[any](t, e, c.call); !errors.Is(err, c.want) {
			t.Errorf("actor: %+v: %v, want %v", c.call, err, c.want)
		}
		// The client checks a call as the service does, or is answered
		// the problem the service's status names.
		if _, err := askAt(t, e, client, c.call); !errors.Is(err, c.want) && !errors.Is(err, system.ErrInvalidCall) {
			t.Errorf("client: %+v: %v, want %v", c.call, err, c.want)
		}
	}
	e.settle()
	if a := e.account("alice"); a.BalanceMicros != events.Credits(99) {
		t.Fatalf("alice holds %s; want 99: one message, charged once", a.BalanceMicros)
	}
}
