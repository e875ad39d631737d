package system

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/inbox"
)

// statuses maps the typed rejections of the domain to HTTP statuses. The
// first match wins, so wrapped errors are listed before what they wrap
// (runtime.ErrFenced wraps ErrUnavailable). Every one of them means the
// command was not recorded: a rejected call changes nothing. docs/api.md
// holds the same table.
var statuses = []problem.Status{
	// The caller's token.
	{Err: ticket.ErrUnknownToken, Code: http.StatusUnauthorized},
	{Err: ticket.ErrExpired, Code: http.StatusUnauthorized},
	{Err: ticket.ErrRevoked, Code: http.StatusUnauthorized},
	{Err: ticket.ErrQuotaExhausted, Code: http.StatusTooManyRequests},
	// What the request says.
	{Err: ErrInvalidIdempotencyKey, Code: http.StatusBadRequest},
	{Err: ErrInvalidCall, Code: http.StatusUnprocessableEntity},
	{Err: events.ErrInvalidAmount, Code: http.StatusUnprocessableEntity},
	{Err: events.ErrInvalidID, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrTransferToSelf, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrAmountNotRaised, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrMessageToSelf, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrInvalidMessage, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrMessageTooLarge, Code: http.StatusRequestEntityTooLarge},
	{Err: inbox.ErrInvalidCursor, Code: http.StatusBadRequest},
	{Err: clearing.ErrUnknownResource, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrInvalidBundle, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrExceedsSupply, Code: http.StatusUnprocessableEntity},
	{Err: clearing.ErrBelowReserve, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrInvalidSpawn, Code: http.StatusUnprocessableEntity},
	{Err: agent.ErrInvalidCommand, Code: http.StatusUnprocessableEntity},
	{Err: executor.ErrWorkspaceTooLarge, Code: http.StatusUnprocessableEntity},
	{Err: executor.ErrInvalidPath, Code: http.StatusUnprocessableEntity},
	{Err: bidbook.ErrInvalidCursor, Code: http.StatusBadRequest},
	{Err: bidbook.ErrInvalidLimit, Code: http.StatusBadRequest},
	// Whom it names.
	{Err: agent.ErrUnknownAgent, Code: http.StatusNotFound},
	{Err: clearing.ErrNotYourBid, Code: http.StatusForbidden},
	// The state it meets.
	{Err: agent.ErrInsufficientCredits, Code: http.StatusConflict},
	{Err: agent.ErrAgentDead, Code: http.StatusConflict},
	{Err: agent.ErrHoldNotOpen, Code: http.StatusConflict},
	{Err: agent.ErrExistsWithDifferentAmount, Code: http.StatusConflict},
	{Err: agent.ErrTooManyHolds, Code: http.StatusConflict},
	{Err: agent.ErrInboxFull, Code: http.StatusConflict},
	// The attention slot.
	{Err: attention.ErrInvalidPrompt, Code: http.StatusUnprocessableEntity},
	{Err: attention.ErrBelowReserve, Code: http.StatusUnprocessableEntity},
	{Err: attention.ErrInvalidResponse, Code: http.StatusUnprocessableEntity},
	{Err: attention.ErrUnknownPrompt, Code: http.StatusNotFound},
	{Err: attention.ErrPromptActive, Code: http.StatusConflict},
	{Err: attention.ErrNotActive, Code: http.StatusConflict},
	{Err: attention.ErrQueueFull, Code: http.StatusConflict},
	{Err: clearing.ErrBidNotOpen, Code: http.StatusConflict},
	{Err: agent.ErrAgentExists, Code: http.StatusConflict},
	{Err: ErrPopulationLimit, Code: http.StatusConflict},
	// The system: retry later, with the same Idempotency-Key.
	{Err: ErrNoInference, Code: http.StatusServiceUnavailable},
	{Err: ErrBusy, Code: http.StatusServiceUnavailable},
	{Err: ErrNoAnswer, Code: http.StatusServiceUnavailable},
	{Err: clearing.ErrBookFull, Code: http.StatusServiceUnavailable},
	{Err: clearing.ErrNotConfigured, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrUnavailable, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrConflict, Code: http.StatusServiceUnavailable},
	{Err: runtime.ErrStopped, Code: http.StatusServiceUnavailable},
	{Err: context.DeadlineExceeded, Code: http.StatusServiceUnavailable},
	{Err: context.Canceled, Code: http.StatusServiceUnavailable}, // the caller left; nobody reads it
}

// newMapper is the system service's mapper of errors to problems.
func newMapper(logger *slog.Logger) problem.Mapper {
	return problem.Mapper{Statuses: statuses, Logger: logger, Name: "system service",
		InternalDetail: "internal error; the call may be retried with the same Idempotency-Key"}
}
