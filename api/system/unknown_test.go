package system_test

import (
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// TestUnknownAgentsStartNoActor: a transfer to, or a bid for, an agent that
// never was is refused from the directory, 404, before any actor is asked:
// the host starts no actor for the id (callers naming random ids would
// otherwise fill it), and the log is unchanged.
func TestUnknownAgentsStartNoActor(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 1000)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	e.settle()
	before := e.lastSeq()
	e.problem(e.call("POST", "/economic/transfer", alice, map[string]any{"to_agent_id": "ghost-1", "amount": 1}), 404, "ghost-1")
	bid := bundle(30)
	bid["beneficiary_id"] = "ghost-2"
	e.problem(e.call("POST", "/market/bid", alice, bid), 404, "ghost-2")
	for _, id := range []string{"ghost-1", "ghost-2"} {
		if v, ok := e.host.Peek(events.KindAgent, id); ok {
			t.Errorf("an actor of %s was started (it published %v)", id, v)
		}
	}
	if after := e.lastSeq(); after != before {
		t.Errorf("the log moved from %d to %d", before, after)
	}
	// An agent created a moment ago is found, the directory catching up.
	e.create("bob", 10)
	e.ok(e.call("POST", "/economic/transfer", alice, map[string]any{"to_agent_id": "bob", "amount": 1}))
}
