package directory

import (
	"fmt"
	"slices"

	"github.com/agora-econ/agora/events"
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
}

// entry is one agent's record and what the fold needs to keep it.
type entry struct {
	agent Agent
	// bidHolds are the agent's open holds that reserve a bid, so that a
	// payment is known to be a won bid; as many as its open bids.
	bidHolds map[string]struct{}
	// holds are the agent's open holds (bids and prompts) and what each
	// reserves, as its account keeps them: the end-of-cycle rule spares an
	// agent with one (Standings).
	holds map[string]events.Micros
	// running are the agent's executions started and not ended, so that
	// an end counts once.
	running map[string]struct{}
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
	return e.agent.clone(), true
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
		out[i] = s.agents[id].agent.summary()
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
// kinds are ignored without being decoded. An agent exists in the
// directory from its agent_created on: events on the subjects of an id
// that was never created (a transfer bounced by an unknown recipient) add
// nothing, since they move nothing. On error s is unchanged.
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
	if c, ok := e.(events.AgentCreated); ok {
		s.created(rec, agentID, c)
		return nil
	}
	if a, ok := s.agents[agentID]; ok {
		f := fold{s: s, a: a, rec: rec}
		f.event(e)
	}
	return nil
}

// created opens the record of a new agent. A second creation of one id
// cannot be decided (agent.ErrAgentExists); should a log hold one, the
// first stands.
func (s *State) created(rec events.Record, id string, e events.AgentCreated) {
	if _, ok := s.agents[id]; ok {
		return
	}
	a := Agent{ID: id, Status: StatusAlive, ParentID: e.ParentID, Lineage: s.lineage(e),
		Command: slices.Clone(e.Command), CreatedAt: rec.Envelope.Time, CreatedSeq: rec.Seq,
		CreationReason: e.Reason, BalanceMicros: e.GrantMicros, GrantMicros: e.GrantMicros}
	s.agents[id] = &entry{agent: a}
	s.ids = insert(s.ids, id)
	s.living = insert(s.living, id)
	s.totals.Alive++
	s.totals.MintedMicros += e.GrantMicros
	s.totals.BalanceMicros += e.GrantMicros
}

// lineage is the creation's lineage as recorded; when it records only a
// parent, the parent and the parent's own lineage. Either way at most
// LineageLengthMax ancestors, nearest first, are kept.
func (s *State) lineage(e events.AgentCreated) []string {
	l := e.Lineage
	if len(l) == 0 && e.ParentID != "" {
		l = []string{e.ParentID}
		if p, ok := s.agents[e.ParentID]; ok {
			l = append(l, p.agent.Lineage...)
		}
	}
	if len(l) > LineageLengthMax {
		l = l[:LineageLengthMax]
	}
	return slices.Clone(l)
}

// fold applies one decoded event to one created agent.
type fold struct {
	s   *State
	a   *entry
	rec events.Record
}

func (f fold) event(e events.Event) {
	a, t := &f.a.agent, &f.s.totals
	switch e := e.(type) {
	case events.CreditsGranted:
		f.balance(e.AmountMicros)
		a.GrantMicros += e.AmountMicros
		t.MintedMicros += e.AmountMicros
	case events.TransferSent:
		f.balance(-e.AmountMicros)
		a.SentMicros += e.AmountMicros
	case events.TransferReceived:
		f.balance(e.AmountMicros)
		a.ReceivedMicros += e.AmountMicros
	case events.TransferReturned:
		if e.Burned {
			t.BurnedMicros += e.AmountMicros // burned in flight: the sender is dead
			return
		}
		f.balance(e.AmountMicros)
		a.SentMicros -= e.AmountMicros
	case events.HoldPlaced:
		f.held(e.AmountMicros)
		f.hold(e.HoldID, e.AmountMicros)
		if e.Bid != nil || e.Purpose == events.PurposeBid {
			if f.a.bidHolds == nil {
				f.a.bidHolds = map[string]struct{}{}
			}
			f.a.bidHolds[e.HoldID] = struct{}{}
			a.BidsPlaced++
			t.BidsPlaced++
		}
	case events.HoldIncreased:
		f.held(e.DeltaMicros)
		f.hold(e.HoldID, e.AmountMicros) // the new total
	case events.HoldPosted:
		f.held(-(e.AmountMicros + e.ReleasedMicros))
		f.balance(-e.AmountMicros)
		delete(f.a.holds, e.HoldID)
		a.PaidMicros += e.AmountMicros
		t.BurnedMicros += e.AmountMicros
		if _, ok := f.a.bidHolds[e.HoldID]; ok {
			delete(f.a.bidHolds, e.HoldID)
			a.BidsWon++
			t.BidsPaid++
		}
	case events.HoldVoided:
		f.held(-e.AmountMicros)
		delete(f.a.bidHolds, e.HoldID)
		delete(f.a.holds, e.HoldID)
	case events.PaymentRefused:
		t.PaymentsRefused++
	case events.CreditsBurned:
		f.balance(-e.AmountMicros)
		a.BurnedMicros += e.AmountMicros
		t.BurnedMicros += e.AmountMicros
	case events.AgentDied:
		f.died(e)
	case events.ExecutionStarted:
		f.started(e)
	case events.ExecutionEnded:
		f.ended(e)
	}
}

func (f fold) balance(delta events.Micros) {
	f.a.agent.BalanceMicros += delta
	f.s.totals.BalanceMicros += delta
}

// hold records an open hold at its (new) amount, as the account does.
func (f fold) hold(id string, amount events.Micros) {
	if f.a.holds == nil {
		f.a.holds = map[string]events.Micros{}
	}
	f.a.holds[id] = amount
}

func (f fold) held(delta events.Micros) {
	f.a.agent.HeldMicros += delta
	f.s.totals.HeldMicros += delta
}

// died ends the agent: its holds are voided and what is left of its
// balance burned, in the one event.
func (f fold) died(e events.AgentDied) {
	a, t := &f.a.agent, &f.s.totals
	if a.Status == StatusDead {
		return
	}
	f.held(-a.HeldMicros)
	f.balance(-e.BurnedMicros)
	f.a.bidHolds, f.a.holds = nil, nil
	a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = StatusDead, f.rec.Envelope.Time, e.Reason, e.BurnedMicros
	t.BurnedMicros += e.BurnedMicros
	t.Alive--
	t.Dead++
	f.s.living = remove(f.s.living, a.ID)
}

// started counts an execution once, even if a start were recorded twice.
func (f fold) started(e events.ExecutionStarted) {
	if _, ok := f.a.running[e.ExecutionID]; ok {
		return
	}
	if f.a.running == nil {
		f.a.running = map[string]struct{}{}
	}
	f.a.running[e.ExecutionID] = struct{}{}
	a, t := &f.a.agent, &f.s.totals
	a.ExecutionCount++
	a.ExecutionsRunning++
	a.LastExecution = &Execution{ID: e.ExecutionID, BidID: e.BidID, PayerID: e.PayerID, StartedAt: f.rec.Envelope.Time}
	t.ExecutionsStarted++
	t.ExecutionsRunning++
}

// ended counts the end of a running execution once and completes the
// latest execution if it is the one.
func (f fold) ended(e events.ExecutionEnded) {
	if _, ok := f.a.running[e.ExecutionID]; !ok {
		return
	}
	delete(f.a.running, e.ExecutionID)
	a, t := &f.a.agent, &f.s.totals
	a.ExecutionsRunning--
	t.ExecutionsRunning--
	t.ExecutionsEnded[e.Cause]++
	if x := a.LastExecution; x != nil && x.ID == e.ExecutionID {
		x.EndedAt, x.Cause, x.ExitCode = f.rec.Envelope.Time, e.Cause, e.ExitCode
		x.CPUMillis, x.MemoryPeakKB, x.WallMillis = e.CPUMillis, e.MemoryPeakKB, e.WallMillis
	}
}
