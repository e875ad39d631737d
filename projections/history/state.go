package history

import (
	"fmt"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// State is the history as a plain value: Apply folds records into it without
// IO, clocks or locks, so tests can drive it as a table and a replay gives it
// back exactly. It is not safe for concurrent use; View wraps it for that.
// The zero State is empty with the default limits.
type State struct {
	limits limits
	// agents are what the history keeps of each agent it has seen: its
	// balance and its kept transactions. Not its whole account: the
	// balance is all the transactions need of it, and an agent long dead
	// should cost the read model little more than its transactions
	// (docs/decisions.md, "The history keeps a balance per agent, not an
	// account").
	agents map[string]*agentHistory
	recent ring
	// memos holds one copy of each memo many transactions repeat (the
	// reasons of creations and deaths, the purposes of holds).
	memos projections.Interned
	// holdsScratch is lent to agent.Evolve as the holds of the account it
	// moves the balance of (balanceAfter), so that no map is made per
	// event; it is emptied after each use.
	holdsScratch map[string]events.Micros
	// transfers are the transfers in flight, by transfer id: the receiving
	// and returning events do not repeat the memo or the recipient. An entry
	// lives until the transfer settles, so these are as many as the credits
	// in flight, which SPEC.md 4.1 requires to settle exactly once.
	transfers map[string]pendingTransfer
	// holds are the open holds' purposes, so that a payment says what it
	// paid for; they are as many as the open bids and prompts.
	holds map[holdKey]string
}

// agentHistory is one agent's part of the history: its balance after its
// last event and its newest transactions.
type agentHistory struct {
	balance events.Micros
	txs     agentRing
}

type pendingTransfer struct {
	from, to, memo, bounceReason string
}

type holdKey struct{ agentID, holdID string }

// NewState returns an empty state with the given limits.
func NewState(opts ...Option) (*State, error) {
	l, err := newLimits(opts)
	if err != nil {
		return nil, err
	}
	return &State{limits: l}, nil
}

// reset empties s and keeps its limits.
func (s *State) reset() { *s = State{limits: s.limits} }

func (s *State) init() {
	if s.limits == (limits{}) {
		s.limits, _ = newLimits(nil)
	}
	if s.agents == nil {
		s.agents = map[string]*agentHistory{}
		s.holdsScratch = map[string]events.Micros{}
		s.transfers = map[string]pendingTransfer{}
		s.holds = map[holdKey]string{}
	}
}

// ForAgent returns up to limit of the agent's transactions, newest first
// (limit <= 0: all that are kept). An unknown agent has none.
func (s *State) ForAgent(agentID string, limit int) []Transaction {
	h, ok := s.agents[agentID]
	if !ok {
		return []Transaction{}
	}
	return newest(&h.txs, agentID, limit)
}

// Recent returns up to limit of the economy's transactions, newest first
// (limit <= 0: all that are kept).
func (s *State) Recent(limit int) []Transaction { return s.recent.Newest(limit) }

// Balance is the agent's balance after its last event, and whether the
// history has seen an event of the agent at all.
func (s *State) Balance(agentID string) (events.Micros, bool) {
	h, ok := s.agents[agentID]
	if !ok {
		return 0, false
	}
	return h.balance, true
}

// Apply folds one record into s. Records of other kinds than agent, and
// agent events that move no balance (holds placed, raised or voided), add
// no transaction. An agent the history has not seen created starts at a
// zero balance: a log may be read from a later point, and the view shows
// what it was given rather than refuse it. On error s is unchanged.
func Apply(s *State, rec events.Record) error {
	// A record that is not a sound event is skipped by every follower
	// (events.Check): the error says so, and the runner passes over it.
	if err := events.Check(rec); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	kind, agentID, _ := events.ActorOf(rec)
	if kind != events.KindAgent {
		return nil
	}
	e, err := events.Read(rec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	s.init()
	h, ok := s.agents[agentID]
	if !ok {
		// The id is cut from the record's subject: a copy of its own
		// keeps the subject from staying reachable through the key.
		agentID = strings.Clone(agentID)
		h = &agentHistory{}
		s.agents[agentID] = h
	}
	f := &fold{s: s, rec: rec, agentID: agentID}
	f.event(e)
	h.balance = s.balanceAfter(agentID, h.balance, e)
	if f.t != nil {
		f.keep(h, *f.t)
	}
	return nil
}

// balanceAfter is the agent's balance after e, as agent.Evolve (the agent
// actor's own fold) moves it: by the event alone, whatever else the account
// holds. The account it folds is the balance and nothing more, with holds
// lent from the state (Evolve writes a raised hold into the map it is
// given).
func (s *State) balanceAfter(agentID string, balance events.Micros, e events.Event) events.Micros {
	a := agent.Account{ID: agentID, BalanceMicros: balance, Holds: s.holdsScratch}
	balance = agent.Evolve(a, e).BalanceMicros
	clear(s.holdsScratch)
	return balance
}

// fold applies one decoded agent event of one record.
type fold struct {
	s       *State
	rec     events.Record
	agentID string
	// t is the transaction of the event, if it makes one.
	t *Transaction
}

func (f *fold) event(e events.Event) {
	s := f.s
	switch e := e.(type) {
	case events.AgentCreated:
		if e.FundedMicros != 0 {
			f.add(Transaction{Kind: KindSpawned, CounterpartyID: e.ParentID, AmountMicros: e.FundedMicros + e.GrantMicros,
				Reference: events.SpawnTransferID(e.AgentID), Memo: e.Reason})
			break
		}
		f.add(Transaction{Kind: KindGrant, AmountMicros: e.GrantMicros, Memo: e.Reason})
	case events.ChildSpawned:
		f.add(Transaction{Kind: KindSpawn, CounterpartyID: e.ChildID, AmountMicros: -(e.CostMicros + e.InitialCreditsMicros),
			Reference: events.SpawnTransferID(e.ChildID),
			Memo:      fmt.Sprintf("spawn cost %s, initial credits %s", e.CostMicros, e.InitialCreditsMicros)})
	case events.CreditsGranted:
		f.add(Transaction{Kind: KindGrant, AmountMicros: e.AmountMicros, Memo: e.Reason})
	case events.HumanRewarded:
		f.add(Transaction{Kind: KindReward, AmountMicros: e.AmountMicros, Reference: e.PromptID, Memo: "the human's reward"})
	case events.TransferSent:
		s.transfers[e.TransferID] = pendingTransfer{from: f.agentID, to: e.ToAgentID, memo: e.Memo}
		f.add(Transaction{Kind: KindTransferOut, CounterpartyID: e.ToAgentID,
			AmountMicros: -e.AmountMicros, Reference: e.TransferID, Memo: e.Memo})
	case events.TransferReceived:
		p := s.transfers[e.TransferID]
		delete(s.transfers, e.TransferID)
		f.add(Transaction{Kind: KindTransferIn, CounterpartyID: e.FromAgentID,
			AmountMicros: e.AmountMicros, Reference: e.TransferID, Memo: p.memo})
	case events.TransferBounced:
		if p, ok := s.transfers[e.TransferID]; ok {
			p.bounceReason = e.Reason
			s.transfers[e.TransferID] = p
		}
		f.add(Transaction{Kind: KindTransferBounced, CounterpartyID: e.FromAgentID,
			Reference: e.TransferID, Memo: e.Reason})
	case events.TransferReturned:
		f.returned(e)
	case events.HoldPlaced:
		if e.Purpose != "" {
			s.holds[holdKey{f.agentID, e.HoldID}] = e.Purpose
		}
	case events.HoldPosted:
		key := holdKey{f.agentID, e.HoldID}
		purpose := s.holds[key]
		delete(s.holds, key)
		f.add(Transaction{Kind: KindHoldPosted, AmountMicros: -e.AmountMicros,
			Reference: e.HoldID, Memo: purpose})
	case events.HoldVoided:
		delete(s.holds, holdKey{f.agentID, e.HoldID})
	case events.CreditsBurned:
		f.add(Transaction{Kind: KindBurn, AmountMicros: -e.AmountMicros, Memo: e.Reason})
	case events.AgentDied:
		for _, id := range e.VoidedHolds {
			delete(s.holds, holdKey{f.agentID, id})
		}
		f.add(Transaction{Kind: KindDeathBurn, AmountMicros: -e.BurnedMicros, Memo: e.Reason})
	// A message moves no money at its recipient: its cost, in flight, is
	// burned there. A returned cost burned (the sender died) moves none
	// either.
	case events.MessageSent:
		f.add(Transaction{Kind: KindMessageCost, CounterpartyID: e.ToAgentID, AmountMicros: -e.CostMicros, Reference: e.MessageID})
	case events.MessageReturned:
		if !e.Burned {
			f.add(Transaction{Kind: KindMessageReturned, CounterpartyID: e.ToAgentID, AmountMicros: e.CostMicros, Reference: e.MessageID})
		}
	}
}

// returned settles a bounced transfer at its sender: back in the balance, or
// burned in flight when the sender has died.
func (f *fold) returned(e events.TransferReturned) {
	p, known := f.s.transfers[e.TransferID]
	delete(f.s.transfers, e.TransferID)
	// The original recipient is the counterparty. It is known from the
	// TransferSent unless the log was read from a later point; then the
	// event's own field is the best there is, unless it names the sender.
	counterparty := p.to
	if !known && e.ToAgentID != f.agentID {
		counterparty = e.ToAgentID
	}
	t := Transaction{Kind: KindTransferReturned, CounterpartyID: counterparty,
		AmountMicros: e.AmountMicros, Reference: e.TransferID, Memo: p.bounceReason}
	if e.Burned {
		t.Kind, t.AmountMicros = KindTransferBurned, 0
	}
	f.add(t)
}

// add makes t the event's transaction.
func (f *fold) add(t Transaction) { f.t = &t }

// keep completes t with the record's identity and the agent's balance
// after the event and keeps it in h, the agent's history.
func (f *fold) keep(h *agentHistory, t Transaction) {
	s := f.s
	if t.AmountMicros == 0 && t.Kind != KindTransferBounced && t.Kind != KindTransferBurned {
		return // a zero grant or an empty death burn moves no money
	}
	t.Seq, t.Time, t.EventID = f.rec.Seq, f.rec.Envelope.Time, f.rec.Envelope.ID
	t.AgentID, t.BalanceAfterMicros = f.agentID, h.balance
	t.Memo = s.memos.Of(t.Memo)
	h.txs.Push(keptOf(t), s.limits.historyLengthMax)
	s.recent.Push(t, s.limits.recentLengthMax)
}
