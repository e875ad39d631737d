package economy_test

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

type step struct {
	agent string
	event events.Event
}

// fold applies the steps as consecutive records and returns the first
// violation's sequence (0 when none) and invariant, or the first skipped
// record's.
func fold(t *testing.T, steps []step) (uint64, string, *economy.Economy) {
	t.Helper()
	eco := economy.New()
	for i, s := range steps {
		env, err := events.Encode(events.KindAgent, s.agent, s.event, events.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if err := eco.Apply(events.Record{Seq: uint64(i + 1), Envelope: env}); err != nil {
			var v *economy.Violation
			if !errors.As(err, &v) || !errors.Is(err, economy.ErrViolation) {
				t.Fatalf("non-violation error %v", err)
			}
			return v.Seq, v.Invariant, eco
		}
		// A record its actor does not admit is skipped, and fails the
		// audit until it is acknowledged: as good as a violation here.
		if k := eco.Unacknowledged(); len(k) > 0 {
			return k[0].Seq, "skipped: " + string(k[0].Reason) + ": " + k[0].Detail, eco
		}
	}
	return 0, "", eco
}

func created(id string, grant events.Micros) step {
	return step{id, events.AgentCreated{AgentID: id, GrantMicros: grant}}
}

func TestAuditAcceptsAValidHistory(t *testing.T) {
	seq, inv, eco := fold(t, []step{
		created("a", 100), created("b", 50),
		{"a", events.TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: 30}},
		{"b", events.TransferReceived{TransferID: "t1", FromAgentID: "a", AmountMicros: 30}},
		{"a", events.HoldPlaced{HoldID: "h1", AmountMicros: 20}},
		{"a", events.HoldIncreased{HoldID: "h1", AmountMicros: 25, DeltaMicros: 5}},
		{"a", events.HoldPosted{HoldID: "h1", AmountMicros: 25}},
		{"b", events.HoldPlaced{HoldID: "h2", AmountMicros: 10}},
		{"b", events.CreditsBurned{AmountMicros: 5, Reason: "message"}},
		{"a", events.TransferSent{TransferID: "t2", ToAgentID: "b", AmountMicros: 5}},
		{"b", events.AgentDied{Reason: "test", VoidedHolds: []string{"h2"}, BurnedMicros: 75}},
		{"b", events.TransferBounced{TransferID: "t2", FromAgentID: "a", AmountMicros: 5, Reason: "dead"}},
		{"a", events.TransferReturned{TransferID: "t2", ToAgentID: "b", AmountMicros: 5}},
	})
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.MintedMicros != 150 || s.BurnedMicros != 25+5+75 || s.BalanceMicros != 45 || s.InFlightMicros != 0 || s.AgentsAlive != 1 {
		t.Fatalf("summary %+v", s)
	}
}

// TestAuditCountsOperatorGrants: an operator's grant mints, and a kill
// burns what is left; conservation holds through both.
func TestAuditCountsOperatorGrants(t *testing.T) {
	seq, inv, eco := fold(t, []step{
		created("a", 100),
		{"a", events.CreditsGranted{AmountMicros: 40, Reason: "operator"}},
		{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 30}},
		{"a", events.CreditsGranted{AmountMicros: events.AmountMax - 140, Reason: "to the brim"}},
		{"a", events.AgentDied{Reason: "killed by the operator", VoidedHolds: []string{"h"}, BurnedMicros: events.AmountMax}},
	})
	if seq != 0 {
		t.Fatalf("violation at %d: %s", seq, inv)
	}
	s := eco.Summary()
	if s.MintedMicros != events.AmountMax || s.BurnedMicros != events.AmountMax || s.BalanceMicros != 0 || s.AgentsAlive != 0 {
		t.Fatalf("summary %+v", s)
	}
}

// Each case breaks one invariant at its last step; the audit must name that
// step's sequence.
func TestAuditCatchesViolations(t *testing.T) {
	base := []step{created("a", 100), created("b", 50)}
	cases := map[string][]step{
		"negative balance": {{"a", events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 101}}},
		"created twice":    {created("a", 1)},
		"settled twice": {
			{"a", events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 10}},
			{"b", events.TransferReceived{TransferID: "t", FromAgentID: "a", AmountMicros: 10}},
			{"b", events.TransferReceived{TransferID: "t", FromAgentID: "a", AmountMicros: 10}},
		},
		"settled for another amount": {
			{"a", events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 10}},
			{"b", events.TransferReceived{TransferID: "t", FromAgentID: "a", AmountMicros: 11}},
		},
		"settled by a stranger": {
			created("c", 1),
			{"a", events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 10}},
			{"c", events.TransferReceived{TransferID: "t", FromAgentID: "a", AmountMicros: 10}},
		},
		"received never sent": {{"b", events.TransferReceived{TransferID: "t", FromAgentID: "a", AmountMicros: 10}}},
		"returned without bounce": {
			{"a", events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 10}},
			{"a", events.TransferReturned{TransferID: "t", ToAgentID: "b", AmountMicros: 10}},
		},
		"hold posted twice": {
			{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 10}},
			{"a", events.HoldPosted{HoldID: "h", AmountMicros: 10}},
			{"a", events.HoldPosted{HoldID: "h", AmountMicros: 10}},
		},
		"hold posted for another amount": {
			{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 10}},
			{"a", events.HoldPosted{HoldID: "h", AmountMicros: 9}},
		},
		"hold reused": {
			{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 10}},
			{"a", events.HoldVoided{HoldID: "h", AmountMicros: 10}},
			{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 10}},
		},
		"held above balance": {{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 101}}},
		"dead agent acts": {
			{"a", events.AgentDied{Reason: "x", BurnedMicros: 100}},
			{"a", events.CreditsBurned{AmountMicros: 1, Reason: "x"}},
		},
		"dead agent credited": {
			{"b", events.TransferSent{TransferID: "t", ToAgentID: "a", AmountMicros: 10}},
			{"b", events.AgentDied{Reason: "x", BurnedMicros: 40}},
			{"a", events.TransferBounced{TransferID: "t", FromAgentID: "b", AmountMicros: 10}},
			{"b", events.TransferReturned{TransferID: "t", ToAgentID: "a", AmountMicros: 10}},
		},
		"death keeps credits": {{"a", events.AgentDied{Reason: "x", BurnedMicros: 99}}},
		"death leaves a hold": {
			{"a", events.HoldPlaced{HoldID: "h", AmountMicros: 10}},
			{"a", events.AgentDied{Reason: "x", BurnedMicros: 100}},
		},
		"account never created": {{"z", events.CreditsBurned{AmountMicros: 1, Reason: "x"}}},
		"grant to a dead agent": {
			{"a", events.AgentDied{Reason: "killed by the operator", BurnedMicros: 100}},
			{"a", events.CreditsGranted{AmountMicros: 1, Reason: "operator"}},
		},
		"grant never created":         {{"z", events.CreditsGranted{AmountMicros: 1}}},
		"grant of nothing":            {{"a", events.CreditsGranted{AmountMicros: 0}}},
		"grant negative":              {{"a", events.CreditsGranted{AmountMicros: -1}}},
		"grant past the balance most": {{"a", events.CreditsGranted{AmountMicros: events.AmountMax - 99}}},
	}
	for name, tail := range cases {
		t.Run(name, func(t *testing.T) {
			steps := append(append([]step{}, base...), tail...)
			seq, inv, _ := fold(t, steps)
			if seq != uint64(len(steps)) {
				t.Fatalf("violation at %d (%s), want %d", seq, inv, len(steps))
			}
		})
	}
}
