package directory_test

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/directory"
)

// The view is fed by the runner; this fails to compile if it stops fitting.
var _ projections.Projection = (*directory.View)(nil)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one agent event appended to the log, in order.
type step struct {
	agent string
	event events.Event
}

// record encodes a step at stream sequence seq as the log would hold it.
func record(t testing.TB, seq uint64, s step) events.Record {
	t.Helper()
	env, err := events.Encode(events.KindAgent, s.agent, s.event, events.Meta{ID: fmt.Sprintf("ev%d", seq), Time: timeOf(seq)})
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: seq, Envelope: env}
}

func timeOf(seq uint64) time.Time { return t0.Add(time.Duration(seq) * time.Second) }
func cr(c int64) events.Micros    { return events.Credits(c) }

func created(c int64) events.Event {
	return events.AgentCreated{GrantMicros: cr(c), Reason: "operator", Command: []string{"python3", "main.py"}}
}

func child(parent string, c int64) events.Event {
	return events.AgentCreated{ParentID: parent, GrantMicros: cr(c), Reason: "spawn"}
}

var bundle = map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128)}

func bidHold(id string, c int64) events.Event {
	return events.HoldPlaced{HoldID: id, AmountMicros: cr(c), Purpose: events.PurposeBid,
		Bid: &events.BidTerms{Pool: "main", Resources: bundle}}
}

func started(x string, payer string) events.Event {
	return events.ExecutionStarted{ExecutionID: x, BidID: "b-" + x, PayerID: payer, Pool: "main", Resources: bundle,
		Trigger: events.Trigger{Manager: "executor", Seq: 1}}
}

func ended(x, cause string, code int) events.Event {
	return events.ExecutionEnded{ExecutionID: x, Pool: "main", ExitCode: code, Cause: cause, CPUMillis: 120,
		MemoryPeakKB: 2048, WallMillis: 300}
}

// alive is the record of an agent created at seq by created(c).
func alive(id string, seq uint64, c int64) directory.Agent {
	return directory.Agent{ID: id, Status: directory.StatusAlive, Command: []string{"python3", "main.py"},
		CreatedAt: timeOf(seq), CreatedSeq: seq, CreationReason: "operator", BalanceMicros: cr(c), GrantMicros: cr(c)}
}

// with applies changes to a copy of a, for the tables.
func with(a directory.Agent, change func(*directory.Agent)) directory.Agent {
	change(&a)
	return a
}

func TestApply(t *testing.T) {
	type totals = directory.Totals
	tests := []struct {
		name   string
		given  []step
		agents map[string]directory.Agent
		totals totals // ExecutionsEnded nil means none
	}{
		{
			name:   "a creation records the agent, its program and its grant",
			given:  []step{{"a", created(10)}},
			agents: map[string]directory.Agent{"a": alive("a", 1, 10)},
			totals: totals{Alive: 1, MintedMicros: cr(10), BalanceMicros: cr(10)},
		},
		{
			name: "a child's lineage is its parent's line, nearest first",
			given: []step{
				{"g", created(10)},
				{"p", child("g", 5)},
				{"c", child("p", 1)},
				{"x", events.AgentCreated{ParentID: "p", Lineage: []string{"p", "q"}, Reason: "spawn"}},
			},
			agents: map[string]directory.Agent{
				"g": with(alive("g", 1, 10), func(a *directory.Agent) { a.Children = []string{"p"} }),
				// Its children in order of creation.
				"p": {ID: "p", Status: directory.StatusAlive, ParentID: "g", Lineage: []string{"g"}, Children: []string{"c", "x"},
					CreatedAt: timeOf(2), CreatedSeq: 2, CreationReason: "spawn", BalanceMicros: cr(5), GrantMicros: cr(5)},
				"c": {ID: "c", Status: directory.StatusAlive, ParentID: "p", Lineage: []string{"p", "g"}, CreatedAt: timeOf(3), CreatedSeq: 3,
					CreationReason: "spawn", BalanceMicros: cr(1), GrantMicros: cr(1)},
				// A lineage the creation records is kept as it is.
				"x": {ID: "x", Status: directory.StatusAlive, ParentID: "p", Lineage: []string{"p", "q"}, CreatedAt: timeOf(4), CreatedSeq: 4,
					CreationReason: "spawn"},
			},
			totals: totals{Alive: 4, MintedMicros: cr(16), BalanceMicros: cr(16)},
		},
		{
			name: "an operator's grant is minted and earned; the operator's kill burns the rest",
			given: []step{
				{"a", created(10)},
				{"a", events.CreditsGranted{AmountMicros: cr(5), Reason: "operator"}},
				{"b", created(1)},
				{"b", events.CreditsGranted{AmountMicros: cr(2)}},
				{"b", events.AgentDied{Reason: agent.KilledByOperator, BurnedMicros: cr(3)}},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 15), func(a *directory.Agent) { a.GrantMicros = cr(15) }),
				"b": with(alive("b", 3, 0), func(a *directory.Agent) {
					a.GrantMicros, a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = cr(3), directory.StatusDead, timeOf(5), agent.KilledByOperator, cr(3)
				}),
			},
			totals: totals{Alive: 1, Dead: 1, MintedMicros: cr(18), BurnedMicros: cr(3), BalanceMicros: cr(15)},
		},
		{
			name: "a transfer is spent by the sender and earned by the recipient",
			given: []step{
				{"a", created(10)},
				{"b", created(0)},
				{"a", events.TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: cr(3)}},
				{"b", events.TransferReceived{TransferID: "t1", FromAgentID: "a", AmountMicros: cr(3)}},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 7), func(a *directory.Agent) { a.GrantMicros, a.SentMicros = cr(10), cr(3) }),
				"b": with(alive("b", 2, 3), func(a *directory.Agent) { a.GrantMicros, a.ReceivedMicros = 0, cr(3) }),
			},
			totals: totals{Alive: 2, MintedMicros: cr(10), BalanceMicros: cr(10)},
		},
		{
			name: "a transfer in flight is circulating but in no balance",
			given: []step{
				{"a", created(10)},
				{"a", events.TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: cr(4)}},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 6), func(a *directory.Agent) { a.GrantMicros, a.SentMicros = cr(10), cr(4) }),
			},
			totals: totals{Alive: 1, MintedMicros: cr(10), BalanceMicros: cr(6)},
		},
		{
			name: "a returned transfer is not spent; one returned to a dead sender is burned",
			given: []step{
				{"a", created(10)},
				{"a", events.TransferSent{TransferID: "t1", ToAgentID: "b", AmountMicros: cr(4)}},
				{"b", events.TransferBounced{TransferID: "t1", FromAgentID: "a", AmountMicros: cr(4), Reason: "recipient is unknown"}},
				{"a", events.TransferReturned{TransferID: "t1", ToAgentID: "b", AmountMicros: cr(4)}},
				{"a", events.TransferSent{TransferID: "t2", ToAgentID: "b", AmountMicros: cr(2)}},
				{"b", events.TransferBounced{TransferID: "t2", FromAgentID: "a", AmountMicros: cr(2), Reason: "recipient is unknown"}},
				{"a", events.AgentDied{Reason: "broke", BurnedMicros: cr(8)}},
				{"a", events.TransferReturned{TransferID: "t2", ToAgentID: "b", AmountMicros: cr(2), Burned: true}},
			},
			agents: map[string]directory.Agent{
				// b was never created: the bounces on its subjects add no agent.
				"a": with(alive("a", 1, 0), func(a *directory.Agent) {
					a.GrantMicros, a.SentMicros = cr(10), cr(2)
					a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = directory.StatusDead, timeOf(7), "broke", cr(8)
				}),
			},
			totals: totals{Dead: 1, MintedMicros: cr(10), BurnedMicros: cr(10)},
		},
		{
			name: "bids placed, raised, won and paid; a prompt paid is no bid; a voided hold releases",
			given: []step{
				{"a", created(100)},
				{"a", bidHold("b-1", 10)},
				{"a", events.HoldIncreased{HoldID: "b-1", AmountMicros: cr(15), DeltaMicros: cr(5)}},
				{"a", bidHold("b-2", 20)},
				{"a", events.HoldPlaced{HoldID: "p-1", AmountMicros: cr(7), Purpose: "prompt"}},
				{"a", events.HoldPosted{HoldID: "b-1", AmountMicros: cr(12), ReleasedMicros: cr(3), ExecutionID: "x-b-1"}},
				{"a", events.HoldPosted{HoldID: "p-1", AmountMicros: cr(7)}},
				{"a", events.HoldVoided{HoldID: "b-2", AmountMicros: cr(20), Reason: "withdrawn"}},
				{"a", bidHold("b-3", 30)},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 81), func(a *directory.Agent) {
					a.GrantMicros, a.HeldMicros, a.PaidMicros, a.BidsPlaced, a.BidsWon = cr(100), cr(30), cr(19), 3, 1
				}),
			},
			totals: totals{Alive: 1, MintedMicros: cr(100), BurnedMicros: cr(19), BalanceMicros: cr(81), HeldMicros: cr(30),
				BidsPlaced: 3, BidsPaid: 1},
		},
		{
			name: "a payment refused moves nothing",
			given: []step{
				{"a", created(10)},
				{"a", bidHold("b-1", 10)},
				{"a", events.AgentDied{Reason: "killed", VoidedHolds: []string{"b-1"}, BurnedMicros: cr(10)}},
				{"a", events.PaymentRefused{HoldID: "b-1", AmountMicros: cr(10), ExecutionID: "x-b-1", Reason: "agent is dead"}},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 0), func(a *directory.Agent) {
					a.GrantMicros, a.BidsPlaced = cr(10), 1
					a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = directory.StatusDead, timeOf(3), "killed", cr(10)
				}),
			},
			totals: totals{Dead: 1, MintedMicros: cr(10), BurnedMicros: cr(10), BidsPlaced: 1, PaymentsRefused: 1},
		},
		{
			name:  "a burn is spent",
			given: []step{{"a", created(10)}, {"a", events.CreditsBurned{AmountMicros: cr(1), Reason: "message"}}},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 9), func(a *directory.Agent) { a.GrantMicros, a.BurnedMicros = cr(10), cr(1) }),
			},
			totals: totals{Alive: 1, MintedMicros: cr(10), BurnedMicros: cr(1), BalanceMicros: cr(9)},
		},
		{
			name: "a death voids the holds and burns the rest; the record stays",
			given: []step{
				{"a", created(10)},
				{"b", created(5)},
				{"a", bidHold("b-1", 4)},
				{"a", events.AgentDied{Reason: "no bid, no future", VoidedHolds: []string{"b-1"}, BurnedMicros: cr(10)}},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 0), func(a *directory.Agent) {
					a.GrantMicros, a.BidsPlaced = cr(10), 1
					a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = directory.StatusDead, timeOf(4), "no bid, no future", cr(10)
				}),
				"b": alive("b", 2, 5),
			},
			totals: totals{Alive: 1, Dead: 1, MintedMicros: cr(15), BurnedMicros: cr(10), BalanceMicros: cr(5), BidsPlaced: 1},
		},
		{
			name: "executions are counted once and the latest is kept with its end",
			given: []step{
				{"a", created(10)},
				{"a", started("x1", "a")},
				{"a", started("x1", "a")}, // recorded twice: counted once
				{"a", ended("x1", events.CauseExited, 0)},
				{"a", ended("x1", events.CauseExited, 0)}, // ended twice: counted once
				{"a", started("x2", "sponsor")},
				{"a", ended("x9", events.CauseCPU, -1)}, // never started: nothing
				{"a", ended("x2", events.CauseDeadline, -1)},
				{"a", started("x3", "a")},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 10), func(a *directory.Agent) {
					a.ExecutionCount, a.ExecutionsRunning = 3, 1
					a.LastExecution = &directory.Execution{ID: "x3", BidID: "b-x3", PayerID: "a", StartedAt: timeOf(9)}
				}),
			},
			totals: totals{Alive: 1, MintedMicros: cr(10), BalanceMicros: cr(10), ExecutionsStarted: 3, ExecutionsRunning: 1,
				ExecutionsEnded: map[string]int64{events.CauseExited: 1, events.CauseDeadline: 1}},
		},
		{
			name: "the latest execution ends; a dead agent's execution still ends",
			given: []step{
				{"a", created(10)},
				{"a", started("x1", "sponsor")},
				{"a", events.AgentDied{Reason: "operator", BurnedMicros: cr(10)}},
				{"a", ended("x1", events.CauseKilled, -1)},
			},
			agents: map[string]directory.Agent{
				"a": with(alive("a", 1, 0), func(a *directory.Agent) {
					a.GrantMicros, a.ExecutionCount = cr(10), 1
					a.Status, a.DiedAt, a.DeathReason, a.DeathBurnedMicros = directory.StatusDead, timeOf(3), "operator", cr(10)
					a.LastExecution = &directory.Execution{ID: "x1", BidID: "b-x1", PayerID: "sponsor", StartedAt: timeOf(2),
						EndedAt: timeOf(4), Cause: events.CauseKilled, ExitCode: -1, CPUMillis: 120, MemoryPeakKB: 2048, WallMillis: 300}
				}),
			},
			totals: totals{Dead: 1, MintedMicros: cr(10), BurnedMicros: cr(10), ExecutionsStarted: 1,
				ExecutionsEnded: map[string]int64{events.CauseKilled: 1}},
		},
		{
			name: "events of an agent never created add nothing",
			given: []step{
				{"ghost", events.TransferBounced{TransferID: "t1", FromAgentID: "a", AmountMicros: cr(4), Reason: "recipient is unknown"}},
			},
			agents: map[string]directory.Agent{},
		},
		{
			name: "a second creation of an id does not replace the first",
			given: []step{
				{"a", created(10)},
				{"a", created(99)},
			},
			agents: map[string]directory.Agent{"a": alive("a", 1, 10)},
			totals: totals{Alive: 1, MintedMicros: cr(10), BalanceMicros: cr(10)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s directory.State
			for i, st := range tt.given {
				// A record the account's Admit refuses is skipped, as the
				// runner skips it.
				if err := directory.Apply(&s, record(t, uint64(i+1), st)); err != nil && !errors.Is(err, events.ErrBadRecord) {
					t.Fatalf("step %d: %v", i+1, err)
				}
				checkTotals(t, &s)
			}
			if s.Count() != len(tt.agents) {
				t.Errorf("Count = %d, want %d", s.Count(), len(tt.agents))
			}
			for id, want := range tt.agents {
				got, ok := s.Get(id)
				if !ok {
					t.Errorf("Get(%s): not found", id)
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Get(%s):\n got %+v\nwant %+v", id, got, want)
				}
			}
			want := tt.totals
			if want.ExecutionsEnded == nil {
				want.ExecutionsEnded = map[string]int64{}
			}
			if got := s.Totals(); !reflect.DeepEqual(got, want) {
				t.Errorf("Totals:\n got %+v\nwant %+v", got, want)
			}
			sameAsTheAccounts(t, &s, tt.given)
		})
	}
}

// checkTotals checks that the totals are the sums over the records.
func checkTotals(t *testing.T, s *directory.State) {
	t.Helper()
	var balance, held events.Micros
	var alive, dead int
	var placed, running int64
	for _, a := range s.List("", 0) {
		full, _ := s.Get(a.ID)
		balance += full.BalanceMicros
		held += full.HeldMicros
		placed += full.BidsPlaced
		running += int64(full.ExecutionsRunning)
		if a.Status == directory.StatusAlive {
			alive++
		} else {
			dead++
		}
	}
	tot := s.Totals()
	if tot.BalanceMicros != balance || tot.HeldMicros != held || tot.Alive != alive || tot.Dead != dead ||
		tot.BidsPlaced != placed || tot.ExecutionsRunning != running {
		t.Fatalf("totals %+v disagree with the records: balance %s held %s alive %d dead %d placed %d running %d",
			tot, balance, held, alive, dead, placed, running)
	}
	if tot.InFlightMicros() < 0 {
		t.Fatalf("negative in flight: %+v", tot)
	}
	if got := len(s.Living("", 0)); got != alive {
		t.Fatalf("%d living ids, %d alive", got, alive)
	}
}

// sameAsTheAccounts folds each created agent's events with agent.Evolve,
// the account actor's own fold, and checks that the directory agrees with
// it on what both know.
func sameAsTheAccounts(t *testing.T, s *directory.State, given []step) {
	t.Helper()
	accounts := map[string]agent.Account{}
	for _, st := range given {
		a, ok := accounts[st.agent]
		if !ok {
			a = agent.New(st.agent)
		}
		if _, again := st.event.(events.AgentCreated); again && a.Exists() {
			continue // the decider refuses a second creation
		}
		accounts[st.agent] = agent.Evolve(a, st.event)
	}
	standings := map[string]directory.Standing{}
	for _, st := range s.Standings() {
		standings[st.ID] = st
	}
	for id, a := range accounts {
		d, ok := s.Get(id)
		if !a.Exists() {
			if ok {
				t.Errorf("%s: in the directory but never created", id)
			}
			continue
		}
		if !ok || string(d.Status) != string(a.Status) || d.BalanceMicros != a.BalanceMicros || d.HeldMicros != a.HeldMicros ||
			d.ParentID != a.ParentID || !slices.Equal(d.Command, a.Command) || d.ExecutionsRunning != len(a.Executions) {
			t.Errorf("%s: directory %+v, account %+v", id, d, a)
		}
		// The end-of-cycle rule reads the standings (clearing.Broke): they
		// must hold what the account holds.
		st := standings[id]
		if st.Alive != (a.Status == agent.StatusAlive) || st.Available() != a.Available() || len(st.Holds) != len(a.Holds) ||
			(len(a.Holds) > 0 && !maps.Equal(st.Holds, a.Holds)) || st.ExecutionsRunning != len(a.Executions) {
			t.Errorf("%s: standing %+v, account %+v", id, st, a)
		}
	}
	if len(standings) != s.Count() {
		t.Errorf("%d standings of %d agents", len(standings), s.Count())
	}
}

func TestApplyIgnoresOtherKinds(t *testing.T) {
	var s directory.State
	env, err := events.Encode(events.KindClearing, "main", events.BidWithdrawn{BidID: "b-1", AgentID: "a", AmountMicros: cr(1)},
		events.Meta{Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := directory.Apply(&s, events.Record{Seq: 1, Envelope: env}); err != nil {
		t.Fatal(err)
	}
	if s.Count() != 0 {
		t.Fatalf("Count = %d", s.Count())
	}
}

func TestApplyRefusesWhatItCannotRead(t *testing.T) {
	good := record(t, 1, step{"a", created(10)}).Envelope
	mismatched := good
	mismatched.Type = "credits_burned"
	malformed := good
	malformed.Subject = "events.agent.a"
	badID := good
	badID.Subject = "events.agent.A.agent_created"
	unknown := good
	unknown.Type, unknown.Subject = "credits_minted", "events.agent.a.credits_minted"
	badData := good
	badData.Data = []byte(`{"grant_micros":"ten"}`)
	tests := []struct {
		name string
		env  events.Envelope
		want error
	}{
		{"subject and type disagree", mismatched, directory.ErrInvalidRecord},
		{"subject without a type", malformed, directory.ErrInvalidRecord},
		{"an id that is not an id", badID, directory.ErrInvalidRecord},
		{"unknown event type", unknown, events.ErrUnknownEventType},
		{"undecodable payload", badData, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s directory.State
			if err := directory.Apply(&s, record(t, 1, step{"b", created(10)})); err != nil {
				t.Fatal(err)
			}
			before := s.Totals()
			err := directory.Apply(&s, events.Record{Seq: 2, Envelope: tt.env})
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			if after := s.Totals(); !reflect.DeepEqual(before, after) || s.Count() != 1 {
				t.Fatalf("a refused record changed the state: %+v", after)
			}
		})
	}
}

// TestPages: Living and List page in ascending order of id, strictly
// after the cursor, the dead in List only.
func TestPages(t *testing.T) {
	var s directory.State
	ids := []string{"m", "b", "z", "a", "k", "c"}
	seq := uint64(0)
	apply := func(st step) {
		seq++
		if err := directory.Apply(&s, record(t, seq, st)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		apply(step{id, created(1)})
	}
	apply(step{"k", events.AgentDied{Reason: "broke", BurnedMicros: cr(1)}})
	apply(step{"a", events.AgentDied{Reason: "broke", BurnedMicros: cr(1)}})

	cases := []struct {
		after string
		limit int
		list  []string
		live  []string
	}{
		{"", 0, []string{"a", "b", "c", "k", "m", "z"}, []string{"b", "c", "m", "z"}},
		{"", 2, []string{"a", "b"}, []string{"b", "c"}},
		{"b", 2, []string{"c", "k"}, []string{"c", "m"}},
		{"c", 10, []string{"k", "m", "z"}, []string{"m", "z"}},
		{"d", 1, []string{"k"}, []string{"m"}}, // a cursor need not be an agent
		{"k", 1, []string{"m"}, []string{"m"}}, // nor a living one
		{"z", 5, []string{}, []string{}},
		{"zz", 5, []string{}, []string{}},
	}
	for _, c := range cases {
		var list []string
		for _, sum := range s.List(c.after, c.limit) {
			list = append(list, sum.ID)
		}
		if !slices.Equal(list, c.list) {
			t.Errorf("List(%q, %d) = %v, want %v", c.after, c.limit, list, c.list)
		}
		if live := s.Living(c.after, c.limit); !slices.Equal(live, c.live) || live == nil {
			t.Errorf("Living(%q, %d) = %#v, want %v", c.after, c.limit, live, c.live)
		}
	}
	if s.Count() != len(ids) {
		t.Fatalf("Count = %d", s.Count())
	}
	sum := s.List("j", 1)[0]
	want := directory.Summary{ID: "k", Status: directory.StatusDead, CreatedAt: timeOf(5), CreatedSeq: 5, DiedAt: timeOf(7),
		EarnedMicros: cr(1)}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary %+v, want %+v", sum, want)
	}
}

// TestCopies: what a reader gets is its own; the view does not change
// under it, nor does it change the view.
func TestCopies(t *testing.T) {
	var s directory.State
	for i, st := range []step{{"p", created(1)}, {"c", child("p", 0)}, {"c", started("x1", "p")}} {
		if err := directory.Apply(&s, record(t, uint64(i+1), st)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Get("c")
	got.Lineage[0], got.LastExecution.ID = "mutated", "mutated"
	live := s.Living("", 0)
	live[0] = "mutated"
	tot := s.Totals()
	tot.ExecutionsEnded["exited"] = 99
	again, _ := s.Get("c")
	if again.Lineage[0] != "p" || again.LastExecution.ID != "x1" || s.Living("", 0)[0] != "c" || s.Totals().ExecutionsEnded["exited"] != 0 {
		t.Fatalf("a reader's copy changed the state: %+v", again)
	}
}

// TestLineageIsBounded: a long line of spawns keeps the nearest
// LineageLengthMax ancestors in each record.
func TestLineageIsBounded(t *testing.T) {
	var s directory.State
	n := directory.LineageLengthMax + 10
	for i := range n {
		parent := ""
		if i > 0 {
			parent = fmt.Sprintf("g%03d", i-1)
		}
		if err := directory.Apply(&s, record(t, uint64(i+1), step{fmt.Sprintf("g%03d", i), child(parent, 0)})); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := s.Get(fmt.Sprintf("g%03d", n-1))
	if len(last.Lineage) != directory.LineageLengthMax || last.Lineage[0] != fmt.Sprintf("g%03d", n-2) {
		t.Fatalf("lineage of %d: %v", len(last.Lineage), last.Lineage)
	}
	long := make([]string, 2*directory.LineageLengthMax)
	for i := range long {
		long[i] = "anc" + strings.Repeat("x", i%3)
	}
	if err := directory.Apply(&s, record(t, uint64(n+1), step{"given", events.AgentCreated{ParentID: "anc", Lineage: long}})); err != nil {
		t.Fatal(err)
	}
	given, _ := s.Get("given")
	if !slices.Equal(given.Lineage, long[:directory.LineageLengthMax]) {
		t.Fatalf("recorded lineage kept as %d ancestors", len(given.Lineage))
	}
}

// TestCausesAreTheEventsOnes: the totals count causes by the names the
// events use, so that a dashboard can list every one.
func TestCausesAreTheEventsOnes(t *testing.T) {
	var s directory.State
	seq := uint64(1)
	if err := directory.Apply(&s, record(t, seq, step{"a", created(1)})); err != nil {
		t.Fatal(err)
	}
	for i, cause := range events.ExecutionCauses {
		x := fmt.Sprintf("x%d", i)
		for _, ev := range []events.Event{started(x, "a"), ended(x, cause, 0)} {
			seq++
			if err := directory.Apply(&s, record(t, seq, step{"a", ev})); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := s.Totals().ExecutionsEnded
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(slices.Values(events.ExecutionCauses))) {
		t.Fatalf("causes %v", got)
	}
}
