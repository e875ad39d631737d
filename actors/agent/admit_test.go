package agent

import (
	"errors"
	"testing"

	"github.com/agora-econ/agora/events"
)

// TestAdmit: given an account, an event read from the log is admitted or
// refused with the typed reason; a refused event leaves nothing to fold.
func TestAdmit(t *testing.T) {
	alive := Evolve(New("a"), events.AgentCreated{AgentID: "a", GrantMicros: 100})
	holding := Evolve(alive, events.HoldPlaced{HoldID: "h", AmountMicros: 40})
	running := Evolve(alive, events.ExecutionStarted{ExecutionID: "x"})
	tokens := Evolve(alive, events.ExecutionStarted{ExecutionID: "x", Resources: map[string]events.Units{"tokens": events.WholeUnits(40)}})
	dead := Evolve(alive, events.AgentDied{BurnedMicros: 100})
	tests := []struct {
		name  string
		given Account
		event events.Event
		want  error // nil: admitted
	}{
		{"creation", New("a"), events.AgentCreated{AgentID: "a", GrantMicros: 100}, nil},
		{"second creation", alive, events.AgentCreated{AgentID: "a", GrantMicros: 1}, ErrAgentExists},
		{"anything before the creation", New("ghost"), events.HoldPlaced{HoldID: "h", AmountMicros: 5}, ErrUnknownAgent},
		{"a bounce on an id that never was", New("ghost"), events.TransferBounced{TransferID: "t", AmountMicros: 5}, nil},
		{"a transfer within the balance", alive, events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 100}, nil},
		{"an overspend", alive, events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 101}, ErrInsufficientCredits},
		{"a transfer of what is held", holding, events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 61}, ErrInsufficientCredits},
		{"a negative transfer", alive, events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: -5}, ErrInvalidAmount},
		{"a hold above what is available", holding, events.HoldPlaced{HoldID: "h2", AmountMicros: 61}, ErrInsufficientCredits},
		{"a hold placed twice", holding, events.HoldPlaced{HoldID: "h", AmountMicros: 1}, ErrExistsWithDifferentAmount},
		{"a hold posted", holding, events.HoldPosted{HoldID: "h", AmountMicros: 30, ReleasedMicros: 10}, nil},
		{"a hold posted for another amount", holding, events.HoldPosted{HoldID: "h", AmountMicros: 30}, ErrExistsWithDifferentAmount},
		{"a hold posted that is not open", alive, events.HoldPosted{HoldID: "h", AmountMicros: 30}, ErrHoldNotOpen},
		{"a hold voided", holding, events.HoldVoided{HoldID: "h", AmountMicros: 40}, nil},
		{"a hold raised inconsistently", holding, events.HoldIncreased{HoldID: "h", AmountMicros: 50, DeltaMicros: 5}, ErrAmountNotRaised},
		{"a burn above what is available", holding, events.CreditsBurned{AmountMicros: 61}, ErrInsufficientCredits},
		{"a death", holding, events.AgentDied{BurnedMicros: 100, VoidedHolds: []string{"h"}}, nil},
		{"a death that keeps credits", alive, events.AgentDied{BurnedMicros: 99}, ErrDeathMismatch},
		{"a death that leaves a hold", holding, events.AgentDied{BurnedMicros: 100}, ErrDeathMismatch},
		{"a refusal while the hold is open", holding, events.PaymentRefused{HoldID: "h"}, ErrRefusalWithOpenHold},
		{"a dead agent acts", dead, events.CreditsBurned{AmountMicros: 1}, ErrAgentDead},
		{"a dead agent is paid", dead, events.TransferReceived{TransferID: "t", AmountMicros: 1}, ErrAgentDead},
		{"a dead agent's execution ends", Evolve(running, events.AgentDied{BurnedMicros: 100}), events.ExecutionEnded{ExecutionID: "x"}, nil},
		{"an execution ends that is not running", alive, events.ExecutionEnded{ExecutionID: "x"}, ErrExecutionNotRunning},
		{"an execution ends with the tokens it was allocated", tokens, events.ExecutionEnded{ExecutionID: "x", TokensUsed: 40}, nil},
		{"an execution ends with more tokens than allocated", tokens, events.ExecutionEnded{ExecutionID: "x", TokensUsed: 41}, ErrInvalidExecution},
		{"an execution ends with negative tokens", tokens, events.ExecutionEnded{ExecutionID: "x", TokensUsed: -1}, ErrInvalidExecution},
		{"an execution without tokens ends with tokens", running, events.ExecutionEnded{ExecutionID: "x", TokensUsed: 1}, ErrInvalidExecution},
		{"a grant", alive, events.CreditsGranted{AmountMicros: 5}, nil},
		{"a negative grant", alive, events.CreditsGranted{AmountMicros: -5}, ErrInvalidAmount},
		{"a grant to a dead agent", dead, events.CreditsGranted{AmountMicros: 5}, ErrAgentDead},
		{"a run again", running, events.ExecutionResumed{ExecutionID: "x", Attempt: 2}, nil},
		{"a run again of an execution not running", alive, events.ExecutionResumed{ExecutionID: "x", Attempt: 2}, ErrExecutionNotRunning},
		{"a run again out of order", running, events.ExecutionResumed{ExecutionID: "x", Attempt: 3}, ErrInvalidExecution},
		{"a balance past the maximum", alive, events.TransferReceived{TransferID: "t", AmountMicros: events.AmountMax}, ErrInadmissible},
		{"a spawn", alive, events.ChildSpawned{ChildID: "c", CostMicros: 60, InitialCreditsMicros: 40, Lineage: []string{"a"}}, nil},
		{"a spawn past the balance", alive, events.ChildSpawned{ChildID: "c", CostMicros: 61, InitialCreditsMicros: 40, Lineage: []string{"a"}}, ErrInsufficientCredits},
		{"a spawn of what is held", holding, events.ChildSpawned{ChildID: "c", CostMicros: 1, InitialCreditsMicros: 60, Lineage: []string{"a"}}, ErrInsufficientCredits},
		{"a spawn of no credits", alive, events.ChildSpawned{ChildID: "c", InitialCreditsMicros: 0, Lineage: []string{"a"}}, ErrInvalidAmount},
		{"a spawn with another's lineage", alive, events.ChildSpawned{ChildID: "c", InitialCreditsMicros: 1, Lineage: []string{"b"}}, ErrInvalidSpawn},
		{"a spawn of itself", alive, events.ChildSpawned{ChildID: "a", InitialCreditsMicros: 1, Lineage: []string{"a"}}, ErrInvalidSpawn},
		{"a dead agent spawns", dead, events.ChildSpawned{ChildID: "c", InitialCreditsMicros: 1, Lineage: []string{"a"}}, ErrAgentDead},
		{"a child's creation", New("c"), events.AgentCreated{AgentID: "c", ParentID: "a", Lineage: []string{"a"}, FundedMicros: 40}, nil},
		{"a child funded and granted", New("c"), events.AgentCreated{AgentID: "c", ParentID: "a", Lineage: []string{"a"}, FundedMicros: 40, GrantMicros: 1}, ErrInvalidSpawn},
		{"a child without its parent", New("c"), events.AgentCreated{AgentID: "c", Lineage: []string{"a"}, FundedMicros: 40}, ErrInvalidSpawn},
		{"a child whose bid its credits cannot pay", New("c"), events.AgentCreated{AgentID: "c", ParentID: "a", Lineage: []string{"a"},
			FundedMicros: 40, InitialBid: &events.InitialBid{BidID: "b", AmountMicros: 41, Terms: events.BidTerms{Pool: "main",
				Resources: map[string]events.Units{"cpu_seconds": 1}}}}, ErrInvalidSpawn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Admit(tt.given, tt.event)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Admit = %v; want it admitted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrInadmissible) {
				t.Fatalf("Admit = %v; want %v (and ErrInadmissible)", err, tt.want)
			}
		})
	}
}
