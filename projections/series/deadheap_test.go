package series_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/agora-econ/agora/events"
	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/series"
)

// BenchmarkDeadAgentHeap reports the heap a dead agent leaves in the
// history read model and in the economy fold alone (created, granted,
// killed), per agent: what a long-running economy keeps of everyone ever
// born.
//
//	go test -run '^$' -bench DeadAgentHeap -benchtime 1x ./projections/series/
func BenchmarkDeadAgentHeap(b *testing.B) {
	const agents = 20000
	s := &script{t: b}
	for i := range agents {
		id := fmt.Sprintf("a%06d", i)
		s.add(events.KindAgent, id, events.AgentCreated{AgentID: id, GrantMicros: events.Credits(10)})
		s.add(events.KindAgent, id, events.AgentDied{Reason: "killed", BurnedMicros: events.Credits(10)})
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	for b.Loop() {
		before := heap()
		v, err := series.New()
		if err != nil {
			b.Fatal(err)
		}
		fold(b, v, s.recs)
		b.ReportMetric(float64(heap()-before)/agents, "B/dead-agent(series)")
		runtime.KeepAlive(v)
		before = heap()
		e := ecofold.New()
		for _, r := range s.recs {
			_ = e.Apply(r)
		}
		b.ReportMetric(float64(heap()-before)/agents, "B/dead-agent(economy-fold)")
		runtime.KeepAlive(e)
	}
}
