package operator

import (
	"context"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/projections/economy"
)

// A record every follower of the log skips (it does not decode, or its
// event would break its actor's invariants) is reported until the
// operator acknowledges it: GET /admin/skipped lists them, POST
// /admin/skipped/{seq}/acknowledge records the acknowledgement as an
// event (record_acknowledged), after which `agora status` no longer counts
// the record and `agora audit` passes over it.

// SkippedOutput is GET /admin/skipped.
type SkippedOutput struct {
	Body struct {
		Records []economy.Skipped `json:"records" doc:"Every skipped record, in log order."`
		// Unacknowledged counts those the operator has not acknowledged.
		Unacknowledged int `json:"unacknowledged"`
	}
}

// AcknowledgeInput is POST /admin/skipped/{seq}/acknowledge.
type AcknowledgeInput struct {
	Idempotency
	Seq  uint64 `path:"seq" minimum:"1" doc:"The stream sequence of the skipped record."`
	Body struct {
		Reason string `json:"reason,omitempty" maxLength:"500" doc:"Why the record is accepted (kept in the event)."`
	}
}

// AcknowledgeOutput is the record as acknowledged.
type AcknowledgeOutput struct {
	Body economy.Skipped
}

func (s *service) registerSkipped(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-skipped", Method: http.MethodGet, Path: "/admin/skipped", Tags: []string{"records"},
		Summary: "Records every follower skips (undecodable, or breaking their actor's invariants), acknowledged or not",
	}), func(ctx context.Context, _ *struct{}) (*SkippedOutput, error) {
		s.settle(ctx)
		out := &SkippedOutput{}
		out.Body.Records = s.deps.Economy.Skipped()
		if out.Body.Records == nil {
			out.Body.Records = []economy.Skipped{}
		}
		for _, r := range out.Body.Records {
			if !r.Acknowledged {
				out.Body.Unacknowledged++
			}
		}
		return out, nil
	})
	huma.Register(api, operation(huma.Operation{
		OperationID: "acknowledge-skipped", Method: http.MethodPost, Path: "/admin/skipped/{seq}/acknowledge",
		Tags:    []string{"records"},
		Summary: "Acknowledge a skipped record: status stops counting it, the audit passes over it",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusServiceUnavailable), s.acknowledge)
}

func (s *service) acknowledge(ctx context.Context, in *AcknowledgeInput) (*AcknowledgeOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	// The fold knows which records are skipped; the acknowledgement of a
	// record that is not would mean nothing, so it is not written.
	s.settle(ctx)
	rec, ok := s.deps.Economy.SkippedRecord(in.Seq)
	if !ok {
		return nil, huma.Error404NotFound(fmt.Sprintf("record %d is not a skipped record (see GET /admin/skipped)", in.Seq))
	}
	if !rec.Acknowledged {
		if _, err := s.deps.Records.Acknowledge(ctx, in.Seq, in.Body.Reason, commandKey("acknowledge", key)); err != nil {
			return nil, s.Problem(err)
		}
		s.settle(ctx)
		rec, _ = s.deps.Economy.SkippedRecord(in.Seq)
	}
	return &AcknowledgeOutput{Body: rec}, nil
}
