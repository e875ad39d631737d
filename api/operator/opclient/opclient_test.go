package opclient

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
)

// TestDoTellsTheAnswersApart: against a real server, a 200 is decoded, a
// 404 is ErrNotFound, a 503 ErrNotAnswering, a 409 a *Problem with the
// server's status, title and detail, and a refused connection
// ErrNotAnswering that still says it was refused; every call carries the
// token, and a command its body and Idempotency-Key.
func TestDoTellsTheAnswersApart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, `{"agent_id":"a"}`)
		case "/missing":
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"status":404,"title":"Not Found","detail":"no such agent: b"}`)
		case "/busy":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/command":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPost || r.Header.Get("Idempotency-Key") != "k-1" || string(b) != `{"amount":5}` ||
				r.Header.Get("Content-Type") != "application/json" {
				http.Error(w, "bad command", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"status":409,"title":"Conflict","detail":"agent is dead: a"}`)
		}
	}))
	defer srv.Close()

	// A port that was listened on and is closed again refuses.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	type out struct {
		AgentID string `json:"agent_id"`
	}
	for _, tc := range []struct {
		name, base, method, path, key string
		in                            any
		check                         func(error, out) bool
	}{
		{"200 decodes", srv.URL, http.MethodGet, "/ok", "", nil, func(err error, o out) bool {
			return err == nil && o.AgentID == "a"
		}},
		{"404 is ErrNotFound", srv.URL, http.MethodGet, "/missing", "", nil, func(err error, _ out) bool {
			var p *Problem
			return errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotAnswering) && !errors.As(err, &p) &&
				err.Error() == "not found: GET /missing: 404 Not Found: no such agent: b"
		}},
		{"503 is ErrNotAnswering", srv.URL, http.MethodGet, "/busy", "", nil, func(err error, _ out) bool {
			return errors.Is(err, ErrNotAnswering) && err.Error() == "economy not answering: 503 Service Unavailable"
		}},
		{"409 is a Problem", srv.URL, http.MethodPost, "/command", "k-1", map[string]int{"amount": 5}, func(err error, _ out) bool {
			var p *Problem
			return errors.As(err, &p) && p.Status == http.StatusConflict && p.Title == "Conflict" &&
				p.Detail == "agent is dead: a" && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrNotAnswering)
		}},
		{"refused is ErrNotAnswering", refused, http.MethodGet, "/ok", "", nil, func(err error, _ out) bool {
			return errors.Is(err, ErrNotAnswering) && errors.Is(err, syscall.ECONNREFUSED)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.base, "tok")
			if err != nil {
				t.Fatal(err)
			}
			var o out
			err = c.Do(context.Background(), tc.method, tc.path, tc.key, tc.in, &o)
			if !tc.check(err, o) {
				t.Fatalf("%s %s: %v, %+v", tc.method, tc.path, err, o)
			}
		})
	}
}

// TestNewRefusesWhatIsNotAnHTTPURL: an address without http(s) or a host
// is ErrBadURL, and a trailing slash is dropped.
func TestNewRefusesWhatIsNotAnHTTPURL(t *testing.T) {
	for _, base := range []string{"ftp://x", "127.0.0.1:8080", "http://", ""} {
		if _, err := New(base, "tok"); !errors.Is(err, ErrBadURL) {
			t.Errorf("New(%q): %v", base, err)
		}
	}
	if c, err := New("http://127.0.0.1:8080/", "tok"); err != nil || c.Base != "http://127.0.0.1:8080" {
		t.Fatalf("New with a trailing slash: %v, %+v", err, c)
	}
}
