// Package economy is the whole economy folded from the log through the same
// Evolve functions the actors use, with every invariant of SPEC.md section 4
// checked after every event. It is what `agora audit` and `agora replay`
// run, and what tests compare the live actors against.
//
// Accounts are folded with agent.Evolve, markets with market.Evolve and
// clearing books with clearing.Evolve. Besides each actor's own state, the
// fold keeps what ties actors together (a bid's hold and its listing, an
// allocation and its payment, a cycle and its leases in each market) only
// as long as it is pending, plus the ids of settled allocations, which is
// what catching a second payment needs.
package economy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
)

// Violation is a broken invariant, at the stream sequence of the event that
// broke it.
type Violation struct {
	Seq       uint64 `json:"seq"`
	Subject   string `json:"subject"`
	Invariant string `json:"invariant"`
	Detail    string `json:"detail"`
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

// settlements are the transfers, or the messages, the fold has seen, by
// id: a message's cost settles as a transfer's amount does (messages.go).
// open counts those not settled yet. The words name, in the audit's
// violations, what settles and the invariants it keeps.
type settlements struct {
	byID map[string]*transfer
	open int

	noun       string // "transfer"
	onceRule   string // sent once, settled once
	amountRule string // settled for what was sent
	amountVerb string // "sent": what the amount was, in a violation
}

func newSettlements(noun, onceRule, amountRule, amountVerb string) settlements {
	return settlements{byID: map[string]*transfer{}, noun: noun, onceRule: onceRule, amountRule: amountRule, amountVerb: amountVerb}
}

// newTransferSettlements are the transfers of a fold, in the words of the
// audit's invariants for transfers.
func newTransferSettlements() settlements {
	return newSettlements("transfer", "transfer settles once", "transfer settles for its amount", "sent")
}

// send puts amount from one agent to another in flight. A second send of
// the same id (which the audit reports) replaces the first without
// counting it open twice.
func (e *Economy) send(s *settlements, id, from, to string, amount events.Micros) {
	e.InFlightMicros += amount
	if _, dup := s.byID[id]; !dup {
		s.open++
	}
	s.byID[id] = &transfer{from: from, to: to, amount: amount, state: transferInFlight}
}

// settle takes amount out of flight, burning it when burned, and settles
// the transfer or message id.
func (e *Economy) settle(s *settlements, id string, amount events.Micros, burned bool) {
	e.InFlightMicros -= amount
	if burned {
		e.BurnedMicros += amount
	}
	s.set(id, transferSettled)
}

// set moves id to state st; an id never sent (which the audit reports) is
// left alone.
func (s *settlements) set(id string, st transferState) {
	t, ok := s.byID[id]
	if !ok {
		return
	}
	if t.state != transferSettled && st == transferSettled {
		s.open--
	}
	t.state = st
}

// check checks one step of a transfer's or a message's life: it must be
// in state want, for the same amount, and involve this agent on the right
// side.
func (s *settlements) check(id string, amount events.Micros, agentID string, want transferState, recipientSide bool, v violationFunc) error {
	t, ok := s.byID[id]
	switch {
	case !ok:
		return v(s.onceRule, "%s %s was never sent", s.noun, id)
	case t.state != want:
		return v(s.onceRule, "%s %s settled again", s.noun, id)
	case t.amount != amount:
		return v(s.amountRule, "%s %s %s %s, settled %s", s.noun, id, s.amountVerb, t.amount, amount)
	}
	side := t.from
	if recipientSide {
		side = t.to
	}
	if side != agentID {
		return v(s.noun+" settles with its parties", "%s %s settled by %s, expected %s", s.noun, id, agentID, side)
	}
	return nil
}

// Economy is the folded state. The zero value is not ready: use New.
type Economy struct {
	Accounts map[string]agent.Account
	// Markets is every resource market, folded with market.Evolve.
	Markets map[string]market.Market
	// Books is every clearing pool, folded with clearing.Evolve.
	Books map[string]clearing.Book

	MintedMicros   events.Micros
	BurnedMicros   events.Micros
	InFlightMicros events.Micros
	// balancesMicros is the running sum of every account's balance.
	balancesMicros events.Micros
	// TokensUsed is the inference tokens every ended execution used, as
	// their ends record them.
	TokensUsed int64

	Events   uint64
	LastSeq  uint64
	LastTime time.Time

	transfers settlements
	// messages are every message sent, settled as transfers are
	// (messages.go).
	messages settlements
	// holdsResolved remembers every hold that was posted or voided, so a
	// second resolution of the same hold is caught.
	holdsResolved map[string]struct{}

	bids bidLedger
	// execs ties executions to their allocations and leases.
	execs executionLedger

	// Skipped are the records every follower skips, in log order
	// (skipped.go); skippedAt indexes them by sequence.
	Skipped   []Skipped
	skippedAt map[uint64]int

	// attention is the slot and its prompts' money (attention.go).
	attention *attentionLedger
}

// New returns an empty economy.
func New() *Economy {
	return &Economy{Accounts: map[string]agent.Account{}, Markets: map[string]market.Market{},
		Books: map[string]clearing.Book{}, transfers: newTransferSettlements(),
		holdsResolved: map[string]struct{}{}, bids: newBidLedger(), execs: newExecutionLedger(),
		skippedAt: map[uint64]int{}, messages: newMessageSettlements(), attention: newAttentionLedger()}
}

// MarketSummary is one market's headline.
type MarketSummary struct {
	SupplyUnits events.Units  `json:"supply_units"`
	LeasedUnits events.Units  `json:"leased_units"`
	PriceMicros events.Micros `json:"price_micros"`
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
	// OpenMessages counts the messages whose cost is in flight: sent and
	// neither delivered nor returned.
	OpenMessages int `json:"open_messages"`

	Markets           map[string]MarketSummary `json:"markets,omitempty"`
	OpenBids          int                      `json:"open_bids"`
	RunningExecutions int                      `json:"running_executions"`
	// Cycles is the number of allocation cycles cleared, over every pool.
	Cycles uint64 `json:"cycles"`
	// The work the process managers still owe: bid holds not yet listed
	// (or rejected), allocations not yet paid (or refused), refused
	// allocations whose execution still holds its leases, and cycles some
	// market has not recorded yet. All are 0 once the managers caught up.
	UnlistedBids       int `json:"unlisted_bids"`
	UnpaidAllocations  int `json:"unpaid_allocations"`
	UnreleasedRefusals int `json:"unreleased_refusals"`
	UnrecordedCycles   int `json:"unrecorded_cycles"`
	// ExecutionsStarted counts the executions ever started, over every
	// agent; ExecutionsRunning those started and not yet ended.
	ExecutionsStarted int64 `json:"executions_started"`
	ExecutionsRunning int   `json:"executions_running"`
	// UnreleasedEnds counts executions that ended while their book still
	// holds their leases: releases the clearing manager owes.
	UnreleasedEnds int `json:"unreleased_ends"`
	// TokensUsed is the inference tokens the ended executions used, each
	// within the tokens its bid won.
	TokensUsed int64 `json:"tokens_used"`
	// SkippedRecords counts the records every follower skipped (they do
	// not decode, or their event would break its actor's invariants);
	// UnacknowledgedRecords those of them the operator has not
	// acknowledged (agora skipped).
	SkippedRecords        int `json:"skipped_records"`
	UnacknowledgedRecords int `json:"unacknowledged_records"`
	// Attention is the attention slot's headline.
	Attention AttentionSummary `json:"attention"`
}

// Summary returns the headline figures.
func (e *Economy) Summary() Summary {
	s := Summary{Events: e.Events, LastSeq: e.LastSeq, LastTime: e.LastTime, Agents: len(e.Accounts),
		MintedMicros: e.MintedMicros, BurnedMicros: e.BurnedMicros, InFlightMicros: e.InFlightMicros,
		BalanceMicros: e.balancesMicros, OpenTransfers: e.transfers.open, OpenMessages: e.messages.open}
	for _, a := range e.Accounts {
		if a.Status == agent.StatusAlive {
			s.AgentsAlive++
		}
		s.HeldMicros += a.HeldMicros
		s.ExecutionsStarted += a.ExecutionCount
		s.ExecutionsRunning += len(a.Executions)
	}
	for name, m := range e.Markets {
		if s.Markets == nil {
			s.Markets = map[string]MarketSummary{}
		}
		s.Markets[name] = MarketSummary{SupplyUnits: m.SupplyUnits, LeasedUnits: m.LeasedUnits, PriceMicros: m.PriceMicros}
	}
	for _, b := range e.Books {
		s.OpenBids += len(b.Bids)
		s.RunningExecutions += len(b.Executions)
		s.Cycles += b.Cycle
	}
	s.UnlistedBids, s.UnpaidAllocations = len(e.bids.listings), len(e.bids.allocations)
	s.UnreleasedRefusals, s.UnrecordedCycles = len(e.bids.refused), e.bids.unrecordedCycles()
	s.UnreleasedEnds = len(e.execs.endedLeased)
	s.TokensUsed = e.TokensUsed
	s.Attention = e.attentionSummary()
	s.SkippedRecords = len(e.Skipped)
	for _, k := range e.Skipped {
		if !k.Acknowledged {
			s.UnacknowledgedRecords++
		}
	}
	return s
}

type violationFunc func(inv, format string, args ...any) error

// Apply folds one record and checks the invariants. A violation is
// returned as *Violation; the state is still advanced, so a report can go
// on if the caller wishes. A record that is not a fact (it does not
// decode, or its actor's Admit refuses its event) is skipped, as every
// follower skips it, and kept in Skipped; Apply returns nil for it.
func (e *Economy) Apply(r events.Record) error {
	ev, err := events.Read(r)
	return e.ApplyRead(r, ev, err)
}

// ApplyRead is Apply of a record already read: ev and err are what
// events.Read returns for r. Reading (checking the envelope, decoding the
// event) needs nothing of the fold, so an audit reads records ahead, on
// other cores, and folds them in order here.
func (e *Economy) ApplyRead(r events.Record, ev events.Event, err error) error {
	e.LastSeq = r.Seq
	ev, bad := e.admit(r, ev, err)
	if bad != nil {
		e.skip(bad)
		return nil
	}
	kind, id, _ := events.ActorOf(r)
	e.Events++
	e.LastTime = r.Envelope.Time
	v := func(inv, format string, args ...any) error {
		return &Violation{Seq: r.Seq, Subject: r.Envelope.Subject, Invariant: inv, Detail: fmt.Sprintf(format, args...)}
	}
	switch kind {
	case events.KindAgent:
		return e.applyAgent(id, ev, v)
	case events.KindMarket:
		if err, ok := e.applyAttentionMarket(id, ev, v); ok {
			return err
		}
		return e.applyMarket(id, ev, v)
	case events.KindAttention:
		return e.applyAttention(id, ev, v)
	case events.KindClearing:
		return e.applyBook(id, r.Seq, ev, v)
	case events.KindSystem:
		if a, ok := ev.(events.RecordAcknowledged); ok && id == events.RecordsID {
			e.acknowledge(r.Seq, a)
		}
	}
	return nil
}

// applyAgent checks and folds one event of an account: the account's own
// rules, then what it means for the bids and allocations it pays for.
func (e *Economy) applyAgent(id string, ev events.Event, v violationFunc) error {
	before, known := e.Accounts[id]
	if !known {
		// The id is cut from the record's subject: a copy of its own keeps
		// the subject from staying reachable through the account and its
		// key, for as long as the fold runs.
		id = strings.Clone(id)
		before = agent.New(id)
	}
	err := e.checkTransition(before, ev, v)
	if err == nil {
		err = e.checkBidHold(before, ev, v)
	}
	if err == nil {
		err = e.checkExecution(before, ev, v)
	}
	if err == nil {
		err = e.checkSpawn(before, ev, v)
	}
	if err == nil {
		err = e.checkPromptMoney(before, ev, v)
	}
	after := e.fold(id, before, ev)
	e.foldPromptMoney(ev)
	e.trackBidHold(id, ev)
	e.trackExecution(ev)
	if err != nil {
		return err
	}
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
		e.foldSpawnedCreation(id, ev)
	case events.ChildSpawned:
		e.foldSpawn(id, ev)
	case events.CreditsGranted:
		e.MintedMicros += ev.AmountMicros
	case events.TransferSent:
		e.send(&e.transfers, ev.TransferID, id, ev.ToAgentID, ev.AmountMicros)
	case events.TransferReceived:
		e.settle(&e.transfers, ev.TransferID, ev.AmountMicros, false)
	case events.TransferBounced:
		e.transfers.set(ev.TransferID, transferBounced)
	case events.TransferReturned:
		e.settle(&e.transfers, ev.TransferID, ev.AmountMicros, ev.Burned)
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
	case events.ExecutionEnded:
		e.TokensUsed += ev.TokensUsed
	default:
		e.foldMessage(id, ev)
	}
	return after
}

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
		case events.ExecutionEnded:
			// An execution running at the death still ends (checked
			// below: it must be running).
		case events.ExecutionStarted:
			return v("a dead agent never executes", "execution %s starts after the death of %s", ev.ExecutionID, a.ID)
		case events.TransferReturned:
			if !ev.Burned {
				return v("dead agents receive nothing", "transfer %s returned to dead agent %s", ev.TransferID, a.ID)
			}
		case events.MessageBounced:
		case events.MessageReturned:
			if !ev.Burned {
				return v("dead agents receive nothing", "message %s's cost returned to dead agent %s", ev.MessageID, a.ID)
			}
		default:
			return v("dead agents never act", "%s after the death of %s", ev.EventType(), a.ID)
		}
	}
	if err, ok := e.checkMessage(a, ev, v); ok {
		if err != nil || a.Exists() {
			return err
		}
		if _, bounced := ev.(events.MessageBounced); bounced {
			return nil
		}
		return v("accounts exist before they act", "%s on agent %s, which was never created", ev.EventType(), a.ID)
	}
	switch ev := ev.(type) {
	case events.TransferSent:
		if _, dup := e.transfers.byID[ev.TransferID]; dup {
			return v("transfer once", "transfer id %s sent twice", ev.TransferID)
		}
	case events.TransferReceived:
		return e.transfers.check(ev.TransferID, ev.AmountMicros, a.ID, transferInFlight, true, v)
	case events.TransferBounced:
		return e.transfers.check(ev.TransferID, ev.AmountMicros, a.ID, transferInFlight, true, v)
	case events.TransferReturned:
		return e.transfers.check(ev.TransferID, ev.AmountMicros, a.ID, transferBounced, false, v)
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
	case events.CreditsGranted:
		// The operator's grant mints, within what one command may carry
		// and an account may hold.
		if events.ValidatePositive(ev.AmountMicros) != nil || a.BalanceMicros > events.AmountMax-ev.AmountMicros {
			return v("grant within bounds", "grant %s to %s with balance %s", ev.AmountMicros, a.ID, a.BalanceMicros)
		}
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

// sameUnits reports whether two bundles ask for the same units.
func sameUnits(a, b map[string]events.Units) bool {
	return maps.Equal(a, b)
}

// sortedKeys lists a map's keys in order, for deterministic reports.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
