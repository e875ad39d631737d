package system

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Routes of the system: GET /system/execution, /system/config,
// /system/time.

// ExecutionOutput is GET /system/execution.
type ExecutionOutput struct{ Body Execution }

// Execution is the caller's running execution: its envelope, what it has
// used and what remains.
type Execution struct {
	AgentID     string           `json:"agent_id"`
	ExecutionID string           `json:"execution_id"`
	Deadline    time.Time        `json:"deadline" doc:"The program is killed at this time."`
	Allocated   map[string]Units `json:"allocated" doc:"The bundle the execution won: units per resource."`
	Used        map[string]Units `json:"used" doc:"What the service meters: inference tokens."`
	Remaining   map[string]Units `json:"remaining" doc:"Inference tokens left; at 0, inference answers 429."`
}

// ConfigOutput is the public configuration.
type ConfigOutput struct {
	Body PublicConfig
}

// TimeOutput is GET /system/time.
type TimeOutput struct{ Body Time }

// Time is the server's time, and the market's.
type Time struct {
	Time       time.Time `json:"time"`
	UnixMillis int64     `json:"unix_millis"`
	Cycle      uint64    `json:"cycle" doc:"The last clearing cycle that changed anything, as in GET /market/state."`
}

func (s *service) registerSystem(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-execution", Method: http.MethodGet, Path: "/system/execution", Tags: []string{"system"},
		Summary: "The caller's execution: allocated, used, remaining, deadline",
	}), s.execution)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-config", Method: http.MethodGet, Path: "/system/config", Tags: []string{"system"},
		Summary: "The public configuration of the economy",
	}), s.config)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-time", Method: http.MethodGet, Path: "/system/time", Tags: []string{"system"},
		Summary: "The server's time",
	}), s.time)
}

func (s *service) execution(ctx context.Context, _ *struct{}) (*ExecutionOutput, error) {
	x, err := serve[Execution](ctx, s, GetExecution{callerOf(ctx).call()})
	return &ExecutionOutput{Body: x}, err
}

func (s *service) config(ctx context.Context, _ *struct{}) (*ConfigOutput, error) {
	cfg, err := serve[PublicConfig](ctx, s, GetConfig{callerOf(ctx).call()})
	return &ConfigOutput{Body: cfg}, err
}

func (s *service) time(ctx context.Context, _ *struct{}) (*TimeOutput, error) {
	t, err := serve[Time](ctx, s, GetTime{callerOf(ctx).call()})
	return &TimeOutput{Body: t}, err
}
