// Package economy is the whole economy folded from the log through the same
// Evolve functions the actors use, with every invariant of SPEC.md section 4
// checked after every event. It is what `agora audit` and `agora replay`
// run, and what tests compare the live actors against.
package economy

import (
	"errors"
	"fmt"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Violation is a broken invariant, at the stream sequence of the event that
// broke it.
type Violation struct {
	Seq       uint64
	Subject   string
	Invariant string
	Detail    string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("seq %d (%s): %s: %s", v.Seq, v.Subject, v.Invariant, v.Detail)
}

// ErrViolation matches every *Violation with errors.Is.
var ErrViolation = errors.New("invariant violated")

// Is makes errors.Is(v, ErrViolation) true.
func (v *Violation) Is(target error) bool { return target == ErrViolation }

type transferState uint8

const (
	transferInFlight transferState = iota + 1
	transferBounced
	transferSettled
)

type transfer struct {
	from, to string
	amount   events.Micros
	state    transferState
}

// Economy is the folded state. The zero value is not ready: use New.
type Economy struct {
	Accounts map[string]agent.Account

	MintedMicros   events.Micros
	BurnedMicros   events.Micros
	InFlightMicros events.Micros
	// balancesMicros is the running sum of every account's balance.
	balancesMicros events.Micros

	Events   uint64
	LastSeq  uint64
	LastTime time.Time

	transfers map[string]*transfer
	// holdsResolved remembers every hold that was posted or voided, so a
	// second resolution of the same hold is caught.
	holdsResolved map[string]struct{}
}

// New returns an empty economy.
func New() *Economy {
	return &Economy{Accounts: map[string]agent.Account{}, transfers: map[string]*transfer{},
		holdsResolved: map[string]struct{}{}}
}

// Summary is the headline of an audit or a replay.
type Summary struct {
	Events         uint64        `json:"events"`
	LastSeq        uint64        `json:"last_seq"`
	LastTime       time.Time     `json:"last_time"`
	Agents         int           `json:"agents"`
	AgentsAlive    int           `json:"agents_alive"`
	MintedMicros   events.Micros `json:"minted_micros"`
	BurnedMicros   events.Micros `json:"burned_micros"`
	InFlightMicros events.Micros `json:"in_flight_micros"`
	BalanceMicros  events.Micros `json:"balance_micros"`
	HeldMicros     events.Micros `json:"held_micros"`
	OpenTransfers  int           `json:"open_transfers"`
}

// Summary returns the headline figures.
func (e *Economy) Summary() Summary {
	s := Summary{Events: e.Events, LastSeq: e.LastSeq, LastTime: e.LastTime, Agents: len(e.Accounts),
		MintedMicros: e.MintedMicros, BurnedMicros: e.BurnedMicros, InFlightMicros: e.InFlightMicros,
		BalanceMicros: e.balancesMicros}
	for _, a := range e.Accounts {
		if a.Status == agent.StatusAlive {
			s.AgentsAlive++
		}
		s.HeldMicros += a.HeldMicros
	}
	for _, t := range e.transfers {
		if t.state != transferSettled {
			s.OpenTransfers++
		}
	}
	return s
}

// Apply folds one record and checks the invariants. A violation is
// returned as *Violation; the state is still advanced, so a report can go
// on if the caller wishes.
func (e *Economy) Apply(r events.Record) error {
	ev, err := events.Decode(r.Envelope)
	if err != nil {
		return &Violation{Seq: r.Seq, Subject: r.Envelope.Subject, Invariant: "decodable", Detail: err.Error()}
	}
	kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
	if err != nil {
		return &Violation{Seq: r.Seq, Subject: r.Envelope.Subject, Invariant: "subject", Detail: err.Error()}
	}
	e.Events++
	e.LastSeq, e.LastTime = r.Seq, r.Envelope.Time
	if kind != events.KindAgent {
		return nil
	}
	v := func(inv, format string, args ...any) error {
		return &Violation{Seq: r.Seq, Subject: r.Envelope.Subject, Invariant: inv, Detail: fmt.Sprintf(format, args...)}
	}
	before, known := e.Accounts[id]
	if !known {
		before = agent.New(id)
	}
	if err := e.checkTransition(before, ev, v); err != nil {
		e.fold(id, before, ev)
		return err
	}
	after := e.fold(id, before, ev)
	return e.checkAfter(after, v)
}

// fold advances the account and the economy-wide totals.
func (e *Economy) fold(id string, before agent.Account, ev events.Event) agent.Account {
	balanceBefore := before.BalanceMicros
	after := agent.Evolve(before, ev)
	e.Accounts[id] = after
	e.balancesMicros += after.BalanceMicros - balanceBefore
	switch ev := ev.(type) {
	case events.AgentCreated:
		e.MintedMicros += ev.GrantMicros
	case events.TransferSent:
		e.InFlightMicros += ev.AmountMicros
		e.transfers[ev.TransferID] = &transfer{from: id, to: ev.ToAgentID, amount: ev.AmountMicros, state: transferInFlight}
	case events.TransferReceived:
		e.InFlightMicros -= ev.AmountMicros
		e.setTransfer(ev.TransferID, transferSettled)
	case events.TransferBounced:
		e.setTransfer(ev.TransferID, transferBounced)
	case events.TransferReturned:
		e.InFlightMicros -= ev.AmountMicros
		if ev.Burned {
			e.BurnedMicros += ev.AmountMicros
		}
		e.setTransfer(ev.TransferID, transferSettled)
	case events.HoldPosted:
		e.BurnedMicros += ev.AmountMicros
		e.holdsResolved[id+"/"+ev.HoldID] = struct{}{}
	case events.HoldVoided:
		e.holdsResolved[id+"/"+ev.HoldID] = struct{}{}
	case events.CreditsBurned:
		e.BurnedMicros += ev.AmountMicros
	case events.AgentDied:
		e.BurnedMicros += ev.BurnedMicros
		for _, h := range ev.VoidedHolds {
			e.holdsResolved[id+"/"+h] = struct{}{}
		}
	}
	return after
}

func (e *Economy) setTransfer(id string, s transferState) {
	if t, ok := e.transfers[id]; ok {
		t.state = s
	}
}

type violationFunc func(inv, format string, args ...any) error

// checkTransition checks what an event may do given the state before it.
func (e *Economy) checkTransition(a agent.Account, ev events.Event, v violationFunc) error {
	if _, created := ev.(events.AgentCreated); created {
		if a.Exists() {
			return v("single creation", "agent %s created twice", a.ID)
		}
		return nil
	}
	if a.Status == agent.StatusDead {
		switch ev := ev.(type) {
		case events.TransferBounced, events.PaymentRefused:
		case events.TransferReturned:
			if !ev.Burned {
				return v("dead agents receive nothing", "transfer %s returned to dead agent %s", ev.TransferID, a.ID)
			}
		default:
			return v("dead agents never act", "%s after the death of %s", ev.EventType(), a.ID)
		}
	}
	switch ev := ev.(type) {
	case events.TransferSent:
		if _, dup := e.transfers[ev.TransferID]; dup {
			return v("transfer once", "transfer id %s sent twice", ev.TransferID)
		}
	case events.TransferReceived:
		return e.checkSettle(ev.TransferID, ev.AmountMicros, a.ID, transferInFlight, true, v)
	case events.TransferBounced:
		return e.checkSettle(ev.TransferID, ev.AmountMicros, a.ID, transferInFlight, true, v)
	case events.TransferReturned:
		return e.checkSettle(ev.TransferID, ev.AmountMicros, a.ID, transferBounced, false, v)
	case events.HoldPlaced:
		if _, open := a.Holds[ev.HoldID]; open {
			return v("hold once", "hold %s placed twice", ev.HoldID)
		}
		if _, done := e.holdsResolved[a.ID+"/"+ev.HoldID]; done {
			return v("hold once", "hold %s placed again after it was resolved", ev.HoldID)
		}
	case events.HoldIncreased:
		if held, open := a.Holds[ev.HoldID]; !open || ev.AmountMicros-held != ev.DeltaMicros || ev.DeltaMicros <= 0 {
			return v("hold raised consistently", "hold %s: open %v, held %s, new %s, delta %s", ev.HoldID, open, held, ev.AmountMicros, ev.DeltaMicros)
		}
	case events.HoldPosted:
		return checkResolve(a, ev.HoldID, ev.AmountMicros+ev.ReleasedMicros, v)
	case events.PaymentRefused:
		if _, open := a.Holds[ev.HoldID]; open {
			return v("payment refused only without a hold", "hold %s is open", ev.HoldID)
		}
	case events.HoldVoided:
		return checkResolve(a, ev.HoldID, ev.AmountMicros, v)
	case events.AgentDied:
		if ev.BurnedMicros != a.BalanceMicros {
			return v("death burns the balance", "burned %s, balance %s", ev.BurnedMicros, a.BalanceMicros)
		}
		if len(ev.VoidedHolds) != len(a.Holds) {
			return v("death voids every hold", "voided %d, open %d", len(ev.VoidedHolds), len(a.Holds))
		}
		for _, h := range ev.VoidedHolds {
			if _, open := a.Holds[h]; !open {
				return v("hold resolved once", "death voids hold %s, which is not open", h)
			}
		}
	}
	if !a.Exists() {
		if _, ok := ev.(events.TransferBounced); !ok {
			return v("accounts exist before they act", "%s on agent %s, which was never created", ev.EventType(), a.ID)
		}
	}
	return nil
}

func checkResolve(a agent.Account, hold string, amount events.Micros, v violationFunc) error {
	held, open := a.Holds[hold]
	if !open {
		return v("hold resolved once", "hold %s is not open", hold)
	}
	if held != amount {
		return v("hold resolved for its amount", "hold %s holds %s, resolved for %s", hold, held, amount)
	}
	return nil
}

// checkSettle checks one step of a transfer's life: it must be in state
// want, for the same amount, and involve this agent on the right side.
func (e *Economy) checkSettle(id string, amount events.Micros, agentID string, want transferState, recipientSide bool, v violationFunc) error {
	t, ok := e.transfers[id]
	if !ok {
		return v("transfer settles once", "transfer %s was never sent", id)
	}
	if t.state != want {
		return v("transfer settles once", "transfer %s settled again", id)
	}
	if t.amount != amount {
		return v("transfer settles for its amount", "transfer %s sent %s, settled %s", id, t.amount, amount)
	}
	if side := map[bool]string{true: t.to, false: t.from}[recipientSide]; side != agentID {
		return v("transfer settles with its parties", "transfer %s settled by %s, expected %s", id, agentID, side)
	}
	return nil
}

// checkAfter checks the account and the totals after the event.
func (e *Economy) checkAfter(a agent.Account, v violationFunc) error {
	switch {
	case a.BalanceMicros < 0:
		return v("no negative balance", "agent %s balance %s", a.ID, a.BalanceMicros)
	case a.HeldMicros < 0:
		return v("no negative held", "agent %s held %s", a.ID, a.HeldMicros)
	case a.HeldMicros > a.BalanceMicros:
		return v("held <= balance", "agent %s held %s > balance %s", a.ID, a.HeldMicros, a.BalanceMicros)
	case e.InFlightMicros < 0:
		return v("no negative in flight", "in flight %s", e.InFlightMicros)
	}
	if lhs, rhs := e.balancesMicros+e.InFlightMicros, e.MintedMicros-e.BurnedMicros; lhs != rhs {
		return v("conservation", "balances %s + in flight %s = %s, minted %s - burned %s = %s",
			e.balancesMicros, e.InFlightMicros, lhs, e.MintedMicros, e.BurnedMicros, rhs)
	}
	return nil
}
