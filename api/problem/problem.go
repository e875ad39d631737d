// Package problem is what the HTTP APIs (api/system, api/operator) share to
// answer errors as RFC 9457 problem+json: typed domain rejections mapped to
// statuses, validation problems that name each bad field, and problems for
// routes no operation serves. Each API keeps its own table of statuses.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// ValueEchoLengthMax bounds the rejected value a problem echoes back.
const ValueEchoLengthMax = 256

// retryHint is added to the detail of a 503: the outcome of a command that
// met a failed append is unknown to the caller, and only a retry with the
// same key learns it without applying twice.
const retryHint = "; retry with the same Idempotency-Key"

// Status maps a typed error (and what wraps it) to an HTTP status.
type Status struct {
	Err  error
	Code int
}

// Mapper turns errors into problem+json answers.
type Mapper struct {
	// Statuses is searched in order: list wrapping errors before what they
	// wrap.
	Statuses []Status
	// Logger receives the errors no status is known for; their cause is
	// logged, not shown.
	Logger *slog.Logger
	// Name names the API in the log.
	Name string
	// InternalDetail is the detail of a 500.
	InternalDetail string
}

// Problem answers err with its status and its own words as the detail. An
// error the table does not know is a 500 whose cause goes to the log, not
// to the caller. An error that already has a status is returned as it is.
func (m Mapper) Problem(err error) error {
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	for _, s := range m.Statuses {
		if errors.Is(err, s.Err) {
			detail := err.Error()
			if s.Code == http.StatusServiceUnavailable {
				detail += retryHint
			}
			return huma.NewError(s.Code, detail)
		}
	}
	m.Logger.Error(m.Name+": unexpected error", "err", err)
	return huma.Error500InternalServerError(m.InternalDetail)
}

// Detailed is a huma transformer: a problem listing errors gets a detail
// that names each bad field ("body.amount: expected number > 0 (got -5)")
// rather than huma's "validation failed". Echoed values are shortened: a
// body that is not JSON would otherwise come back whole.
func Detailed(_ huma.Context, _ string, v any) (any, error) {
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
			part += fmt.Sprintf(" (got %q)", Shorten(v))
		default:
			part += fmt.Sprintf(" (got %s)", Shorten(fmt.Sprint(v)))
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

// Shorten cuts s to ValueEchoLengthMax bytes, on a character boundary.
func Shorten(s string) string {
	if len(s) <= ValueEchoLengthMax {
		return s
	}
	return strings.ToValidUTF8(s[:ValueEchoLengthMax], "") + "..."
}

// shortenValue is Shorten for an echoed value of any type: a long string,
// or a large object as text.
func shortenValue(v any) any {
	switch s := v.(type) {
	case string:
		return Shorten(s)
	case []any, map[string]any:
		if t := fmt.Sprint(s); len(t) > ValueEchoLengthMax {
			return Shorten(t)
		}
	}
	return v
}

// Write writes a problem+json answer outside huma.
func Write(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{Title: http.StatusText(status), Status: status, Detail: detail})
}

// Unrouted answers a path or method no operation of mux serves with a
// problem+json too, rather than the mux's plain text; openapi is the path
// of the API's document, named in the detail. A path that is not clean
// ("/market/bid/.", "/economic//balance") is no route either: the mux
// would redirect it to its clean form, which is no answer an API caller
// expects (and a redirect the caller follows may reach another route).
func Unrouted(mux *http.ServeMux, openapi string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if clean := cleanPath(r.URL.Path); clean != r.URL.Path {
			Write(w, http.StatusNotFound, fmt.Sprintf("no route %s %s: the path is not clean (%s); see %s",
				r.Method, r.URL.Path, clean, openapi))
			return
		}
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		detail := fmt.Sprintf("no route %s %s; see %s", r.Method, r.URL.Path, openapi)
		if rec.status < 400 {
			rec.status = http.StatusNotFound // a redirect (see above) is no route
		}
		if rec.status == http.StatusMethodNotAllowed {
			detail = fmt.Sprintf("%s %s is not allowed; allowed: %s", r.Method, r.URL.Path, rec.header.Get("Allow"))
		}
		Write(w, rec.status, detail)
	})
}

// cleanPath is p as http.ServeMux cleans it before it matches: no "." or
// ".." element, no doubled slash, the trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// statusRecorder keeps what the mux's own answer to an unrouted call would
// be (404, or 405 with Allow), and drops its plain-text body.
type statusRecorder struct {
	header http.Header
	status int
}

func (r *statusRecorder) Header() http.Header         { return r.header }
func (r *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *statusRecorder) WriteHeader(status int)      { r.status = status }
