// Package agent is the account of an agent: its balance, its holds, its
// life. Decide and Evolve are pure (no clock, no IO); the actor shell in
// actors/runtime runs them against the event log.
package agent

import "github.com/agora-econ/agora/events"

// Status is an agent's life: alive until it dies, never back.
type Status string

// The statuses of an account.
const (
	StatusNone  Status = ""
	StatusAlive Status = "alive"
	StatusDead  Status = "dead"
)

// Account is the state of one agent: nothing but the fold of its events.
type Account struct {
	ID            string                   `json:"id"`
	Status        Status                   `json:"status"`
	ParentID      string                   `json:"parent_id,omitempty"`
	Lineage       []string                 `json:"lineage,omitempty"`
	BalanceMicros events.Micros            `json:"balance_micros"`
	HeldMicros    events.Micros            `json:"held_micros"`
	Holds         map[string]events.Micros `json:"holds,omitempty"`
	// Settled is, per process manager, the stream sequence of the last
	// trigger applied; see events.Trigger.
	Settled map[string]uint64 `json:"settled,omitempty"`
	// SettledIndex is the Index of that trigger, when not 0.
	SettledIndex map[string]uint32 `json:"settled_index,omitempty"`
	// Totals for the agent's metadata.
	GrantedMicros  events.Micros `json:"granted_micros"`
	ReceivedMicros events.Micros `json:"received_micros"`
	SentMicros     events.Micros `json:"sent_micros"`
	SpentMicros    events.Micros `json:"spent_micros"`
}

// New is the state of an account before its first event.
func New(id string) Account { return Account{ID: id} }

// Available is what the agent may still commit: balance minus held.
func (a Account) Available() events.Micros { return a.BalanceMicros - a.HeldMicros }

// Exists reports whether the account was created.
func (a Account) Exists() bool { return a.Status != StatusNone }

// applied reports whether trigger t was already applied to this account.
func (a Account) applied(t events.Trigger) bool {
	return t.Seq != 0 && !t.After(a.Settled[t.Manager], a.SettledIndex[t.Manager])
}

// Evolve applies one event. It never fails: an event in the log is a fact.
// The returned account may share its maps with the one passed in, which the
// caller gives up.
func Evolve(a Account, e events.Event) Account {
	switch e := e.(type) {
	case events.AgentCreated:
		a.Status, a.ParentID, a.Lineage = StatusAlive, e.ParentID, e.Lineage
		a.BalanceMicros += e.GrantMicros
		a.GrantedMicros += e.GrantMicros
	case events.TransferSent:
		a.BalanceMicros -= e.AmountMicros
		a.SentMicros += e.AmountMicros
	case events.TransferReceived:
		a.BalanceMicros += e.AmountMicros
		a.ReceivedMicros += e.AmountMicros
		a = a.settle(e.Trigger)
	case events.TransferBounced:
		a = a.settle(e.Trigger)
	case events.TransferReturned:
		if !e.Burned {
			a.BalanceMicros += e.AmountMicros
			a.SentMicros -= e.AmountMicros
		}
		a = a.settle(e.Trigger)
	case events.HoldPlaced:
		if a.Holds == nil {
			a.Holds = map[string]events.Micros{}
		}
		a.Holds[e.HoldID] = e.AmountMicros
		a.HeldMicros += e.AmountMicros
		a = a.settle(e.Trigger)
	case events.HoldIncreased:
		a.Holds[e.HoldID] = e.AmountMicros
		a.HeldMicros += e.DeltaMicros
		a = a.settle(e.Trigger)
	case events.HoldPosted:
		delete(a.Holds, e.HoldID)
		a.HeldMicros -= e.AmountMicros + e.ReleasedMicros
		a.BalanceMicros -= e.AmountMicros
		a.SpentMicros += e.AmountMicros
		a = a.settle(e.Trigger)
	case events.HoldVoided:
		delete(a.Holds, e.HoldID)
		a.HeldMicros -= e.AmountMicros
		a = a.settle(e.Trigger)
	case events.CreditsBurned:
		a.BalanceMicros -= e.AmountMicros
		a.SpentMicros += e.AmountMicros
		a = a.settle(e.Trigger)
	case events.PaymentRefused:
		a = a.settle(e.Trigger)
	case events.AgentDied:
		a.Status = StatusDead
		a.Holds, a.HeldMicros = nil, 0
		a.BalanceMicros -= e.BurnedMicros
		a = a.settle(e.Trigger)
	}
	return a
}

func (a Account) settle(t events.Trigger) Account {
	if t.Seq == 0 {
		return a
	}
	if a.Settled == nil {
		a.Settled = map[string]uint64{}
	}
	a.Settled[t.Manager] = t.Seq
	switch {
	case t.Index != 0:
		if a.SettledIndex == nil {
			a.SettledIndex = map[string]uint32{}
		}
		a.SettledIndex[t.Manager] = t.Index
	case a.SettledIndex != nil:
		delete(a.SettledIndex, t.Manager)
	}
	return a
}
