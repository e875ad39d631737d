package economy

import (
	"context"

	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/series"
)

// seriesParts are the history read model (projections/series) and its
// runner: the markets, the economy and each agent over time, for GET
// /admin/history/markets, /admin/history/economy, /admin/agents/{id}/history.
type seriesParts struct {
	view *series.View
	run  *projections.Runner
}

// wireSeries wires the history read model, bounded by the configuration's
// history.* keys. It folds the economy of its own, which judges each record
// as the live fold does, so it asks no other view (docs/decisions.md, "The
// history folds the economy of its own").
func (e *Economy) wireSeries() (err error) {
	h := e.node.cfg.History
	s := &e.series
	if s.view, err = series.New(series.WithWindowCycles(h.WindowCycles), series.WithPointsMax(h.PointsMax),
		series.WithAgentPointsMax(h.AgentPointsMax)); err != nil {
		return err
	}
	s.run, err = projections.NewRunner(e.node.log, s.view)
	return err
}

// Series is the history read model; nil WithLedgerOnly.
func (e *Economy) Series() *series.View { return e.series.view }

// WaitSeries waits until the history read model has applied seq.
func (e *Economy) WaitSeries(ctx context.Context, seq uint64) error {
	return e.series.run.WaitFor(ctx, seq)
}
