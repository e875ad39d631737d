package runtime_test

import (
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Peek shows what an actor published of its durable state, and nothing for
// an actor that is not running: the caller then asks it.
func TestPeekShowsTheDurableState(t *testing.T) {
	log, store := jetStream(t)
	h, accounts := newHost(t, log, store, runtime.Options{})
	ctx := ctxT(t)
	if v, ok := h.Peek(events.KindAgent, "a1"); ok {
		t.Fatalf("an actor never started published %v", v)
	}
	if _, err := accounts.Do(ctx, "a1", "", agent.Create{GrantMicros: events.Credits(10)}); err != nil {
		t.Fatal(err)
	}
	if v, ok := h.Peek(events.KindAgent, "a1"); !ok || v != (agent.Published{Status: agent.StatusAlive}) {
		t.Fatalf("after its creation a1 published %v, %v", v, ok)
	}
	if _, err := accounts.Do(ctx, "a1", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := h.Peek(events.KindAgent, "a1"); v != (agent.Published{Status: agent.StatusDead}) {
		t.Fatalf("after its death a1 published %v", v)
	}
	// A transfer to it is refused without a round trip, as before.
	if _, err := accounts.Do(ctx, "a2", "", agent.Create{GrantMicros: events.Credits(10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Transfer(ctx, "a2", "", agent.Transfer{TransferID: "t1", To: "a1", AmountMicros: 1}); err == nil {
		t.Fatal("a transfer to a dead agent was accepted")
	}
	// A new host knows nothing until its actor recovers.
	h2, _ := newHost(t, log, store, runtime.Options{})
	if v, ok := h2.Peek(events.KindAgent, "a1"); ok {
		t.Fatalf("a fresh host published %v", v)
	}
}
