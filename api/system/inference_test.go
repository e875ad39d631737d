package system_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/system"
)

// upstream is a local OpenAI-compatible server: it records what it is
// sent and answers with usage.total_tokens = tokens.
type upstream struct {
	mu       sync.Mutex
	requests []map[string]any
	auth     []string
	tokens   int64
	status   int    // 0: 200
	answer   string // raw answer instead of a completion
	delay    time.Duration
	// gate, when set, holds every request until it is closed (or the
	// request's context ends); each held request is announced on arrived.
	gate    chan struct{}
	arrived chan struct{}
	server  *httptest.Server
}

func startUpstream(t testing.TB) *upstream {
	u := &upstream{tokens: 40}
	u.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"no such route"}}`, http.StatusNotFound)
			return
		}
		var req map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil {
			http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
			return
		}
		u.mu.Lock()
		u.requests = append(u.requests, req)
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		status, answer, tokens, delay, gate := u.status, u.answer, u.tokens, u.delay, u.gate
		u.mu.Unlock()
		if gate != nil {
			u.arrived <- struct{}{}
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if status != 0 {
			w.WriteHeader(status)
		}
		if answer == "" {
			answer = fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","model":%q,"choices":[{"index":0,`+
				`"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],`+
				`"usage":{"prompt_tokens":10,"completion_tokens":%d,"total_tokens":%d}}`, req["model"], tokens-10, tokens)
		}
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(u.server.Close)
	return u
}

func (u *upstream) set(f func(u *upstream)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

// reset restores the default answer; u.mu is held.
func (u *upstream) reset() { u.tokens, u.status, u.answer, u.delay = 40, 0, "", 0 }

func (u *upstream) last(t *testing.T) (map[string]any, string, int) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		t.Fatal("the upstream was not called")
	}
	return u.requests[len(u.requests)-1], u.auth[len(u.auth)-1], len(u.requests)
}

func (u *upstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func chat(extra ...any) map[string]any {
	m := map[string]any{"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func inferenceOptions(t testing.TB, u *upstream) harnessOptions {
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	return harnessOptions{inference: system.Inference{URL: u.server.URL + "/v1", APIKey: "sk-test", Model: "test-model",
		Timeout: 2 * time.Second, Client: client}}
}

// TestInferenceIsMetered: answers are forwarded with the completion capped
// to the remaining tokens, their usage is metered, and once the quota is
// spent the call is a 429 that never reaches the upstream.
func TestInferenceIsMetered(t *testing.T) {
	u := startUpstream(t)
	e := startEconomy(t, inferenceOptions(t, u))
	e.create("alice", 10)
	alice := e.issue("alice", 100, time.Now().Add(time.Minute))
	seq := e.lastSeq()

	a := e.call("POST", "/intelligence/inference", alice, chat())
	out := e.ok(a)
	if out["object"] != "chat.completion" || a.Header.Get("X-Agora-Tokens-Remaining") != "60" {
		t.Fatalf("answer %v, remaining %q", out, a.Header.Get("X-Agora-Tokens-Remaining"))
	}
	req, auth, _ := u.last(t)
	if req["model"] != "test-model" || jsonText(req["max_tokens"]) != "100" || auth != "Bearer sk-test" {
		t.Fatalf("forwarded %v with %q", req, auth)
	}
	x := e.ok(e.call("GET", "/system/execution", alice, nil))
	wantJSON(t, x["used"].(map[string]any), map[string]string{"tokens": "40"})
	wantJSON(t, x["remaining"].(map[string]any), map[string]string{"tokens": "60"})

	// The caller's own model and fields are forwarded; its max_tokens is
	// capped to what remains.
	e.ok(e.call("POST", "/intelligence/inference", alice, chat("model", "other", "max_tokens", 500, "temperature", 0.5)))
	req, _, _ = u.last(t)
	if req["model"] != "other" || jsonText(req["max_tokens"]) != "60" || jsonText(req["temperature"]) != "0.5" {
		t.Fatalf("forwarded %v", req)
	}
	// max_completion_tokens is capped the same way.
	a = e.call("POST", "/intelligence/inference", alice, chat("max_completion_tokens", 30))
	e.ok(a)
	req, _, _ = u.last(t)
	if jsonText(req["max_completion_tokens"]) != "20" || req["max_tokens"] != nil {
		t.Fatalf("forwarded %v", req)
	}
	// That call used 40 of the 20 left: the quota is spent, no more.
	if got := a.Header.Get("X-Agora-Tokens-Remaining"); got != "0" {
		t.Fatalf("remaining %q after the quota was crossed", got)
	}
	tk, err := e.tickets.Lookup(alice, time.Now())
	if err != nil || tk.TokensUsed != 100 {
		t.Fatalf("used %d (%v), want exactly the quota", tk.TokensUsed, err)
	}

	calls := u.calls()
	e.problem(e.call("POST", "/intelligence/inference", alice, chat()), http.StatusTooManyRequests, "token quota exhausted", "100 of 100")
	if u.calls() != calls {
		t.Fatal("a call past the quota reached the upstream")
	}
	// Inference writes nothing to the log.
	if e.lastSeq() != seq {
		t.Fatal("inference wrote to the log")
	}
}

// TestInferenceWithoutTokens: a bundle without tokens buys no inference.
func TestInferenceWithoutTokens(t *testing.T) {
	u := startUpstream(t)
	e := startEconomy(t, inferenceOptions(t, u))
	e.create("alice", 10)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	e.problem(e.call("POST", "/intelligence/inference", alice, chat()), http.StatusTooManyRequests, "0 of 0")
	if u.calls() != 0 {
		t.Fatal("the upstream was called")
	}
}

// TestInferenceUpstreamFailures: what goes wrong upstream is a clear
// problem, never a 401 or 429 (those speak of the agent's own token and
// quota), and costs the agent no tokens.
func TestInferenceUpstreamFailures(t *testing.T) {
	u := startUpstream(t)
	o := inferenceOptions(t, u)
	o.inference.Timeout = 200 * time.Millisecond
	e := startEconomy(t, o)
	e.create("alice", 10)
	alice := e.issue("alice", 1000, time.Now().Add(time.Minute))
	cases := []struct {
		name   string
		set    func(u *upstream)
		status int
		words  []string
	}{
		{"unknown model", func(u *upstream) { u.status, u.answer = 404, `{"error":{"message":"model nope does not exist"}}` }, 422, []string{"refused", "model nope does not exist"}},
		{"upstream key refused", func(u *upstream) { u.status, u.answer = 401, `{"error":{"message":"bad key"}}` }, 502, []string{"401", "bad key"}},
		{"upstream rate limit", func(u *upstream) { u.status, u.answer = 429, `{"error":{"message":"slow down"}}` }, 503, []string{"rate-limiting"}},
		{"upstream crash", func(u *upstream) { u.status, u.answer = 500, "oops" }, 502, []string{"500", "oops"}},
		{"not JSON", func(u *upstream) { u.status, u.answer = 200, "<html>" }, 502, []string{"not JSON"}},
		{"too slow", func(u *upstream) { u.status, u.answer, u.delay = 0, "", time.Second }, 504, []string{"did not answer within 200ms"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			u.set(func(u *upstream) { u.reset(); c.set(u) })
			e.problem(e.call("POST", "/intelligence/inference", alice, chat()), c.status, c.words...)
			if tk, _ := e.tickets.Lookup(alice, time.Now()); tk.TokensUsed != 0 {
				t.Fatalf("a failed call metered %d tokens", tk.TokensUsed)
			}
		})
	}
	// An answer without usage is metered at its cap.
	u.set(func(u *upstream) { u.reset(); u.answer = `{"object":"chat.completion","choices":[]}` })
	e.ok(e.call("POST", "/intelligence/inference", alice, chat("max_tokens", 300)))
	if tk, _ := e.tickets.Lookup(alice, time.Now()); tk.TokensUsed != 300 {
		t.Fatalf("an answer without usage metered %d, want its cap 300", tk.TokensUsed)
	}
}

// TestInferenceBadRequests are refused before the upstream is called.
func TestInferenceBadRequests(t *testing.T) {
	u := startUpstream(t)
	e := startEconomy(t, inferenceOptions(t, u))
	e.create("alice", 10)
	alice := e.issue("alice", 1000, time.Now().Add(time.Minute))
	e.problem(e.call("POST", "/intelligence/inference", alice, chat("stream", true)), 422, "body.stream", "not supported")
	e.problem(e.call("POST", "/intelligence/inference", alice, map[string]any{"messages": []any{}}), 422, "body.messages")
	e.problem(e.call("POST", "/intelligence/inference", alice, map[string]any{"model": "x"}), 422, "messages")
	e.problem(e.call("POST", "/intelligence/inference", alice, chat("max_tokens", 0)), 422, "body.max_tokens")
	e.problem(e.call("POST", "/intelligence/inference", alice, chat("max_tokens", "ten")), 422, "body.max_tokens")
	e.problem(e.call("POST", "/intelligence/inference", alice, `{"messages":`), 400, "body")
	big := `{"messages":[{"role":"user","content":"` + repeat("a", system.InferenceBodyBytesMax) + `"}]}`
	e.problem(e.call("POST", "/intelligence/inference", alice, big), 413, "too large")
	if u.calls() != 0 {
		t.Fatalf("the upstream was called %d times", u.calls())
	}
}

// TestInferenceWithoutUpstream: 503 with a clear detail.
func TestInferenceWithoutUpstream(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 10)
	alice := e.issue("alice", 1000, time.Now().Add(time.Minute))
	e.problem(e.call("POST", "/intelligence/inference", alice, chat()), http.StatusServiceUnavailable, "no inference upstream is configured")
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for range n {
		b = append(b, s...)
	}
	return string(b)
}
