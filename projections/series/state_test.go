package series_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/series"
)

var _ projections.Durable = (*series.View)(nil)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// script writes records as the actors would: numbered, timed, encoded.
type script struct {
	t    testing.TB
	recs []events.Record
}

func (s *script) add(kind events.Kind, id string, e events.Event) {
	s.t.Helper()
	seq := uint64(len(s.recs) + 1)
	env, err := events.Encode(kind, id, e, events.Meta{ID: fmt.Sprintf("ev%d", seq), Time: t0.Add(time.Duration(seq) * time.Second)})
	if err != nil {
		s.t.Fatal(err)
	}
	s.recs = append(s.recs, events.Record{Seq: seq, Envelope: env})
}

// longRun is a market configured and cleared cycles times, a book whose
// cycles are cleared as often, an agent granted a micro-credit times
// times, then dead, then granted again (which its actor refuses).
func longRun(t testing.TB, cycles, grants int) []events.Record {
	s := &script{t: t}
	s.add(events.KindMarket, "cpu_seconds", events.MarketConfigured{Resource: "cpu_seconds", SupplyUnits: events.WholeUnits(100),
		PriceMicros: events.Credits(5), MinPriceMicros: 1, MaxPriceMicros: events.Credits(1000)})
	s.add(events.KindClearing, "main", events.BookConfigured{Markets: map[string]events.MarketTerms{"cpu_seconds": {
		SupplyUnits: events.WholeUnits(100), PriceMicros: events.Credits(5), MinPriceMicros: 1, MaxPriceMicros: events.Credits(1000)}},
		LeaseTimeoutSeconds: 60})
	s.add(events.KindAgent, "ann", events.AgentCreated{AgentID: "ann", GrantMicros: events.Credits(10)})
	for c := 1; c <= max(cycles, grants); c++ {
		if c <= cycles {
			s.add(events.KindClearing, "main", events.CycleCleared{Cycle: uint64(c), At: t0, Markets: map[string]events.MarketOutcome{}})
			price := events.Credits(5) + events.Micros(c%7)
			s.add(events.KindMarket, "cpu_seconds", events.MarketCleared{Cycle: uint64(c), SupplyUnits: events.WholeUnits(100),
				PriceMicros: price, NewPriceMicros: price})
		}
		if c <= grants {
			s.add(events.KindAgent, "ann", events.CreditsGranted{AmountMicros: 1, Reason: "test"})
		}
	}
	s.add(events.KindAgent, "ann", events.AgentDied{Reason: "test", BurnedMicros: events.Credits(10) + events.Micros(grants)})
	s.add(events.KindAgent, "ann", events.CreditsGranted{AmountMicros: 1, Reason: "after its death"})
	return s.recs
}

func fold(t testing.TB, v *series.View, recs []events.Record) {
	t.Helper()
	for _, r := range recs {
		if err := v.Apply(r); err != nil {
			t.Fatal(err)
		}
	}
}

// everything is every answer of the view, as JSON, to compare views.
func everything(t testing.TB, v *series.View) string {
	t.Helper()
	ms, _ := v.Markets("", 0, 1<<30)
	a, _ := v.Agent("ann", 0, 1<<30)
	b, err := json.Marshal([]any{ms, v.Economy(0, 1<<30), a})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A long run keeps a bounded number of points: each series within its
// maximum, the first point and the last of each kept, the window whole;
// a dead agent's series ends at its death.
func TestALongRunIsBounded(t *testing.T) {
	const cycles, grants, window, pointsMax, agentMax = 5000, 3000, 20, 100, 40
	v, err := series.New(series.WithWindowCycles(window), series.WithPointsMax(pointsMax), series.WithAgentPointsMax(agentMax))
	if err != nil {
		t.Fatal(err)
	}
	recs := longRun(t, cycles, grants)
	fold(t, v, recs)
	if n := v.Points(); n > 2*pointsMax+agentMax {
		t.Fatalf("%d points after %d records", n, len(recs))
	}
	ms, ok := v.Markets("cpu_seconds", 0, 1<<30)
	if !ok || len(ms) != 1 {
		t.Fatalf("markets %v, %v", ms, ok)
	}
	cpu := ms[0].Points
	if len(cpu) > pointsMax || cpu[0].Cycle != 1 || cpu[len(cpu)-1].Cycle != cycles {
		t.Fatalf("%d points, cycles %d to %d", len(cpu), cpu[0].Cycle, cpu[len(cpu)-1].Cycle)
	}
	for i := range window {
		p := cpu[len(cpu)-1-i]
		if c := uint64(cycles - i); p.Cycle != c || p.PriceMicros != events.Credits(5)+events.Micros(c%7) ||
			p.SupplyUnits != events.WholeUnits(100) {
			t.Fatalf("window: %+v, want cycle %d", p, c)
		}
	}
	eco := v.Economy(0, 1<<30).Points
	if len(eco) > pointsMax || eco[0].Cycle != 1 || eco[len(eco)-1].Cycle != cycles {
		t.Fatalf("economy: %d points, cycles %d to %d", len(eco), eco[0].Cycle, eco[len(eco)-1].Cycle)
	}
	if last := eco[len(eco)-1]; last.Alive != 1 || last.Dead != 0 || last.MintedMicros != events.Credits(10)+grants ||
		last.BalanceMicros != last.MintedMicros {
		t.Fatalf("the economy at the last cycle: %+v", last)
	}
	a, ok := v.Agent("ann", 0, 1<<30)
	if !ok || len(a.Points) > agentMax {
		t.Fatalf("ann: %d points, %v", len(a.Points), ok)
	}
	first, last := a.Points[0], a.Points[len(a.Points)-1]
	if first.Cause != "agent_created" || first.BalanceMicros != events.Credits(10) || first.DeltaMicros != events.Credits(10) {
		t.Fatalf("first point %+v", first)
	}
	if last.Cause != "agent_died" || last.BalanceMicros != 0 || last.DeltaMicros != -(events.Credits(10)+grants) ||
		last.Seq != recs[len(recs)-2].Seq {
		t.Fatalf("last point %+v; want the death, the record before the last", last)
	}
	if _, ok := v.Agent("bob", 0, 10); ok {
		t.Fatal("an agent never created has a series")
	}
	if _, ok := v.Markets("gold", 0, 10); ok {
		t.Fatal("a market never configured has a series")
	}
}

// A snapshot taken half-way, restored, then given the rest of the log,
// is the view that folded it all: the same answers, the same snapshot.
func TestASnapshotResumesWhereTheFoldWas(t *testing.T) {
	opts := []series.Option{series.WithWindowCycles(5), series.WithPointsMax(16), series.WithAgentPointsMax(8)}
	recs := longRun(t, 300, 200)
	whole, _ := series.New(opts...)
	fold(t, whole, recs)
	for _, cut := range []int{1, 3, 150, 401, len(recs) - 1} {
		half, _ := series.New(opts...)
		fold(t, half, recs[:cut])
		data, err := half.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		back, _ := series.New(opts...)
		if err := back.Restore(data); err != nil {
			t.Fatal(err)
		}
		fold(t, back, recs[cut:])
		if got, want := everything(t, back), everything(t, whole); got != want {
			t.Fatalf("cut at %d: restored and continued\n%s\nwant\n%s", cut, got, want)
		}
		a, _ := back.Snapshot()
		b, _ := whole.Snapshot()
		if string(a) != string(b) {
			t.Fatalf("cut at %d: the snapshots differ", cut)
		}
	}
}

// A snapshot of another format or other limits is refused and leaves the
// view as it was; a Reset empties it.
func TestRestoreRefusesWhatItDidNotWrite(t *testing.T) {
	recs := longRun(t, 30, 10)
	v, _ := series.New(series.WithPointsMax(8))
	fold(t, v, recs)
	before := everything(t, v)
	data, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := series.New(series.WithPointsMax(9))
	for _, bad := range [][]byte{[]byte(`{"format":99,"state":{}}`), []byte(`nonsense`)} {
		if err := v.Restore(bad); !errors.Is(err, projections.ErrSnapshotFormat) {
			t.Fatalf("restore %s: %v", bad, err)
		}
	}
	if err := other.Restore(data); !errors.Is(err, projections.ErrSnapshotFormat) {
		t.Fatalf("a snapshot of other limits: %v", err)
	}
	if after := everything(t, v); after != before {
		t.Fatal("a refused snapshot changed the view")
	}
	v.Reset()
	if v.Points() != 0 {
		t.Fatalf("%d points after a reset", v.Points())
	}
	fold(t, v, recs)
	if after := everything(t, v); after != before {
		t.Fatal("a fold after a reset differs from the first")
	}
}

// Limits out of bounds are refused.
func TestNewRefusesBadLimits(t *testing.T) {
	for _, o := range []series.Option{series.WithWindowCycles(0), series.WithPointsMax(3), series.WithAgentPointsMax(-1)} {
		if _, err := series.New(o); !errors.Is(err, series.ErrInvalidLimit) {
			t.Fatalf("got %v", err)
		}
	}
	if _, err := series.NewState(); err != nil {
		t.Fatal(err)
	}
}
