package economy_test

import (
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
)

func msgSent(id, to string, cost events.Micros) events.MessageSent {
	return events.MessageSent{MessageID: id, ToAgentID: to, Content: "hi", CostMicros: cost, InboxLimit: 2}
}

func msgDelivered(id, from string, cost events.Micros) events.MessageDelivered {
	return events.MessageDelivered{MessageID: id, FromAgentID: from, Content: "hi", CostMicros: cost}
}

// A log with messages delivered, bounced (dead recipient), returned to a
// living sender and burned for a dead one: conservation holds after every
// event, and each cost settles once.
func TestAuditSettlesMessages(t *testing.T) {
	seq, inv, eco := fold(t, []step{
		created("a", 100), created("b", 50), created("c", 10),
		{"a", msgSent("m1", "b", 3)},
		{"b", msgDelivered("m1", "a", 3)},
		{"b", events.MessagesRead{MessageIDs: []string{"m1"}}},
		{"a", msgSent("m2", "c", 4)},
		{"c", events.AgentDied{Reason: "x", BurnedMicros: 10}},
		{"c", events.MessageBounced{MessageID: "m2", FromAgentID: "a", CostMicros: 4, Reason: "recipient is dead"}},
		{"a", events.MessageReturned{MessageID: "m2", ToAgentID: "c", CostMicros: 4}},
		{"b", msgSent("m3", "ghost", 5)},
		{"ghost", events.MessageBounced{MessageID: "m3", FromAgentID: "b", CostMicros: 5, Reason: "recipient is unknown"}},
		{"b", events.AgentDied{Reason: "x", BurnedMicros: 45}},
		{"b", events.MessageReturned{MessageID: "m3", ToAgentID: "ghost", CostMicros: 5, Burned: true}},
		{"a", msgSent("m4", "b", 0)},
	})
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	// Burned: m1's 3, c's 10, b's 45 and m3's 5; m4 (free) is in flight.
	if s.MintedMicros != 160 || s.BurnedMicros != 3+10+45+5 || s.BalanceMicros != 97 || s.InFlightMicros != 0 || s.OpenMessages != 1 {
		t.Fatalf("summary %+v", s)
	}
}

// Each case charges or settles a message wrongly at its last step.
func TestAuditCatchesMessagesChargedTwice(t *testing.T) {
	base := []step{created("a", 100), created("b", 50)}
	cases := map[string]struct {
		steps []step
		want  string
	}{
		"delivered twice": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"b", msgDelivered("m", "a", 3)},
			{"b", events.MessagesRead{MessageIDs: []string{"m"}}},
			{"b", msgDelivered("m", "a", 3)},
		}, "message charged once"},
		"delivered twice, unread": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"b", msgDelivered("m", "a", 3)},
			{"b", msgDelivered("m", "a", 3)},
		}, "skipped"},
		"sent twice": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"a", msgSent("m", "b", 3)},
		}, "message charged once"},
		"delivered never sent": {[]step{{"b", msgDelivered("m", "a", 3)}}, "message charged once"},
		"delivered and returned": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"b", msgDelivered("m", "a", 3)},
			{"a", events.MessageReturned{MessageID: "m", ToAgentID: "b", CostMicros: 3}},
		}, "message charged once"},
		"returned twice": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"b", events.MessageBounced{MessageID: "m", FromAgentID: "a", CostMicros: 3}},
			{"a", events.MessageReturned{MessageID: "m", ToAgentID: "b", CostMicros: 3}},
			{"a", events.MessageReturned{MessageID: "m", ToAgentID: "b", CostMicros: 3}},
		}, "message charged once"},
		"delivered for another cost": {[]step{
			{"a", msgSent("m", "b", 3)},
			{"b", msgDelivered("m", "a", 2)},
		}, "message settles for its cost"},
		"delivered to a stranger": {[]step{
			created("c", 1),
			{"a", msgSent("m", "b", 3)},
			{"c", msgDelivered("m", "a", 3)},
		}, "message settles with its parties"},
		"sent beyond the balance": {[]step{{"a", msgSent("m", "b", 101)}}, "skipped"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			steps := append(append([]step{}, base...), c.steps...)
			seq, inv, _ := fold(t, steps)
			if seq != uint64(len(steps)) || !strings.HasPrefix(inv, c.want) {
				t.Fatalf("violation at %d (%q); want %q at %d", seq, inv, c.want, len(steps))
			}
		})
	}
}
