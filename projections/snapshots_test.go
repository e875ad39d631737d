package projections_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/eventgen"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
	"github.com/agora-econ/agora/projections/series"
)

// durable is what every read model and the economy fold offer a runner
// that saves its position: the state as of the last record, and the way
// back to it.
type durable interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

var (
	_ durable = (*bidbook.View)(nil)
	_ durable = (*markets.View)(nil)
	_ durable = (*directory.View)(nil)
	_ durable = (*history.View)(nil)
	_ durable = (*economy.Economy)(nil)
	_ durable = (*inbox.View)(nil)
	_ durable = (*series.View)(nil)
)

func (m *mirrors) durables() []durable {
	return []durable{m.bids, m.markets, m.dir, m.hist, m.inbox, m.series}
}

// answers is everything the read models answer readers, for comparing two
// sets of them.
func (m *mirrors) answers(t *rapid.T) map[string]any {
	out := map[string]any{
		"bids":          pageBids(t, m.bids, ""),
		"bid count":     m.bids.Count(),
		"markets":       m.markets.State(),
		"agents":        m.dir.List("", 0),
		"living":        m.dir.Living("", 0),
		"totals":        m.dir.Totals(),
		"agent count":   m.dir.Count(),
		"recent":        m.hist.Recent(0),
		"resource none": pageBids(t, m.bids, "x"),
	}
	for _, id := range eventgen.IDs {
		out["bids for "+id] = pageBids(t, m.bids, id)
		out["bid count for "+id] = m.bids.CountFor(id)
		b, ok := m.bids.Get(id)
		out["bid "+id] = found{b, ok}
		mk, ok := m.markets.Market(id)
		out["market "+id] = found{mk, ok}
		a, ok := m.dir.Get(id)
		out["agent "+id] = found{a, ok}
		out["history of "+id] = m.hist.ForAgent(id, 0)
		bal, ok := m.hist.Balance(id)
		out["balance of "+id] = found{bal, ok}
		page, next, err := m.inbox.Page(id, 1000, "")
		if err != nil {
			t.Fatal(err)
		}
		out["inbox of "+id] = found{page, next == ""}
		sa, ok := m.series.Agent(id, 0, 1000)
		out["series of "+id] = found{sa, ok}
	}
	ms, _ := m.series.Markets("", 0, 1000)
	out["series of the markets"] = ms
	out["series of the economy"] = m.series.Economy(0, 1000)
	return out
}

// found is an answer and whether there was one.
type found struct {
	V  any
	OK bool
}

// economyAnswers is what the economy fold answers. A skipped record's
// detail is left out: Admit's message may name whichever of two broken
// rules it meets first in a map, which is not the same in two folds.
func economyAnswers(e *economy.Economy) map[string]any {
	skipped := e.SkippedRecords()
	for i := range skipped {
		skipped[i].Detail = ""
	}
	return map[string]any{"summary": e.Summary(), "skipped": skipped, "settled": fmt.Sprint(e.CheckSettled() != nil)}
}

// sameSnapshot compares two snapshots of the economy fold but for the
// skipped records' details (see economyAnswers).
func sameSnapshot(t *rapid.T, got, want *economy.Economy) {
	normal := func(e *economy.Economy) string {
		data, err := e.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		state, _ := m["state"].(map[string]any)
		skipped, _ := state["skipped"].([]any)
		for _, k := range skipped {
			delete(k.(map[string]any), "detail")
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if g, w := normal(got), normal(want); g != w {
		t.Fatalf("the restored economy's snapshot differs:\n%s\n%s", g, w)
	}
}

func sameAnswers(t *rapid.T, what string, got, want map[string]any) {
	for k, w := range want {
		if g := got[k]; !reflect.DeepEqual(g, w) {
			t.Fatalf("%s, %s:\n got %+v\nwant %+v", what, k, g, w)
		}
	}
}

// TestSnapshotsResume checks, for every read model and the economy fold,
// that one restored from a snapshot taken after record k and then fed
// records k+1..n answers exactly what one fed records 1..n answers: a
// restart that resumes from a saved position shows what a rebuild from
// the first record shows. The restored ones are first fed a few records
// of their own, which Restore must replace.
func TestSnapshotsResume(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		actors, eco, views := newActorsFold(), economy.New(), newMirrors(t)
		var (
			ecoBack   *economy.Economy
			viewsBack *mirrors
		)
		n := rapid.IntRange(1, 250).Draw(t, "records")
		k := rapid.IntRange(0, n).Draw(t, "snapshot after")
		var early []events.Record // what the restored ones are fed before Restore
		restore := func() {
			ecoBack, viewsBack = economy.New(), newMirrors(t)
			for _, rec := range early {
				_ = ecoBack.Apply(rec)
				viewsBack.apply(t, rec)
			}
			data, err := eco.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if err := ecoBack.Restore(data); err != nil {
				t.Fatalf("economy: %v", err)
			}
			for i, d := range views.durables() {
				data, err := d.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if err := viewsBack.durables()[i].Restore(data); err != nil {
					t.Fatalf("%T: %v", d, err)
				}
			}
		}
		for seq := uint64(1); seq <= uint64(n); seq++ {
			if seq-1 == uint64(k) {
				restore()
			}
			rec, kind, id, e := drawRecord(t, seq, actors)
			actors.apply(kind, id, e)
			_ = eco.Apply(rec)
			if ecoBack != nil {
				_ = ecoBack.Apply(rec)
			}
			if _, skipped := eco.SkippedRecord(seq); skipped {
				continue
			}
			views.apply(t, rec)
			if viewsBack != nil {
				viewsBack.apply(t, rec)
			} else if len(early) < 3 {
				early = append(early, rec)
			}
		}
		if viewsBack == nil {
			restore() // k == n: the snapshot of the whole log
		}
		sameAnswers(t, "restored read models", viewsBack.answers(t), views.answers(t))
		sameAnswers(t, "restored economy", economyAnswers(ecoBack), economyAnswers(eco))
		sameSnapshot(t, ecoBack, eco)
	})
}

// TestRestoreRefusesOtherFormats gives every read model and the economy
// fold snapshots it did not write, or wrote with other limits: each is
// refused with its ErrSnapshotFormat, and the view keeps what it held.
func TestRestoreRefusesOtherFormats(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		actors, eco, views := newActorsFold(), economy.New(), newMirrors(t)
		for seq := uint64(1); seq <= 40; seq++ {
			rec, kind, id, e := drawRecord(t, seq, actors)
			actors.apply(kind, id, e)
			_ = eco.Apply(rec)
			if _, skipped := eco.SkippedRecord(seq); !skipped {
				views.apply(t, rec)
			}
		}
		before, ecoBefore := views.answers(t), economyAnswers(eco)
		other := func(m map[string]any) map[string]any { return m }
		otherLimits := newOtherLimits(t)
		bad := [][]byte{nil, []byte("{"), []byte(`"snapshot"`), []byte(`{}`), []byte(`{"format":0}`), []byte(`{"format":2}`)}
		for _, d := range append(views.durables(), eco) {
			for _, data := range bad {
				if err := d.Restore(data); !errors.Is(err, projections.ErrSnapshotFormat) {
					t.Fatalf("%T restores %q: %v, want %v", d, data, err, projections.ErrSnapshotFormat)
				}
			}
		}
		// A snapshot kept with other limits (the configuration changed) is
		// refused too: folding the log again keeps the new limits.
		for i, d := range otherLimits {
			data, err := d.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			target := []durable{views.markets, views.hist}[i]
			if err := target.Restore(data); !errors.Is(err, projections.ErrSnapshotFormat) {
				t.Fatalf("%T restored a snapshot kept with other limits", target)
			}
		}
		sameAnswers(t, "after refused snapshots", other(views.answers(t)), before)
		sameAnswers(t, "economy after refused snapshots", economyAnswers(eco), ecoBefore)
	})
}

// newOtherLimits returns a markets view and a history view kept with
// other limits than newMirrors's.
func newOtherLimits(t *rapid.T) []durable {
	m, err := markets.New(5)
	if err != nil {
		t.Fatal(err)
	}
	h, err := history.New(history.WithHistoryLengthMax(9))
	if err != nil {
		t.Fatal(err)
	}
	return []durable{m, h}
}
