package directory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// State is the directory as a plain value: Apply folds records into it
// without IO, clocks or locks, so tests can drive it as a table and a
// replay gives it back exactly. It is not safe for concurrent use; View
// wraps it for that. The zero State is empty.
type State struct {
	agents map[string]*entry
	// ids are every agent's id and living the living agents' ids, both
	// sorted, so that pages are read in order without sorting.
	ids    []string
	living []string
	totals Totals
	// reasons holds one copy of each reason many agents were created or
	// died for ("operator", "killed", ...).
	reasons projections.Interned
}

// entry is one agent's record and what the fold needs to keep it. The
// record (Agent) is not kept whole: what the account holds (id, status,
// parent, program, balance and the other totals, executions) is read from
// the account when a record is asked for, and own keeps the rest, so that
// each agent ever created costs one copy of its figures, not two
// (docs/decisions.md, "A directory entry is its account and what the
// account does not keep").
type entry struct {
	// account is the agent's account folded with agent.Evolve: the
	// record's balance, holds, status and executions are its.
	account agent.Account
	own     own
	// bidHolds are the agent's open holds that reserve a bid, so that a
	// payment is known to be a won bid; as many as its open bids.
	bidHolds map[string]struct{}
}

// own is what the directory's record of an agent holds that its account
// does not: each field is the Agent field of the same name.
type own struct {
	Lineage           []string
	Children          []string
	CreatedAt         projections.Instant
	CreatedSeq        uint64
	CreationReason    string
	DiedAt            projections.Instant
	DeathReason       string
	PaidMicros        events.Micros
	BurnedMicros      events.Micros
	DeathBurnedMicros events.Micros
	BidsPlaced        int64
	BidsWon           int64
	LastExecution     *Execution
}

// agent is the entry's record, put together from its account and its own
// fields. It shares their slices and execution: clone it to keep it.
func (e *entry) agent() Agent {
	acc, o := &e.account, &e.own
	return Agent{ID: acc.ID, Status: Status(acc.Status), ParentID: acc.ParentID, Lineage: o.Lineage,
		Children: o.Children, Command: acc.Command, CreatedAt: o.CreatedAt.Time(), CreatedSeq: o.CreatedSeq,
		CreationReason: o.CreationReason, DiedAt: o.DiedAt.Time(), DeathReason: o.DeathReason,
		BalanceMicros: acc.BalanceMicros, HeldMicros: acc.HeldMicros, GrantMicros: acc.GrantedMicros,
		ReceivedMicros: acc.ReceivedMicros, RewardMicros: acc.RewardedMicros, PaidMicros: o.PaidMicros,
		SentMicros: acc.SentMicros, BurnedMicros: o.BurnedMicros, DeathBurnedMicros: o.DeathBurnedMicros,
		BidsPlaced: o.BidsPlaced, BidsWon: o.BidsWon, ExecutionCount: acc.ExecutionCount,
		ExecutionsRunning: len(acc.Executions), LastExecution: o.LastExecution}
}

// ownOf is the part of a the account does not hold.
func ownOf(a Agent) own {
	return own{Lineage: a.Lineage, Children: a.Children, CreatedAt: projections.InstantOf(a.CreatedAt), CreatedSeq: a.CreatedSeq,
		CreationReason: a.CreationReason, DiedAt: projections.InstantOf(a.DiedAt), DeathReason: a.DeathReason, PaidMicros: a.PaidMicros,
		BurnedMicros: a.BurnedMicros, DeathBurnedMicros: a.DeathBurnedMicros, BidsPlaced: a.BidsPlaced,
		BidsWon: a.BidsWon, LastExecution: a.LastExecution}
}

func (s *State) init() {
	if s.agents == nil {
		s.agents = map[string]*entry{}
		s.totals.ExecutionsEnded = map[string]int64{}
	}
}

// reset empties s.
func (s *State) reset() { *s = State{} }

// Get returns a copy of agent id's record, if the agent was created.
func (s *State) Get(id string) (Agent, bool) {
	e, ok := s.agents[id]
	if !ok {
		return Agent{}, false
	}
	return e.agent().clone(), true
}

// Living returns up to limit ids of living agents, in ascending order,
// strictly after after ("" for the first page); limit <= 0 means all.
func (s *State) Living(after string, limit int) []string {
	ids := page(s.living, after, limit)
	return append(make([]string, 0, len(ids)), ids...)
}

// List returns up to limit agents, dead or alive, in ascending order of
// id, strictly after after ("" for the first page); limit <= 0 means all.
func (s *State) List(after string, limit int) []Summary {
	ids := page(s.ids, after, limit)
	out := make([]Summary, len(ids))
	for i, id := range ids {
		out[i] = s.agents[id].agent().summary()
	}
	return out
}

// Count is the number of agents ever created, dead or alive.
func (s *State) Count() int { return len(s.ids) }

// Totals returns the economy's figures over every agent.
func (s *State) Totals() Totals { return s.totals.clone() }

// page is the part of the sorted ids after after, at most limit long.
func page(ids []string, after string, limit int) []string {
	i, found := slices.BinarySearch(ids, after)
	if found {
		i++
	}
	ids = ids[i:]
	if limit > 0 && limit < len(ids) {
		ids = ids[:limit]
	}
	return ids
}

// insert adds id to the sorted ids, once.
func insert(ids []string, id string) []string {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}

// remove takes id out of the sorted ids, if it is there.
func remove(ids []string, id string) []string {
	i, found := slices.BinarySearch(ids, id)
	if !found {
		return ids
	}
	return slices.Delete(ids, i, i+1)
}

// Apply folds one record into s. Only agent events count; records of other
// kinds are ignored without being decoded. Each agent's account is folded
// with agent.Evolve, the agent actor's own fold, and the record's balance,
// holds, status and executions are the account's; the directory adds what
// no account keeps (when and why it was created and died, its bids and
// its latest execution) and the totals. An agent exists in the directory
// from its agent_created on: events on the subjects of an id that was
// never created (a transfer bounced by an unknown recipient) add nothing,
// since they move nothing. On error s is unchanged.
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
	a, ok := s.agents[agentID]
	if !ok {
		if _, created := e.(events.AgentCreated); !created {
			return nil
		}
	}
	before := agent.New(agentID)
	if ok {
		before = a.account
	}
	// The account's own Admit, as the agent actor reads its log: an event
	// it refuses (a second creation, an execution started twice) is no
	// fact of the account, and the runner's admission skips it too.
	if err := agent.Admit(before, e); err != nil {
		return events.Skip(rec, events.ReasonInvariant, err)
	}
	if !ok {
		a = s.created(rec, agentID, e.(events.AgentCreated))
	}
	// before keeps the account's figures before the event (Evolve may
	// reuse its maps, which sync does not read: it counts the executions
	// running before from running).
	f := fold{s: s, a: a, rec: rec, before: a.account, running: len(a.account.Executions)}
	a.account = agent.Evolve(a.account, e)
	f.event(e)
	f.sync()
	return nil
}

// created opens the record of a new agent.
func (s *State) created(rec events.Record, id string, e events.AgentCreated) *entry {
	// The id is cut from the record's subject: a copy of its own keeps
	// the subject from staying reachable through the key.
	id = strings.Clone(id)
	en := &entry{account: agent.New(id),
		own: own{Lineage: s.lineage(e), CreatedAt: projections.InstantOf(rec.Envelope.Time), CreatedSeq: rec.Seq, CreationReason: s.reasons.Of(e.Reason)}}
	s.agents[id] = en
	s.ids = insert(s.ids, id)
	s.adopt(id, e.ParentID)
	return en
}

// lineage is the creation's lineage as recorded; when it records only a
// parent, the parent and the parent's own lineage. Either way at most
// LineageLengthMax ancestors, nearest first, are kept.
func (s *State) lineage(e events.AgentCreated) []string {
	l := e.Lineage
	if len(l) == 0 && e.ParentID != "" {
		l = []string{e.ParentID}
		if p, ok := s.agents[e.ParentID]; ok {
			l = append(l, p.own.Lineage...)
		}
	}
	if len(l) > LineageLengthMax {
		l = l[:LineageLengthMax]
	}
	return slices.Clone(l)
}

// fold applies one decoded event to one created agent, whose account has
// moved from before to f.a.account.
type fold struct {
	s      *State
	a      *entry
	rec    events.Record
	before agent.Account
	// running is how many executions the account ran before the event.
	running int
}

// event records what the account does not keep: the directory's own
// figures and the burns in the totals. The account admitted e: a hold
// resolved was open, an execution ended was running.
func (f fold) event(e events.Event) {
	a, t := &f.a.own, &f.s.totals
	switch e := e.(type) {
	case events.TransferReturned:
		if e.Burned {
			t.BurnedMicros += e.AmountMicros // burned in flight: the sender is dead
		}
	case events.HoldPlaced:
		if e.Bid != nil || e.Purpose == events.PurposeBid {
			if f.a.bidHolds == nil {
				f.a.bidHolds = map[string]struct{}{}
			}
			f.a.bidHolds[e.HoldID] = struct{}{}
			a.BidsPlaced++
			t.BidsPlaced++
		}
	case events.HoldPosted:
		a.PaidMicros += e.AmountMicros
		t.BurnedMicros += e.AmountMicros
		if _, ok := f.a.bidHolds[e.HoldID]; ok {
			delete(f.a.bidHolds, e.HoldID)
			a.BidsWon++
			t.BidsPaid++
		}
	case events.HoldVoided:
		delete(f.a.bidHolds, e.HoldID)
	case events.PaymentRefused:
		t.PaymentsRefused++
	case events.CreditsBurned:
		a.BurnedMicros += e.AmountMicros
		t.BurnedMicros += e.AmountMicros
	case events.ChildSpawned:
		a.BurnedMicros += e.CostMicros
		t.BurnedMicros += e.CostMicros
	case events.AgentDied:
		f.a.bidHolds = nil
		a.DiedAt, a.DeathReason, a.DeathBurnedMicros = projections.InstantOf(f.rec.Envelope.Time), f.s.reasons.Of(e.Reason), e.BurnedMicros
		t.BurnedMicros += e.BurnedMicros
	case events.ExecutionStarted:
		a.LastExecution = &Execution{ID: e.ExecutionID, BidID: e.BidID, PayerID: e.PayerID, StartedAt: f.rec.Envelope.Time}
	case events.ExecutionEnded:
		t.ExecutionsEnded[e.Cause]++
		if x := a.LastExecution; x != nil && x.ID == e.ExecutionID {
			x.EndedAt, x.Cause, x.ExitCode = f.rec.Envelope.Time, e.Cause, e.ExitCode
			x.CPUMillis, x.MemoryPeakKB, x.WallMillis, x.TokensUsed = e.CPUMillis, e.MemoryPeakKB, e.WallMillis, e.TokensUsed
		}
	}
}

// sync copies into the record what the account holds, and moves the
// totals by what the account's figures moved.
func (f fold) sync() {
	acc, t := f.a.account, &f.s.totals
	b := f.before
	t.MintedMicros += acc.GrantedMicros - b.GrantedMicros + acc.RewardedMicros - b.RewardedMicros
	t.BalanceMicros += acc.BalanceMicros - b.BalanceMicros
	t.HeldMicros += acc.HeldMicros - b.HeldMicros
	t.ExecutionsStarted += acc.ExecutionCount - b.ExecutionCount
	t.ExecutionsRunning += int64(len(acc.Executions)) - int64(f.running)
	if acc.Status != b.Status {
		switch b.Status {
		case agent.StatusAlive:
			t.Alive--
			f.s.living = remove(f.s.living, acc.ID)
		case agent.StatusDead:
			t.Dead--
		}
		switch acc.Status {
		case agent.StatusAlive:
			t.Alive++
			f.s.living = insert(f.s.living, acc.ID)
		case agent.StatusDead:
			t.Dead++
		}
	}
}

// adopt adds a new agent to its parent's children, in order of creation.
// A parent the directory never saw created (a creation that names an
// unknown parent) gets no record of its own: the child keeps its
// ParentID, and family trees show it as a root.
func (s *State) adopt(id, parentID string) {
	if p, ok := s.agents[parentID]; ok && parentID != id {
		p.own.Children = append(p.own.Children, id)
	}
}
