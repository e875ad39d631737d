package runtime_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

func tr(manager string, seq uint64, index uint32) events.Trigger {
	return events.Trigger{Manager: manager, Seq: seq, Index: index}
}

// TestMarks: a trigger is applied when it is at or below its manager's
// mark, ordered by sequence then index; other managers' marks and zero
// triggers count for nothing; a mark never moves back.
func TestMarks(t *testing.T) {
	at10 := runtime.Marks{"m": {Seq: 10}}
	at10i2 := runtime.Marks{"m": {Seq: 10, Index: 2}, "n": {Seq: 3}}
	cases := []struct {
		name    string
		marks   runtime.Marks
		trigger events.Trigger
		applied bool
		// after is the marks once the trigger is settled.
		after runtime.Marks
	}{
		{"no marks, no trigger", nil, events.Trigger{}, false, nil},
		{"no marks", nil, tr("m", 1, 0), false, runtime.Marks{"m": {Seq: 1}}},
		{"no marks, an index", nil, tr("m", 1, 3), false, runtime.Marks{"m": {Seq: 1, Index: 3}}},
		{"a zero trigger beside marks", at10, events.Trigger{}, false, at10},
		{"a zero sequence with a manager", at10, tr("m", 0, 0), false, at10},
		{"at the mark", at10, tr("m", 10, 0), true, at10},
		{"below the mark", at10, tr("m", 9, 0), true, at10},
		{"below the mark, a higher index", at10, tr("m", 9, 7), true, at10},
		{"the same event, the next index", at10, tr("m", 10, 1), false, runtime.Marks{"m": {Seq: 10, Index: 1}}},
		{"above the mark", at10, tr("m", 11, 0), false, runtime.Marks{"m": {Seq: 11}}},
		{"another manager", at10, tr("n", 1, 0), false, runtime.Marks{"m": {Seq: 10}, "n": {Seq: 1}}},
		{"the empty manager is a manager", at10, tr("", 10, 0), false, runtime.Marks{"m": {Seq: 10}, "": {Seq: 10}}},
		{"an index below the mark's", at10i2, tr("m", 10, 1), true, at10i2},
		{"the mark's index", at10i2, tr("m", 10, 2), true, at10i2},
		{"an index above the mark's", at10i2, tr("m", 10, 3), false, runtime.Marks{"m": {Seq: 10, Index: 3}, "n": {Seq: 3}}},
		{"the next event, index 0", at10i2, tr("m", 11, 0), false, runtime.Marks{"m": {Seq: 11}, "n": {Seq: 3}}},
		{"the other manager's mark", at10i2, tr("n", 3, 0), true, at10i2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.marks.Clone()
			if got := c.marks.Applied(c.trigger); got != c.applied {
				t.Fatalf("Applied(%+v) on %v = %v, want %v", c.trigger, c.marks, got, c.applied)
			}
			after := c.marks.Clone().Settle(c.trigger)
			if !reflect.DeepEqual(after, c.after) {
				t.Fatalf("Settle(%+v) on %v = %v, want %v", c.trigger, before, after, c.after)
			}
			if !reflect.DeepEqual(c.marks, before) {
				t.Fatalf("Applied changed the marks: %v, was %v", c.marks, before)
			}
			if c.trigger.Seq != 0 && !after.Applied(c.trigger) {
				t.Fatalf("%+v is not applied once settled: %v", c.trigger, after)
			}
		})
	}
}

// TestMarksRoundTrip: marks are saved in snapshots as JSON and read back
// whole.
func TestMarksRoundTrip(t *testing.T) {
	m := runtime.Marks{"clearing": {Seq: 12, Index: 3}, "transfers": {Seq: 7}, "": {Seq: 1}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back runtime.Marks
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Fatalf("%s read back as %v", b, back)
	}
}

// losesTrigger is an agent's decider that forgets the trigger of Burn.
func losesTrigger(a agent.Account, c agent.Command) (events.Event, error) {
	e, err := agent.Decide(a, c)
	if b, ok := e.(events.CreditsBurned); ok {
		b.Trigger = events.Trigger{}
		return b, err
	}
	return e, err
}

// TestStep is the shell's answer to a command, without IO.
func TestStep(t *testing.T) {
	agg := agent.Aggregate()
	a := agent.Evolve(agent.New("a"), events.AgentCreated{AgentID: "a", GrantMicros: events.Credits(10)})
	marks := runtime.Marks{"m": {Seq: 5}}
	burn := func(t events.Trigger) agent.Burn { return agent.Burn{AmountMicros: 1, Reason: "spawn", Trigger: t} }

	if _, err := runtime.Step(agg, a, marks, market.ReleaseLease{ExecutionID: "x", Trigger: tr("m", 6, 0)}); !errors.Is(err, runtime.ErrWrongCommand) {
		t.Fatalf("a market's command to an agent: %v", err)
	}
	if _, err := runtime.Step(agg, a, marks, nil); !errors.Is(err, runtime.ErrWrongCommand) {
		t.Fatalf("no command: %v", err)
	}
	if e, err := runtime.Step(agg, a, marks, burn(tr("m", 5, 0))); e != nil || err != nil {
		t.Fatalf("a redelivery decided %#v, %v", e, err)
	}
	// A redelivery is answered before Decide: even one Decide would now
	// refuse (the account cannot pay it again) is an applied command.
	if e, err := runtime.Step(agg, a, marks, agent.Burn{AmountMicros: events.Credits(1000), Trigger: tr("m", 4, 0)}); e != nil || err != nil {
		t.Fatalf("a redelivery Decide would refuse: %#v, %v", e, err)
	}
	want := events.CreditsBurned{AmountMicros: 1, Reason: "spawn", Trigger: tr("m", 6, 0)}
	if e, err := runtime.Step(agg, a, marks, burn(tr("m", 6, 0))); err != nil || !reflect.DeepEqual(e, want) {
		t.Fatalf("a fresh trigger decided %#v, %v", e, err)
	}
	if e, err := runtime.Step(agg, a, marks, agent.Burn{AmountMicros: events.Credits(1000)}); e != nil || !errors.Is(err, agent.ErrInsufficientCredits) {
		t.Fatalf("Decide's rejection: %#v, %v", e, err)
	}
	agg.Decide = losesTrigger
	if e, err := runtime.Step(agg, a, marks, burn(tr("m", 6, 0))); e != nil || !errors.Is(err, runtime.ErrTriggerNotRecorded) {
		t.Fatalf("an event without its command's trigger: %#v, %v", e, err)
	}
	if e, err := runtime.Step(agg, a, marks, agent.Burn{AmountMicros: 1}); err != nil || e == nil {
		t.Fatalf("a command without a trigger needs none recorded: %#v, %v", e, err)
	}
}

// redelivery is one kind's case for redeliveredOnce.
type redelivery[S, C any] struct {
	agg runtime.Aggregate[S, C]
	id  string
	// setup prepares the actor.
	setup []C
	// cmd is the command under test with a trigger; decided again on the
	// state it leaves (after between), it would write another event.
	cmd func(events.Trigger) C
	// between moves the actor on after cmd, with other managers'
	// triggers, so that only the mark tells a redelivery of cmd apart.
	between []C
}

// redeliveredOnce: a manager's command delivered again is answered as
// applied and writes nothing, right after it was applied, after a restart
// from a snapshot (the marks are in it), and after a restart past a
// snapshot of the older format (marks inside the state), which is refused
// and the log folded instead. A second command of the same event (the
// next index) is new.
func redeliveredOnce[S, C any](t *testing.T, c redelivery[S, C]) {
	forEachBackend(t, func(t *testing.T, log events.Log, store events.Store) {
		opts := runtime.Options{SnapshotEvery: 1}
		start := func() *runtime.Host {
			h, err := runtime.NewHost(log, store, opts, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(h.Stop)
			runtime.Register(h, c.agg)
			return h
		}
		ask := func(h *runtime.Host, cmd C) runtime.Result {
			t.Helper()
			res, err := h.Ask(ctxT(t), c.agg.Kind, c.id, runtime.Request{Command: cmd, Manager: runtime.TriggerOf(cmd).Manager})
			if err != nil {
				t.Fatalf("%T: %v", cmd, err)
			}
			return res
		}
		first := tr("m", 5, 0)
		redeliver := func(h *runtime.Host, when string) {
			t.Helper()
			before := lastSeq(t, log)
			for _, trig := range []events.Trigger{first, tr("m", 4, 9)} {
				if res := ask(h, c.cmd(trig)); res.Seq != 0 || res.Event != nil {
					t.Fatalf("%s: redelivery %+v applied again: %+v", when, trig, res)
				}
			}
			if after := lastSeq(t, log); after != before {
				t.Fatalf("%s: redeliveries wrote %d events", when, after-before)
			}
		}

		h := start()
		for _, cmd := range c.setup {
			ask(h, cmd)
		}
		if res := ask(h, c.cmd(first)); res.Seq == 0 {
			t.Fatalf("the first delivery wrote nothing: %+v", res)
		}
		for _, cmd := range c.between {
			ask(h, cmd)
		}
		redeliver(h, "live")
		h.Stop()

		key := fmt.Sprintf("snapshot.%s.%s", c.agg.Kind, c.id)
		snap := snapshotJSON(t, store, key)
		if m, _ := snap["marks"].(map[string]any); snap["format"] != float64(2) || !reflect.DeepEqual(m["m"], map[string]any{"seq": float64(5)}) {
			t.Fatalf("snapshot holds format %v, marks %v", snap["format"], snap["marks"])
		}
		h = start()
		redeliver(h, "after a restart from a snapshot")
		h.Stop()

		// The same snapshot as the format before marks left the state
		// wrote it: a shell that read it would find no marks.
		snap = snapshotJSON(t, store, key)
		settled := map[string]any{}
		for manager, m := range snap["marks"].(map[string]any) {
			settled[manager] = m.(map[string]any)["seq"]
		}
		snap["state"].(map[string]any)["settled"] = settled
		delete(snap, "format")
		delete(snap, "marks")
		putJSON(t, store, key, snap)
		h = start()
		redeliver(h, "after a restart past an old snapshot")
		if res := ask(h, c.cmd(tr("m", 5, 1))); res.Seq == 0 {
			t.Fatalf("the next command of the same event wrote nothing: %+v", res)
		}
		redeliver(h, "after the next index")
	})
}

func snapshotJSON(t *testing.T, store events.Store, key string) map[string]any {
	t.Helper()
	b, ok, err := store.Get(ctxT(t), key)
	if err != nil || !ok {
		t.Fatalf("snapshot %s: found %v, %v", key, ok, err)
	}
	var snap map[string]any
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatal(err)
	}
	return snap
}

func putJSON(t *testing.T, store events.Store, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctxT(t), key, b); err != nil {
		t.Fatal(err)
	}
}

// TestRedeliveredOnceAgent: a burn redelivered would burn again.
func TestRedeliveredOnceAgent(t *testing.T) {
	redeliveredOnce(t, redelivery[agent.Account, agent.Command]{
		agg: agent.Aggregate(), id: "a",
		setup: []agent.Command{agent.Create{GrantMicros: events.Credits(100)}},
		cmd: func(t events.Trigger) agent.Command {
			return agent.Burn{AmountMicros: events.Credits(1), Reason: "spawn", Trigger: t}
		},
	})
}

// TestRedeliveredOnceClearing: a listing redelivered after its bid won
// and its execution was released would list the bid again.
func TestRedeliveredOnceClearing(t *testing.T) {
	terms := events.MarketTerms{SupplyUnits: 10, PriceMicros: 1, MinPriceMicros: 1, MaxPriceMicros: 100}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	redeliveredOnce(t, redelivery[clearing.Book, clearing.Command]{
		agg: clearing.Aggregate("main"), id: "main",
		setup: []clearing.Command{clearing.Configure{Markets: map[string]events.MarketTerms{
			clearing.ResourceCPU: terms, clearing.ResourceMemory: terms}}},
		cmd: func(t events.Trigger) clearing.Command {
			return clearing.ListBid{BidID: "b-1", AgentID: "a", AmountMicros: events.Credits(1), PlacedAt: at, Trigger: t,
				Terms: events.BidTerms{Pool: "main", Resources: map[string]events.Units{clearing.ResourceCPU: 1, clearing.ResourceMemory: 1}}}
		},
		between: []clearing.Command{
			clearing.Clear{Cycle: 1, At: at},
			clearing.ReleaseExecution{ExecutionID: clearing.ExecutionID("b-1"), Reason: "exited", Trigger: tr("other", 7, 0)},
		},
	})
}

// TestRedeliveredOnceMarket: a cycle redelivered would grant its leases
// again.
func TestRedeliveredOnceMarket(t *testing.T) {
	redeliveredOnce(t, redelivery[market.Market, market.Command]{
		agg: market.Aggregate(), id: clearing.ResourceCPU,
		setup: []market.Command{market.Configure{Terms: events.MarketTerms{SupplyUnits: 10, PriceMicros: 1, MinPriceMicros: 1,
			MaxPriceMicros: 100}}},
		cmd: func(t events.Trigger) market.Command {
			return market.ApplyCycle{Cycle: 1, Granted: []events.Lease{{ExecutionID: "x-b-1", Units: 1}},
				Outcome: events.MarketOutcome{NewPriceMicros: 1}, Trigger: t}
		},
	})
}
