package operator

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/records"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
)

// statuses maps the typed rejections of the domain to HTTP statuses. The
// first match wins, so wrapped errors are listed before what they wrap.
// Every one of them means the command was not recorded: a rejected call
// changes nothing. docs/api.md holds the same table.
var statuses = []problem.Status{
	// What the request says.
	{Err: events.ErrInvalidAmount, Code: http.StatusUnprocessableEntity},
	{Err: events.ErrInvalidID, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrInvalidCommand, Code: http.StatusUnprocessableEntity},
	{Err: ErrInvalidProgram, Code: http.StatusUnprocessableEntity},
	{Err: records.ErrInvalidAcknowledgement, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrUnknownResource, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrInvalidBundle, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrExceedsSupply, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrBelowReserve, Code: http.StatusUnprocessableEntity},
	{Err: attention.ErrInvalidResponse, Code: http.StatusUnprocessableEntity},
	// Whom it names.
	{Err: agent.ErrUnknownAgent, Code: http.StatusNotFound},
	// The state it meets.
	{Err: agent.ErrAgentExists, Code: http.StatusConflict},
	{Err: attention.ErrNotActive, Code: http.StatusConflict},
	{Err: agent.ErrInsufficientCredits, Code: http.StatusConflict},
	{Err: agent.ErrAgentDead, Code: http.StatusConflict},
	{Err: agent.ErrTooManyHolds, Code: http.StatusConflict},
	{Err: agent.ErrBalanceLimit, Code: http.StatusConflict},
	// The system: retry later, with the same Idempotency-Key.
	{Err: clearing.ErrBookFull, Code: http.StatusServiceUnavailable},
	{Err: clearing.ErrNotConfigured, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrUnavailable, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrConflict, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrStopped, Code: http.StatusServiceUnavailable},
	{Err: context.DeadlineExceeded, Code: http.StatusServiceUnavailable},
	{Err: context.Canceled, Code: http.StatusServiceUnavailable}, // the caller left; nobody reads it
}

// newMapper is the operator API's mapper of errors to problems.
func newMapper(logger *slog.Logger) problem.Mapper {
	return problem.Mapper{Statuses: statuses, Logger: logger, Name: "operator API",
		InternalDetail: "internal error (logged); the call may be retried with the same Idempotency-Key"}
}
