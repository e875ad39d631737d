package projections_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/agora-econ/agora/events"
	attnview "github.com/agora-econ/agora/projections/attention"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/inbox"
	"github.com/agora-econ/agora/projections/markets"
	"github.com/agora-econ/agora/projections/series"
)

// readModel is what every read model offers the runner and the group.
type readModel interface {
	Apply(events.Record) error
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// BenchmarkDeadAgentReadModels reports the heap a dead agent (created by
// the operator with a grant, then killed) leaves in each read model `agora
// run` keeps, per agent: folded from the log, and restored from the read
// model's snapshot, as a start-up finds it. `agora bench scale` measures
// the whole node; this says which read model the bytes are in.
//
//	go test -run '^$' -bench DeadAgentReadModels -benchtime 1x ./projections/
func BenchmarkDeadAgentReadModels(b *testing.B) {
	const agents = 20000
	var recs []events.Record
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	add := func(id string, e events.Event) {
		seq := uint64(len(recs) + 1)
		at = at.Add(time.Millisecond)
		env, err := events.Encode(events.KindAgent, id, e, events.Meta{ID: ulid.Make().String(), Time: at})
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, events.Record{Seq: seq, Envelope: env})
	}
	for i := range agents {
		id := fmt.Sprintf("a%06d", i)
		add(id, events.AgentCreated{AgentID: id, GrantMicros: events.Credits(10), Reason: "operator"})
	}
	for i := range agents {
		add(fmt.Sprintf("a%06d", i), events.AgentDied{Reason: "killed by the operator", BurnedMicros: events.Credits(10)})
	}
	models := []struct {
		name string
		make func() readModel
	}{
		{"economy", func() readModel { return economy.New() }},
		{"history", func() readModel { v, _ := history.New(); return v }},
		{"directory", func() readModel { return directory.New() }},
		{"series", func() readModel { v, _ := series.New(); return v }},
		{"bidbook", func() readModel { return bidbook.New() }},
		{"markets", func() readModel { v, _ := markets.New(20); return v }},
		{"inbox", func() readModel { return inbox.New() }},
		{"attention", func() readModel { return attnview.New() }},
	}
	heap := func() uint64 {
		// Twice: the JSON encoder's pooled buffers outlive one collection.
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		var folded, restored float64
		for _, m := range models {
			before := heap()
			v := m.make()
			for _, r := range recs {
				_ = v.Apply(r)
			}
			f := float64(heap()-before) / agents
			data, err := v.Snapshot()
			if err != nil {
				b.Fatal(err)
			}
			v = nil
			before = heap()
			w := m.make()
			if err := w.Restore(data); err != nil {
				b.Fatal(err)
			}
			r := float64(heap()-before) / agents
			runtime.KeepAlive(w)
			runtime.KeepAlive(data)
			b.ReportMetric(f, "B/folded-"+m.name)
			b.ReportMetric(r, "B/restored-"+m.name)
			folded += f
			restored += r
		}
		b.ReportMetric(folded, "B/folded-all")
		b.ReportMetric(restored, "B/restored-all")
	}
}
