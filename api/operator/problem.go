package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// statuses maps the typed rejections of the domain to HTTP statuses. The
// first match wins, so wrapped errors are listed before what they wrap.
// Every one of them means the command was not recorded: a rejected call
// changes nothing. docs/api.md holds the same table.
var statuses = []struct {
	err    error
	status int
}{
	// What the request says.
	{events.ErrInvalidAmount, http.StatusUnprocessableEntity},
	{events.ErrInvalidID, http.StatusUnprocessableEntity},
	{agent.ErrInvalidCommand, http.StatusUnprocessableEntity},
	{ErrInvalidProgram, http.StatusUnprocessableEntity},
	{clearing.ErrUnknownResource, http.StatusUnprocessableEntity},
	{clearing.ErrInvalidBundle, http.StatusUnprocessableEntity},
	{clearing.ErrExceedsSupply, http.StatusUnprocessableEntity},
	{clearing.ErrBelowReserve, http.StatusUnprocessableEntity},
	// Whom it names.
	{agent.ErrUnknownAgent, http.StatusNotFound},
	// The state it meets.
	{agent.ErrAgentExists, http.StatusConflict},
	{agent.ErrInsufficientCredits, http.StatusConflict},
	{agent.ErrAgentDead, http.StatusConflict},
	{agent.ErrTooManyHolds, http.StatusConflict},
	// The system: retry later, with the same Idempotency-Key.
	{clearing.ErrBookFull, http.StatusServiceUnavailable},
	{clearing.ErrNotConfigured, http.StatusServiceUnavailable},
	{runtime.ErrUnavailable, http.StatusServiceUnavailable},
	{runtime.ErrConflict, http.StatusServiceUnavailable},
	{runtime.ErrStopped, http.StatusServiceUnavailable},
	{context.DeadlineExceeded, http.StatusServiceUnavailable},
	{context.Canceled, http.StatusServiceUnavailable}, // the caller left; nobody reads it
}

// retryHint is added to the detail of a 503: the outcome of a command that
// met a failed append is unknown to the caller, and only a retry with the
// same key learns it without applying twice.
const retryHint = "; retry with the same Idempotency-Key"

// problemer turns errors into problem+json answers.
type problemer struct{ logger *slog.Logger }

// problem answers err with its status and its own words as the detail. An
// error the table does not know is a 500 whose cause goes to the log, not
// to the caller.
func (p problemer) problem(err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	for _, s := range statuses {
		if errors.Is(err, s.err) {
			detail := err.Error()
			if s.status == http.StatusServiceUnavailable {
				detail += retryHint
			}
			return huma.NewError(s.status, detail)
		}
	}
	p.logger.Error("operator API: unexpected error", "err", err)
	return huma.Error500InternalServerError("internal error (logged); the call may be retried with the same Idempotency-Key")
}

// detailed is a huma transformer: a problem listing errors gets a detail
// that names each bad field ("body.grant: expected number > 0 (got -5)")
// rather than huma's "validation failed". Echoed values are shortened: a
// file's content would otherwise come back whole.
func detailed(_ huma.Context, _ string, v any) (any, error) {
	m, ok := v.(*huma.ErrorModel)
	if !ok || len(m.Errors) == 0 {
		return v, nil
	}
	c := *m
	c.Errors = nil
	seen := map[string]bool{}
	var parts []string
	for _, e := range m.Errors {
		if e == nil || seen[e.Location] && e.Location != "" {
			continue // one problem per field: the first is the clearest
		}
		seen[e.Location] = true
		part := e.Message
		if e.Location != "" {
			part = e.Location + ": " + part
		}
		switch v := e.Value.(type) {
		case nil, map[string]any, []any:
			// A whole object (a missing property, an unexpected one) says
			// less than the location does.
		case string:
			part += fmt.Sprintf(" (got %q)", shorten(v))
		default:
			part += fmt.Sprintf(" (got %s)", shorten(fmt.Sprint(v)))
		}
		d := *e
		if d.Value != nil {
			d.Value = shortenValue(d.Value)
		}
		c.Errors = append(c.Errors, &d)
		parts = append(parts, part)
	}
	if c.Detail == "" || c.Detail == "validation failed" {
		c.Detail = strings.Join(parts, "; ")
	} else {
		c.Detail += ": " + strings.Join(parts, "; ")
	}
	return &c, nil
}

// shorten cuts s to ValueEchoLengthMax bytes, on a character boundary.
func shorten(s string) string {
	if len(s) <= ValueEchoLengthMax {
		return s
	}
	return strings.ToValidUTF8(s[:ValueEchoLengthMax], "") + "..."
}

// shortenValue is shorten for an echoed value of any type: a long string,
// or a large object as text.
func shortenValue(v any) any {
	switch s := v.(type) {
	case string:
		return shorten(s)
	case []any, map[string]any:
		if t := fmt.Sprint(s); len(t) > ValueEchoLengthMax {
			return shorten(t)
		}
	}
	return v
}

// writeProblem writes a problem+json answer outside huma (unrouted calls).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
}
