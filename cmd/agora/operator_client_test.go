package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPostRetriesWithTheSameKey: a command the economy answers 503 is
// sent again with the same Idempotency-Key and body, at most
// postAttempts times; a refusal (4xx) is not sent again, and its detail
// and status are the error.
func TestPostRetriesWithTheSameKey(t *testing.T) {
	var mu sync.Mutex
	var keys, bodies []string
	answers := []int{http.StatusServiceUnavailable, http.StatusServiceUnavailable, http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(keys)
		keys, bodies = append(keys, r.Header.Get("Idempotency-Key")), append(bodies, string(b))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("authorization %q", r.Header.Get("Authorization"))
		}
		if n >= len(answers) || answers[n] != http.StatusOK {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"title":"Service Unavailable","detail":"the event log did not answer"}`)
			return
		}
		io.WriteString(w, `{"agent_id":"a"}`)
	}))
	defer srv.Close()
	c := &operatorClient{base: srv.URL, token: "tok", http: srv.Client()}
	var out struct {
		AgentID string `json:"agent_id"`
	}
	if err := c.post(context.Background(), "/admin/agents/a/fund", "k-1", map[string]any{"amount": 5}, &out); err != nil || out.AgentID != "a" {
		t.Fatalf("post: %v, %+v", err, out)
	}
	if len(keys) != 3 || keys[0] != "k-1" || keys[1] != "k-1" || keys[2] != "k-1" || bodies[0] != bodies[2] || bodies[0] != `{"amount":5}` {
		t.Fatalf("sent %d times with keys %q and bodies %q", len(keys), keys, bodies)
	}

	// Always 503: it gives up after postAttempts with the detail.
	keys, answers = nil, nil
	err := c.post(context.Background(), "/admin/agents/a/fund", "k-2", map[string]any{"amount": 5}, &out)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "the event log did not answer (503") || len(keys) != postAttempts {
		t.Fatalf("after %d attempts: %v", len(keys), err)
	}

	// A refusal is final.
	refusals := 0
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refusals++
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"title":"Conflict","detail":"agent is dead: a"}`)
	}))
	defer refuse.Close()
	c = &operatorClient{base: refuse.URL, token: "tok", http: refuse.Client()}
	err = c.post(context.Background(), "/admin/agents/a/kill", "k-3", nil, &out)
	if !errors.As(err, &ee) || err.Error() != "agent is dead: a (409 Conflict)" || refusals != 1 {
		t.Fatalf("a refusal: %v after %d calls", err, refusals)
	}

	// An answer that is not the API's says where it came from.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>bad gateway</html>")
	}))
	defer proxy.Close()
	c = &operatorClient{base: proxy.URL, token: "tok", http: proxy.Client()}
	err = c.post(context.Background(), "/admin/agents/a/kill", "k-4", nil, &out)
	if err == nil || !strings.Contains(err.Error(), proxy.URL+"/admin/agents/a/kill answered 502 Bad Gateway") {
		t.Fatalf("a proxy's answer: %v", err)
	}
}
