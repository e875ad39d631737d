package economy

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/front/web"
	"github.com/agora-econ/agora/projections"
)

// dashboard builds the web dashboard (front/web) over the read models the
// operator API reads, its rating form calling op, behind the operator
// token. Its live streams end when the economy stops.
func (e *Economy) dashboard(op http.Handler, token string, workspaces *executor.Workspaces, logger *slog.Logger) (http.Handler, error) {
	return web.New(web.Deps{
		Operator:      op,
		Directory:     e.directory,
		Markets:       e.marketView,
		Economy:       e.live,
		History:       e.history,
		Bids:          e.bids,
		AttentionView: e.attention.view,
		Inbox:         e.inbox,
		Series:        e.series.view,
		Changes:       readModelChanges(e.freshness().runners),
	}, web.Options{Token: token, Done: e.ctx.Done(), Logger: logger,
		Workspace: workspaces.Dir})
}

// readModelChanges is web.Changes over the read models' runners: the
// sequence all of them have applied, and a wait until all have applied
// one. The runners are fed by the one follow of the log.
type readModelChanges []*projections.Runner

func (c readModelChanges) LastSeq() uint64 {
	var seq uint64
	for i, r := range c {
		if s := r.LastSeq(); i == 0 || s < seq {
			seq = s
		}
	}
	return seq
}

func (c readModelChanges) WaitFor(ctx context.Context, seq uint64) error {
	for _, r := range c {
		if err := r.WaitFor(ctx, seq); err != nil {
			return err
		}
	}
	return nil
}
