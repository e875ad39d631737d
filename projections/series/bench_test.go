package series_test

import (
	"testing"

	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/series"
)

// BenchmarkApply folds a run of cycles and grants into the history read
// model, and BenchmarkEconomyFold the same records into the economy fold
// alone: the difference is what the series cost beyond the fold they take
// their figures from. Run both together:
//
//	go test -run '^$' -bench . -benchtime 20x ./projections/series/
func BenchmarkApply(b *testing.B) {
	recs := longRun(b, 2000, 2000)
	b.ReportAllocs()
	for b.Loop() {
		v, err := series.New()
		if err != nil {
			b.Fatal(err)
		}
		fold(b, v, recs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func BenchmarkEconomyFold(b *testing.B) {
	recs := longRun(b, 2000, 2000)
	b.ReportAllocs()
	for b.Loop() {
		e := ecofold.New()
		for _, r := range recs {
			_ = e.Apply(r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}
