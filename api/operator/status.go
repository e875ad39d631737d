package operator

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/projections/economy"
)

// StatusOutput is GET /admin/status: the economy's headline figures, the
// same summary `agora audit` and `agora status` print, from the fold that
// checks every invariant as the events arrive.
type StatusOutput struct {
	Body economy.Summary
}

func (s *service) registerStatus(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-status", Method: http.MethodGet, Path: "/admin/status",
		Summary: "The economy's headline figures: events, agents, credits minted, burned, in flight, executions",
	}), func(ctx context.Context, _ *struct{}) (*StatusOutput, error) {
		s.settle(ctx)
		return &StatusOutput{Body: s.deps.Economy.Summary()}, nil
	})
}
