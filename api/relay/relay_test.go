package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events/natslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is a logger for what the tests provoke on purpose.
var quiet = slog.New(slog.DiscardHandler)

// startServer runs a real nats-server with JetStream on loopback, with
// opts's users if any, and returns its client URL.
func startServer(t testing.TB, users []*server.User) string {
	t.Helper()
	return startServerWith(t, users, 0)
}

// startServerWith is startServer with a max_payload (0: the server's
// default).
func startServerWith(t testing.TB, users []*server.User, maxPayload int32) string {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, Users: users, MaxPayload: maxPayload}
	if len(users) > 0 {
		opts.NoAuthUser = natslog.ObserverUser
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv.ClientURL()
}

// connect connects to url; the connection closes at the end of the test.
func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// relayed is a handler served on a subject by one connection (the
// economy's) and reached by another (a worker's) through an HTTP test
// server in front of relay.Handler.
type relayed struct {
	url     string // the HTTP server in front of relay.Handler
	subject string
	stop    func()
	client  *http.Client
}

func relayTo(t testing.TB, natsURL string, h http.Handler, serveOpts, callOpts []relay.Option) *relayed {
	t.Helper()
	subject := relay.SubjectDefault
	stop, err := relay.Serve(connect(t, natsURL), subject, h, append([]relay.Option{relay.WithLogger(quiet)}, serveOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return front(t, connect(t, natsURL), subject, stop, callOpts...)
}

// front serves relay.Handler over nc on an HTTP test server.
func front(t testing.TB, nc *nats.Conn, subject string, stop func(), opts ...relay.Option) *relayed {
	t.Helper()
	srv := httptest.NewServer(relay.Handler(nc, subject, append([]relay.Option{relay.WithLogger(quiet)}, opts...)...))
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { client.CloseIdleConnections(); srv.Close() })
	return &relayed{url: srv.URL, subject: subject, stop: stop, client: client}
}

// answer is an HTTP answer read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (r *relayed) do(t *testing.T, req *http.Request) answer {
	t.Helper()
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (r *relayed) call(t *testing.T, method, target string, body io.Reader, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, r.url+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return r.do(t, req)
}

// problemOf checks that a is a problem+json answer with status and a
// detail holding want, and returns the detail.
func problemOf(t *testing.T, a answer, status int, want string) string {
	t.Helper()
	if a.status != status || a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("answer %d %s %s; want a %d problem+json", a.status, a.header.Get("Content-Type"), a.body, status)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(a.body, &p); err != nil || p.Status != status || !strings.Contains(p.Detail, want) {
		t.Fatalf("problem %s (%v); want status %d and a detail with %q", a.body, err, status, want)
	}
	return p.Detail
}

// seen is what the echo handler saw of a call.
type seen struct {
	Method, Target, Host, RemoteAddr, Body string
	Header                                 http.Header
}

// echo answers every call with what it saw, with a status and a header
// of the call's choosing (X-Want-Status), so that both directions are
// checked.
func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		status := http.StatusOK
		if s := r.Header.Get("X-Want-Status"); s != "" {
			fmt.Sscan(s, &status)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Answer", "one")
		w.Header().Add("X-Answer", "two")
		w.Header().Set("Connection", "X-Answer-Hop")
		w.Header().Set("X-Answer-Hop", "must not pass")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(seen{Method: r.Method, Target: r.RequestURI, Host: r.Host, RemoteAddr: r.RemoteAddr,
			Body: string(b), Header: r.Header})
	})
}

// TestRoundTrip relays GET, POST, PATCH and DELETE with a query, the
// headers that matter and a body, and checks what the handler saw and
// what the caller got: the method, the target, the headers (Authorization
// untouched), the body, a status and repeated answer headers; the
// hop-by-hop headers and any header posing as the relay's own are
// dropped both ways, and the handler sees the call as relayed.
func TestRoundTrip(t *testing.T) {
	r := relayTo(t, startServer(t, nil), echo(), nil, nil)
	for _, tc := range []struct {
		method, target, body string
		status               int
	}{
		{http.MethodGet, "/market/bids?resource=cpu_seconds&limit=5&cursor=a%2Fb", "", http.StatusOK},
		{http.MethodPost, "/market/bid?x=1", `{"resources":{"cpu_seconds":1},"amount":12.5}`, http.StatusCreated},
		{http.MethodPatch, "/market/bid/b-1", `{"amount":20}`, http.StatusOK},
		{http.MethodDelete, "/market/bid/b-1?reason=done", "", http.StatusNotFound},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			a := r.call(t, tc.method, tc.target, body,
				"Authorization", "Bearer tok-ABC.def",
				"Content-Type", "application/json",
				"Idempotency-Key", "key-"+tc.method,
				"Accept", "application/json, application/problem+json",
				"X-Want-Status", fmt.Sprint(tc.status),
				"Connection", "X-Hop",
				"X-Hop", "must not pass",
				"Agora-Relay-Method", "PUT")
			if a.status != tc.status {
				t.Fatalf("status %d; want %d: %s", a.status, tc.status, a.body)
			}
			if got := a.header.Values("X-Answer"); strings.Join(got, ",") != "one,two" {
				t.Fatalf("X-Answer %q; want one, two", got)
			}
			if a.header.Get("X-Answer-Hop") != "" {
				t.Fatal("a header the answer's Connection names passed the relay")
			}
			var s seen
			if err := json.Unmarshal(a.body, &s); err != nil {
				t.Fatalf("%v: %s", err, a.body)
			}
			if s.Method != tc.method || s.Target != tc.target || s.Body != tc.body {
				t.Fatalf("the handler saw %s %s %q; want %s %s %q", s.Method, s.Target, s.Body, tc.method, tc.target, tc.body)
			}
			for k, want := range map[string]string{"Authorization": "Bearer tok-ABC.def", "Content-Type": "application/json",
				"Idempotency-Key": "key-" + tc.method, "Accept": "application/json, application/problem+json"} {
				if got := s.Header.Get(k); got != want {
					t.Fatalf("the handler saw %s %q; want %q", k, got, want)
				}
			}
			for _, k := range []string{"X-Hop", "Connection", "Agora-Relay-Method"} {
				if v, ok := s.Header[k]; ok {
					t.Fatalf("the handler saw %s: %q, which must not pass the relay", k, v)
				}
			}
			if s.RemoteAddr != relay.RemoteAddr || s.Host != strings.TrimPrefix(r.url, "http://") {
				t.Fatalf("the handler saw the call from %q to host %q; want %q and the caller's host", s.RemoteAddr, s.Host, relay.RemoteAddr)
			}
		})
	}
}

// TestOversizeBodyIsRefused sends bodies that do not fit in one NATS
// message, with a length and without one (chunked): each is a 413
// problem+json that says why, and the handler is never called. A body
// that fits reaches it.
func TestOversizeBodyIsRefused(t *testing.T) {
	var calls atomic.Int64
	counting := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	url := startServer(t, nil)
	r := relayTo(t, url, counting, nil, nil)
	maxPayload := int(connect(t, url).MaxPayload())

	// Exactly max_payload: the headers push it over.
	for _, size := range []int{maxPayload, maxPayload + 1, 3 * maxPayload} {
		a := r.call(t, http.MethodPost, "/social/spawn", bytes.NewReader(make([]byte, size)), "Content-Type", "application/json")
		problemOf(t, a, http.StatusRequestEntityTooLarge, "max_payload")
		pr, pw := io.Pipe()
		go func() { _, _ = pw.Write(make([]byte, size)); pw.Close() }()
		a = r.call(t, http.MethodPost, "/social/spawn", pr)
		problemOf(t, a, http.StatusRequestEntityTooLarge, "nothing was sent")
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the handler was called %d times for bodies the relay refused", n)
	}
	a := r.call(t, http.MethodPost, "/social/spawn", bytes.NewReader(make([]byte, maxPayload/2)))
	if a.status != http.StatusOK || string(a.body) != fmt.Sprint(maxPayload/2) || calls.Load() != 1 {
		t.Fatalf("a body that fits: %d %s (%d calls)", a.status, a.body, calls.Load())
	}
}

// TestNoEconomyIs503: with nobody serving the subject, a call is a 503
// that names it, at once.
func TestNoEconomyIs503(t *testing.T) {
	url := startServer(t, nil)
	r := front(t, connect(t, url), relay.SubjectDefault, nil)
	a := r.call(t, http.MethodGet, "/system/time", nil, "Authorization", "Bearer x")
	problemOf(t, a, http.StatusServiceUnavailable, "no economy node answers on agora.system")
}

// TestClosedConnectionIs503: a worker whose NATS connection is closed
// says so, and sends nothing.
func TestClosedConnectionIs503(t *testing.T) {
	nc := connect(t, startServer(t, nil))
	r := front(t, nc, relay.SubjectDefault, nil)
	nc.Close()
	problemOf(t, r.call(t, http.MethodPost, "/economic/transfer", strings.NewReader(`{}`)), http.StatusServiceUnavailable, "not connected to NATS")
}

// TestSlowHandlerIs504: a handler that has not answered when the relay's
// timeout passes gives the caller a 504 that says the call may have been
// done; the handler sees its context end with the caller's wait.
func TestSlowHandlerIs504(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan error, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		ended <- r.Context().Err()
		<-release
	})
	r := relayTo(t, startServer(t, nil), slow, nil, []relay.Option{relay.WithTimeout(200 * time.Millisecond)})
	a := r.call(t, http.MethodPost, "/economic/transfer", strings.NewReader(`{}`), "Idempotency-Key", "k")
	problemOf(t, a, http.StatusGatewayTimeout, "retry with the same Idempotency-Key")
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the handler's context ended with %v; want its deadline", err)
	}
	close(release)
}

// TestConcurrentCalls makes 100 calls at once: each gets its own answer.
func TestConcurrentCalls(t *testing.T) {
	r := relayTo(t, startServer(t, nil), echo(), nil, nil)
	const calls = 100
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			body := fmt.Sprintf(`{"n":%d}`, i)
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/call/%d?i=%d", r.url, i, i), strings.NewReader(body))
			req.Header.Set("Idempotency-Key", fmt.Sprint("k", i))
			resp, err := r.client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			var s seen
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
				errs <- err
				return
			}
			if s.Body != body || s.Target != fmt.Sprintf("/call/%d?i=%d", i, i) || s.Header.Get("Idempotency-Key") != fmt.Sprint("k", i) {
				errs <- fmt.Errorf("call %d got the answer to %s %q", i, s.Target, s.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestStopDrains: stop waits for the call in flight, which gets its
// answer; after it, nothing answers on the subject.
func TestStopDrains(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "done")
	})
	r := relayTo(t, startServer(t, nil), h, nil, nil)
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, r.url+"/system/time", nil)
		got <- r.do(t, req)
	}()
	<-entered
	stopped := make(chan struct{})
	go func() { r.stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("stop returned while a call was in flight")
	case a := <-got:
		t.Fatalf("the call was answered (%d %s) before its handler returned", a.status, a.body)
	default:
	}
	close(release)
	if a := <-got; a.status != http.StatusOK || string(a.body) != "done" {
		t.Fatalf("the call in flight at the stop: %d %s", a.status, a.body)
	}
	<-stopped
	a := r.call(t, http.MethodGet, "/system/time", nil)
	problemOf(t, a, http.StatusServiceUnavailable, "no economy node answers")
}

// TestLargeAnswerComesInChunks: an answer several times the server's
// max_payload reaches the caller whole.
func TestLargeAnswerComesInChunks(t *testing.T) {
	url := startServer(t, nil)
	maxPayload := int(connect(t, url).MaxPayload())
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*maxPayload/16+1001)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(big)
	})
	r := relayTo(t, url, h, nil, nil)
	a := r.call(t, http.MethodGet, "/social/inbox?limit=100", nil)
	if a.status != http.StatusOK || !bytes.Equal(a.body, big) || a.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("answer %d of %d bytes (%s); want 200 with the %d bytes", a.status, len(a.body), a.header.Get("Content-Type"), len(big))
	}
}

// TestEveryAnswerSizeComesWhole relays answers of every size around the
// chunks' edges on a server with a small max_payload (2 KiB): each
// arrives whole, in order, with its headers.
func TestEveryAnswerSizeComesWhole(t *testing.T) {
	url := startServerWith(t, nil, 2048)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Header().Set("X-Size", fmt.Sprint(n))
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i % 251)
		}
		_, _ = w.Write(b)
	})
	r := relayTo(t, url, h, nil, nil)
	for n := 0; n < 12_000; n += 97 {
		for _, m := range []int{n, n + 1} {
			a := r.call(t, http.MethodGet, fmt.Sprintf("/x?n=%d", m), nil)
			if a.status != http.StatusOK || len(a.body) != m || a.header.Get("X-Size") != fmt.Sprint(m) {
				t.Fatalf("an answer of %d bytes: %d, %d bytes, X-Size %q", m, a.status, len(a.body), a.header.Get("X-Size"))
			}
			for i, c := range a.body {
				if c != byte(i%251) {
					t.Fatalf("an answer of %d bytes differs at byte %d", m, i)
				}
			}
		}
	}
	problemOf(t, r.call(t, http.MethodPost, "/x", bytes.NewReader(make([]byte, 2048))), http.StatusRequestEntityTooLarge, "2048 bytes")
}

// TestWhatTheRelayCannotRead: a message on the subject that is not a
// relayed call gets a 400 problem and reaches no handler; a handler that
// panics is a 500 and the relay goes on.
func TestWhatTheRelayCannotRead(t *testing.T) {
	var calls atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		fmt.Fprint(w, "ok")
	})
	url := startServer(t, nil)
	r := relayTo(t, url, h, nil, nil)
	nc := connect(t, url)
	m, err := nc.Request(relay.SubjectDefault, []byte(`GET /system/time`), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get("Agora-Relay-Status") != "400" || !strings.Contains(string(m.Data), "nothing was done") || calls.Load() != 0 {
		t.Fatalf("a raw message got %v %s (%d calls)", m.Header, m.Data, calls.Load())
	}
	problemOf(t, r.call(t, http.MethodGet, "/panic", nil), http.StatusInternalServerError, "may have been done")
	if a := r.call(t, http.MethodGet, "/fine", nil); a.status != http.StatusOK || string(a.body) != "ok" {
		t.Fatalf("after a panic: %d %s", a.status, a.body)
	}
}

// TestSubjects: the relay refuses subjects whose readers would not be the
// economy alone, and wildcards; Handler says so to every caller.
func TestSubjects(t *testing.T) {
	for _, s := range []string{"", "events.system", "events", "_INBOX.x", "_AGORA_INBOX.a", "$SYS.x", "agora.*", "agora.>", "a..b", "a b"} {
		if err := relay.CheckSubject(s); !errors.Is(err, relay.ErrSubject) {
			t.Errorf("CheckSubject(%q) = %v; want ErrSubject", s, err)
		}
	}
	for _, s := range []string{relay.SubjectDefault, "agora.system.eu-1", "x"} {
		if err := relay.CheckSubject(s); err != nil {
			t.Errorf("CheckSubject(%q) = %v", s, err)
		}
	}
	url := startServer(t, nil)
	if _, err := relay.Serve(connect(t, url), "events.x", echo()); !errors.Is(err, relay.ErrSubject) {
		t.Fatalf("Serve on events.x: %v", err)
	}
	if _, err := relay.Serve(nil, relay.SubjectDefault, echo()); !errors.Is(err, relay.ErrNilDependency) {
		t.Fatalf("Serve without a connection: %v", err)
	}
	r := front(t, connect(t, url), "agora.>", nil)
	problemOf(t, r.call(t, http.MethodGet, "/system/time", nil), http.StatusInternalServerError, "wildcard")
	r = front(t, connect(t, url), relay.SubjectDefault, nil, relay.WithInboxPrefix("_X.*"))
	problemOf(t, r.call(t, http.MethodGet, "/system/time", nil), http.StatusInternalServerError, "inbox prefix")
}

// TestTheBoundsHoldTogether: the relay waits at least as long as the
// System Service may take for a call.
func TestTheBoundsHoldTogether(t *testing.T) {
	if relay.TimeoutDefault < system.CallTimeoutDefault || relay.TimeoutDefault <= system.InferenceTimeoutDefault {
		t.Fatalf("relay.TimeoutDefault %s is shorter than what the System Service may take (%s)", relay.TimeoutDefault, system.CallTimeoutDefault)
	}
}

// TestThePermissionsDocumented runs the relay on a server whose users
// have the permissions docs/operations.md gives: the economy's (Agora's
// own, which serve the subject and answer on the relay's inboxes, in
// chunks), workers' (publish the subject, receive on the relay's inboxes,
// or on their own part of them) and an observer's. A call relayed by a
// worker is answered, large answers too; the observer may neither serve
// the subject (ErrNotPermitted) nor call it, and a worker may not serve
// it either.
func TestThePermissionsDocumented(t *testing.T) {
	access := natslog.Access{Serve: []string{relay.SubjectDefault}, Answer: []string{relay.InboxPrefix + ".>"}}
	worker := &server.User{Username: "worker", Password: "worker-password", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{relay.SubjectDefault}},
		Subscribe: &server.SubjectPermission{Allow: []string{relay.InboxPrefix + ".>"}},
	}}
	// A worker that reads only its own answers.
	own := &server.User{Username: "w2", Password: "w2-password", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{relay.SubjectDefault}},
		Subscribe: &server.SubjectPermission{Allow: []string{relay.InboxPrefix + ".w2.>"}},
	}}
	url := startServer(t, append(natslog.Users("agora-password", access), worker, own))
	economy := connect(t, url, nats.UserInfo(natslog.AgoraUser, "agora-password"), nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	maxPayload := int(economy.MaxPayload())
	big := bytes.Repeat([]byte("x"), 2*maxPayload+17)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write(big)
			return
		}
		echo().ServeHTTP(w, r)
	})
	stop, err := relay.Serve(economy, relay.SubjectDefault, h, relay.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	w := front(t, connect(t, url, nats.UserInfo("worker", "worker-password")), relay.SubjectDefault, stop)
	w2 := front(t, connect(t, url, nats.UserInfo("w2", "w2-password")), relay.SubjectDefault, stop, relay.WithInboxPrefix(relay.InboxPrefix+".w2"))
	for _, w := range []*relayed{w, w2} {
		if a := w.call(t, http.MethodGet, "/system/time", nil, "Authorization", "Bearer t"); a.status != http.StatusOK {
			t.Fatalf("a worker's call: %d %s", a.status, a.body)
		}
		if a := w.call(t, http.MethodGet, "/big", nil); a.status != http.StatusOK || !bytes.Equal(a.body, big) {
			t.Fatalf("a worker's call with a large answer: %d, %d bytes of %d", a.status, len(a.body), len(big))
		}
	}

	observer := connect(t, url)
	if _, err := relay.Serve(observer, relay.SubjectDefault, echo()); !errors.Is(err, relay.ErrNotPermitted) {
		t.Fatalf("an observer serving the subject: %v; want ErrNotPermitted", err)
	}
	if _, err := relay.Serve(connect(t, url, nats.UserInfo("worker", "worker-password")),
		relay.SubjectDefault, echo()); !errors.Is(err, relay.ErrNotPermitted) {
		t.Fatalf("a worker serving the subject: %v; want ErrNotPermitted", err)
	}
	o := front(t, connect(t, url), relay.SubjectDefault, nil, relay.WithTimeout(time.Second))
	if a := o.call(t, http.MethodGet, "/system/time", nil); a.status == http.StatusOK {
		t.Fatalf("an observer's call was answered: %s", a.body)
	}
}
