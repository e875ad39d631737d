package agent_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// firstBid is a child's first bid of amount.
func firstBid(amount events.Micros) *events.InitialBid {
	return &events.InitialBid{BidID: "b-1", AmountMicros: amount, Terms: events.BidTerms{Pool: "main",
		Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}}}
}

func spawnOf(child string, cost, initial events.Micros, bid *events.InitialBid) agent.Spawn {
	return agent.Spawn{ChildID: child, CostMicros: cost, InitialMicros: initial, Command: []string{"python3", "main.py"},
		InitialBid: bid, ProgramSHA256: "abc"}
}

func TestDecideSpawn(t *testing.T) {
	spawned := func(child string, cost, initial events.Micros, lineage []string, bid *events.InitialBid) events.ChildSpawned {
		return events.ChildSpawned{ChildID: child, CostMicros: cost, InitialCreditsMicros: initial,
			Command: []string{"python3", "main.py"}, Lineage: lineage, InitialBid: bid, ProgramSHA256: "abc"}
	}
	deep := make([]string, agent.LineageLengthMax)
	for i := range deep {
		deep[i] = "g" + string(rune('a'+i%26))
	}
	withLineage := given(events.AgentCreated{AgentID: acctID, ParentID: "p", Lineage: []string{"p", "g"}, FundedMicros: cr(1000),
		Trigger: trig(agent.SpawnManagerName, 3)})
	deepChild := given(events.AgentCreated{AgentID: acctID, ParentID: deep[0], Lineage: deep, FundedMicros: cr(1000),
		Trigger: trig(agent.SpawnManagerName, 3)})
	cases := []decideCase{
		{
			name:  "the cost is burned and the credits leave for the child",
			given: alive,
			when:  spawnOf("c1", cr(100), cr(50), firstBid(cr(10))),
			then:  spawned("c1", cr(100), cr(50), []string{acctID}, firstBid(cr(10))),
			state: live(cr(850), 0, cr(850)),
		},
		{
			name:  "a free spawn, all of what is available",
			given: alive,
			when:  spawnOf("c1", 0, cr(1000), nil),
			then:  spawned("c1", 0, cr(1000), []string{acctID}, nil),
			state: live(0, 0, 0),
		},
		{
			name:  "the lineage is the parent's, the parent first",
			given: withLineage,
			when:  spawnOf("c1", cr(1), cr(1), nil),
			then:  spawned("c1", cr(1), cr(1), []string{acctID, "p", "g"}, nil),
			state: live(cr(998), 0, cr(998)).marks(agent.SpawnManagerName, 3),
		},
		{
			name:  "a long family keeps its nearest ancestors",
			given: deepChild,
			when:  spawnOf("c1", cr(1), cr(1), nil),
			then:  spawned("c1", cr(1), cr(1), append([]string{acctID}, deep[:agent.LineageLengthMax-1]...), nil),
			state: live(cr(998), 0, cr(998)).marks(agent.SpawnManagerName, 3),
		},
		{name: "the cost and the credits above what is available", given: holding, when: spawnOf("c1", cr(100), cr(301), nil),
			err: agent.ErrInsufficientCredits},
		{name: "a dead parent", given: dead, when: spawnOf("c1", cr(1), cr(1), nil), err: agent.ErrAgentDead},
		{name: "an unknown parent", when: spawnOf("c1", cr(1), cr(1), nil), err: agent.ErrUnknownAgent},
		{name: "its own child", given: alive, when: spawnOf(acctID, cr(1), cr(1), nil), err: agent.ErrInvalidSpawn},
		{name: "a bad child id", given: alive, when: spawnOf("C.1", cr(1), cr(1), nil), err: events.ErrInvalidID},
		{name: "no initial credits", given: alive, when: spawnOf("c1", cr(1), 0, nil), err: agent.ErrInvalidAmount},
		{name: "negative credits", given: alive, when: spawnOf("c1", cr(1), -1, nil), err: agent.ErrInvalidAmount},
		{name: "a negative cost", given: alive, when: spawnOf("c1", -1, cr(1), nil), err: agent.ErrInvalidAmount},
		{name: "a first bid above the credits", given: alive, when: spawnOf("c1", cr(1), cr(5), firstBid(cr(6))), err: agent.ErrInvalidSpawn},
		{name: "a first bid of nothing", given: alive, when: spawnOf("c1", cr(1), cr(5), firstBid(0)), err: agent.ErrInvalidAmount},
		{name: "a first bid with no bundle", given: alive, when: spawnOf("c1", cr(1), cr(5),
			&events.InitialBid{BidID: "b-1", AmountMicros: 1, Terms: events.BidTerms{Pool: "main"}}), err: agent.ErrInvalidSpawn},
		{name: "a first bid for another", given: alive, when: spawnOf("c1", cr(1), cr(5),
			&events.InitialBid{BidID: "b-1", AmountMicros: 1, Terms: events.BidTerms{Pool: "main", BeneficiaryID: "x",
				Resources: map[string]events.Units{"cpu_seconds": 1}}}), err: agent.ErrInvalidSpawn},
		{name: "a bad command", given: alive, when: agent.Spawn{ChildID: "c1", InitialMicros: 1, Command: []string{""}},
			err: agent.ErrInvalidCommand},
	}
	runDecideCases(t, cases)
}

func TestDecideSpawnedCreate(t *testing.T) {
	tr := trig(agent.SpawnManagerName, 7)
	create := agent.Create{ParentID: "p", Lineage: []string{"p"}, Reason: agent.ReasonSpawn, Command: []string{"python3", "main.py"},
		FundedMicros: cr(50), InitialBid: firstBid(cr(10)), Trigger: tr}
	bounced := func(reason string) events.TransferBounced {
		return events.TransferBounced{TransferID: "spawn-" + acctID, FromAgentID: "p", AmountMicros: cr(50),
			Reason: "spawn refused: " + reason, Trigger: tr}
	}
	with := func(change func(c *agent.Create)) agent.Create {
		c := create
		change(&c)
		return c
	}
	cases := []decideCase{
		{
			name: "the child takes in its credits, nothing minted",
			when: create,
			then: events.AgentCreated{AgentID: acctID, ParentID: "p", Lineage: []string{"p"}, Reason: agent.ReasonSpawn,
				Command: []string{"python3", "main.py"}, FundedMicros: cr(50), InitialBid: firstBid(cr(10)), Trigger: tr},
			state: live(cr(50), 0, cr(50)).marks(agent.SpawnManagerName, 7),
		},
		{
			name:  "an id taken bounces the credits to the parent",
			given: alive,
			when:  create,
			then:  bounced("the child's id " + acctID + " is taken"),
			state: live(cr(1000), 0, cr(1000)).marks(agent.SpawnManagerName, 7),
		},
		{
			name:  "a dead agent's id bounces them too",
			given: dead,
			when:  create,
			then:  bounced("the child's id " + acctID + " is taken"),
			state: deadState().marks(agent.SpawnManagerName, 7),
		},
		{
			name:  "a lineage that does not start with the parent bounces them",
			when:  with(func(c *agent.Create) { c.Lineage = []string{"q"} }),
			then:  bounced("invalid spawn: lineage [q] does not start with the parent p"),
			state: &state{Settled: map[string]uint64{agent.SpawnManagerName: 7}},
		},
		{
			name:  "a first bid above the credits bounces them",
			when:  with(func(c *agent.Create) { c.InitialBid = firstBid(cr(51)) }),
			then:  bounced("invalid spawn: the first bid of 51 is above the initial credits of 50"),
			state: &state{Settled: map[string]uint64{agent.SpawnManagerName: 7}},
		},
		{name: "without a trigger", when: with(func(c *agent.Create) { c.Trigger = events.Trigger{} }), err: agent.ErrMissingTrigger},
		{name: "the same creation redelivered", given: given(events.AgentCreated{AgentID: acctID, ParentID: "p", Lineage: []string{"p"},
			FundedMicros: cr(50), Trigger: tr}), when: create},
	}
	runDecideCases(t, cases)
}

// TestSpawnManagerReacts: a spawn obliges the child's creation with the
// spawn's credits, lineage, command and first bid; the creation of a
// child with a first bid obliges that bid, from the child; nothing else.
func TestSpawnManagerReacts(t *testing.T) {
	m := agent.SpawnManager()
	rec := func(seq uint64, id string, e events.Event) events.Record {
		env, err := events.Encode(events.KindAgent, id, e, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return events.Record{Seq: seq, Envelope: env}
	}
	sp := events.ChildSpawned{ChildID: "c1", CostMicros: cr(100), InitialCreditsMicros: cr(50), Command: []string{"python3", "main.py"},
		Lineage: []string{"p"}, InitialBid: firstBid(cr(10))}
	got := m.React(rec(5, "p", sp), sp)
	want := []runtime.Reaction{{Kind: events.KindAgent, ID: "c1", Command: agent.Create{ParentID: "p", Lineage: []string{"p"},
		Reason: agent.ReasonSpawn, Command: []string{"python3", "main.py"}, FundedMicros: cr(50), InitialBid: firstBid(cr(10)),
		Trigger: trig(agent.SpawnManagerName, 5)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reaction to the spawn\n got %#v\nwant %#v", got, want)
	}
	created := events.AgentCreated{AgentID: "c1", ParentID: "p", Lineage: []string{"p"}, FundedMicros: cr(50),
		InitialBid: firstBid(cr(10)), Trigger: trig(agent.SpawnManagerName, 5)}
	got = m.React(rec(9, "c1", created), created)
	terms := firstBid(cr(10)).Terms
	want = []runtime.Reaction{{Kind: events.KindAgent, ID: "c1", Command: agent.PlaceHold{HoldID: "b-1", AmountMicros: cr(10),
		Purpose: events.PurposeBid, Bid: &terms, Trigger: trig(agent.SpawnManagerName, 9)}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reaction to the child's creation\n got %#v\nwant %#v", got, want)
	}
	for name, e := range map[string]events.Event{
		"a granted creation":           events.AgentCreated{AgentID: "c1", GrantMicros: cr(5)},
		"a creation with a bid of its": events.AgentCreated{AgentID: "c1", GrantMicros: cr(5), InitialBid: firstBid(1)},
		"a child without a first bid":  events.AgentCreated{AgentID: "c1", FundedMicros: cr(5), Trigger: trig(agent.SpawnManagerName, 5)},
	} {
		if got := m.React(rec(9, "c1", e), e); len(got) != 0 {
			t.Errorf("%s: reactions %#v; want none", name, got)
		}
	}
	if !slices.Contains(m.Types, "child_spawned") || !slices.Contains(m.Types, "agent_created") {
		t.Fatalf("the manager reads %v", m.Types)
	}
}
