package agent_test

import (
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// TestDieIfBroke: the end-of-cycle rule kills only an agent that is broke
// and holds no bid or prompt; otherwise the command is a no-op.
func TestDieIfBroke(t *testing.T) {
	fold := func(es ...events.Event) agent.Account {
		a := agent.New("a")
		for _, e := range es {
			a = agent.Evolve(a, e)
		}
		return a
	}
	created := events.AgentCreated{AgentID: "a", GrantMicros: 10}
	spent := events.CreditsBurned{AmountMicros: 10, Reason: "x"}
	cases := []struct {
		name string
		a    agent.Account
		dies bool
	}{
		{"has credits", fold(created), false},
		{"broke", fold(created, spent), true},
		{"all credits held by a bid", fold(created, events.HoldPlaced{HoldID: "b1", AmountMicros: 10, Purpose: events.PurposeBid}), false},
		{"already dead", fold(created, events.AgentDied{Reason: "x", BurnedMicros: 10}), false},
	}
	for _, c := range cases {
		e, err := agent.Decide(c.a, agent.Die{Reason: "broke", IfBroke: true})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if died := e != nil; died != c.dies {
			t.Errorf("%s: died %v, want %v (%+v)", c.name, died, c.dies, e)
		}
	}
}
