package economy_test

import (
	"testing"

	"github.com/agora-econ/agora/events"
)

func spawned(child string, cost, initial events.Micros, lineage ...string) events.ChildSpawned {
	return events.ChildSpawned{ChildID: child, CostMicros: cost, InitialCreditsMicros: initial, Lineage: lineage}
}

func child(id, parent string, funded events.Micros, lineage ...string) step {
	return step{id, events.AgentCreated{AgentID: id, ParentID: parent, Lineage: lineage, FundedMicros: funded, Reason: "spawn"}}
}

// TestAuditFollowsSpawns: a spawn burns its cost, its credits are in
// flight until the child's creation takes them in (or a bounce returns
// them), and three generations record their lineage; conservation holds
// at every step.
func TestAuditFollowsSpawns(t *testing.T) {
	seq, inv, eco := fold(t, []step{
		created("a", 500),
		{"a", spawned("b", 100, 150, "a")},
		child("b", "a", 150, "a"),
		{"b", spawned("c", 100, 50, "b", "a")},
		child("c", "b", 50, "b", "a"),
		// A spawn whose child's id was taken: bounced, returned.
		created("x", 1),
		{"a", spawned("x", 100, 20, "a")},
		{"x", events.TransferBounced{TransferID: "spawn-x", FromAgentID: "a", AmountMicros: 20, Reason: "spawn refused"}},
		{"a", events.TransferReturned{TransferID: "spawn-x", ToAgentID: "x", AmountMicros: 20}},
	})
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.MintedMicros != 501 || s.BurnedMicros != 300 || s.BalanceMicros != 201 || s.InFlightMicros != 0 || s.OpenTransfers != 0 {
		t.Fatalf("summary %+v", s)
	}
	// Meanwhile, the credits are in flight.
	_, _, eco = fold(t, []step{created("a", 500), {"a", spawned("b", 100, 150, "a")}})
	if s := eco.Summary(); s.InFlightMicros != 150 || s.BurnedMicros != 100 || s.OpenTransfers != 1 {
		t.Fatalf("a spawn in flight: %+v", s)
	}
}

// Each case breaks one rule of spawning at its last step; the audit must
// name that step's sequence.
func TestAuditCatchesSpawnViolations(t *testing.T) {
	base := []step{created("a", 500)}
	cases := map[string][]step{
		"a child nobody spawned":        {child("b", "a", 150, "a")},
		"a child funded twice":          {{"a", spawned("b", 100, 150, "a")}, child("b", "a", 150, "a"), child("b", "a", 150, "a")},
		"a child funded another amount": {{"a", spawned("b", 100, 150, "a")}, child("b", "a", 151, "a")},
		"a child of another parent":     {created("z", 1), {"a", spawned("b", 100, 150, "a")}, child("b", "z", 150, "z")},
		"a child with a false lineage":  {created("z", 1), {"a", spawned("b", 100, 150, "a")}, child("b", "a", 150, "a", "z")},
		"a spawn with a false lineage":  {created("z", 1), {"a", spawned("b", 100, 150, "a", "z")}},
		"a child spawned twice":         {{"a", spawned("b", 100, 150, "a")}, {"a", spawned("b", 100, 150, "a")}},
		"a spawn past the balance":      {{"a", spawned("b", 400, 150, "a")}},
		"a dead parent spawns": {
			{"a", events.AgentDied{Reason: "x", BurnedMicros: 500}},
			{"a", spawned("b", 0, 1, "a")},
		},
		"a parent never created spawns": {{"ghost", spawned("b", 0, 1, "ghost")}},
		"a granted child of a dead parent": {
			created("p", 1),
			{"p", events.AgentDied{Reason: "x", BurnedMicros: 1}},
			{"k", events.AgentCreated{AgentID: "k", ParentID: "p", GrantMicros: 5}},
		},
		"spawn credits returned twice": {
			created("x", 1),
			{"a", spawned("x", 100, 20, "a")},
			{"x", events.TransferBounced{TransferID: "spawn-x", FromAgentID: "a", AmountMicros: 20}},
			{"a", events.TransferReturned{TransferID: "spawn-x", ToAgentID: "x", AmountMicros: 20}},
			{"a", events.TransferReturned{TransferID: "spawn-x", ToAgentID: "x", AmountMicros: 20}},
		},
	}
	for name, extra := range cases {
		t.Run(name, func(t *testing.T) {
			steps := append(append([]step{}, base...), extra...)
			seq, inv, _ := fold(t, steps)
			if seq != uint64(len(steps)) {
				t.Fatalf("violation at %d (%q); want at %d", seq, inv, len(steps))
			}
		})
	}
}
