package terminal

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
)

const testToken = "operator-token-for-the-terminal-tests"

// serve serves h on ln until the test ends.
func serve(t *testing.T, ln net.Listener, h http.HandlerFunc) *http.Server {
	t.Helper()
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// TestClientTellsTheAnswersApart: a 404 is ErrNotFound, a 503 or no
// answer ErrNotAnswering, any other refusal a *Problem with its detail;
// every call carries the operator token, and a rating its body and an
// Idempotency-Key that the same rating repeats.
func TestClientTellsTheAnswersApart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var bodies []string
	serve(t, ln, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/attention/active":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"status":404,"title":"Not Found","detail":"no route"}`)
		case "/admin/status":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/attention/prompt/p-1/response":
			b, _ := io.ReadAll(r.Body)
			keys, bodies = append(keys, r.Header.Get("Idempotency-Key")), append(bodies, string(b))
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"status":409,"title":"Conflict","detail":"prompt p-1 is answered already"}`)
		}
	})
	c, err := NewClient("http://"+ln.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Active(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a 404: %v", err)
	}
	if _, err := c.Status(ctx); !errors.Is(err, ErrNotAnswering) {
		t.Fatalf("a 503: %v", err)
	}
	r := Rating{Interesting: 1, Useful: 2, Understandable: 10, Reason: "why"}
	_, err = c.Respond(ctx, "p-1", r)
	p, ok := problemOf(err)
	if !ok || p.Status != http.StatusConflict || p.Detail != "prompt p-1 is answered already" {
		t.Fatalf("a 409: %v", err)
	}
	_, _ = c.Respond(ctx, "p-1", r)
	_, _ = c.Respond(ctx, "p-1", Rating{Interesting: 2, Useful: 2, Understandable: 10})
	if want := `{"interesting":1,"useful":2,"understandable":10,"reason":"why"}`; bodies[0] != want {
		t.Fatalf("the rating's body %s, want %s", bodies[0], want)
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] == keys[2] {
		t.Fatalf("keys %q: the same rating must repeat its key, another must not", keys)
	}
	if _, err := NewClient("ftp://x", testToken); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("an ftp URL: %v", err)
	}
	if _, err := NewClient("http://127.0.0.1:1", ""); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("no token: %v", err)
	}
}

// TestSnapshotAcrossARestart: an economy that stops answering is
// ErrNotAnswering, and the same client reads it again once it is back on
// its address; an economy without the attention routes is a snapshot
// without the attention slot, not an error.
func TestSnapshotAcrossARestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	economy := func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/admin/status":
			_, _ = io.WriteString(w, `{"last_seq": 42, "agents": 1, "agents_alive": 1, "minted_micros": 1000000000}`)
		case "/admin/agents":
			_, _ = io.WriteString(w, `{"agents": [{"agent_id": "genesis", "status": "alive", "balance": 1000}], "total": 1, "alive": 1}`)
		case "/admin/history":
			_, _ = io.WriteString(w, `{"transactions": [{"agent_id": "genesis", "seq": 3, "kind": "grant", "amount": 1000}]}`)
		default:
			http.NotFound(w, r)
		}
	}
	srv := serve(t, ln, economy)
	c, err := NewClient("http://"+addr, testToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := c.Snapshot(ctx)
	if s.Err != nil || s.Status.LastSeq != 42 || s.Agents.Alive != 1 || len(s.Activity) != 1 || s.Attention {
		t.Fatalf("snapshot of a running economy without attention: %+v", s)
	}
	_ = srv.Close()
	if s = c.Snapshot(ctx); !errors.Is(s.Err, ErrNotAnswering) {
		t.Fatalf("snapshot of a stopped economy: %+v", s)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the address was taken meanwhile: %v", err)
	}
	serve(t, ln, economy)
	if s = c.Snapshot(ctx); s.Err != nil || s.Status.LastSeq != 42 {
		t.Fatalf("snapshot after the restart: %+v", s)
	}
}

// TestSnapshotFollowsAMove: an economy that comes back on another address
// is found there through Locate, in the same snapshot; an address Locate
// gives that is no URL is ignored.
func TestSnapshotFollowsAMove(t *testing.T) {
	status := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin/status" {
			_, _ = io.WriteString(w, `{"last_seq": 9}`)
			return
		}
		if r.URL.Path == "/admin/agents" || r.URL.Path == "/admin/history" {
			_, _ = io.WriteString(w, `{}`)
			return
		}
		http.NotFound(w, r)
	}
	old, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, old, status)
	c, err := NewClient("http://"+old.Addr().String(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	where := "not a URL"
	c.Locate(func() string { return where })
	ctx := context.Background()
	_ = srv.Close()
	if s := c.Snapshot(ctx); !errors.Is(s.Err, ErrNotAnswering) {
		t.Fatalf("a stopped economy, located nowhere useful: %+v", s)
	}
	moved, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, moved, status)
	where = "http://" + moved.Addr().String() + "/"
	s := c.Snapshot(ctx)
	if s.Err != nil || s.Status.LastSeq != 9 || s.From != "http://"+moved.Addr().String() {
		t.Fatalf("the economy moved to %s: %+v", where, s)
	}
}
