package economy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// TestTheSystemServiceOverNATS runs a whole economy as `agora run` does,
// on an external nats-server whose users have the permissions
// docs/operations.md gives (Agora's own, a worker's, observers), serves
// its System Service over NATS (ServeRelay) and calls it from the
// worker's connection through relay.Handler, beside the same calls on
// the socket the sandboxes reach. Each pair of answers is the same, byte
// for byte: a bad token's 401, a missing token's, a balance, the markets,
// a bad field's problem, an unknown route, the OpenAPI document, and a
// transfer made on the socket and retried over NATS with the same
// Idempotency-Key (applied once). After Stop, nothing answers on the
// subject.
func TestTheSystemServiceOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an economy")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const password = "relay-test-agora-password"
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	cfg.Economy.Genesis, cfg.Allocation.ScheduleSeconds, cfg.Server.Listen = false, 86400, "127.0.0.1:0"
	worker := &server.User{Username: "worker", Password: "worker-password", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{relay.SubjectDefault}},
		Subscribe: &server.SubjectPermission{Allow: []string{relay.InboxPrefix + ".>"}},
	}}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, NoAuthUser: natslog.ObserverUser,
		Users: append(natslog.Users(password, NatsAccess(cfg)), worker)})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	cfg.Nats.URL, cfg.Nats.User, cfg.Nats.Password = srv.ClientURL(), natslog.AgoraUser, password

	n, err := OpenNode(ctx, cfg, NodeOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	e, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			e.Stop()
		}
	})
	e.Start()
	if _, err := e.ServeRelay(n.Conn(), ""); !errors.Is(err, ErrNotServing) {
		t.Fatalf("ServeRelay before Serve: %v; want ErrNotServing", err)
	}
	serving, err := e.Serve(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "sandbox") {
			t.Skipf("no sandbox on this machine: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := e.ServeRelay(n.Conn(), ""); err != nil {
		t.Fatal(err)
	}

	// Two agents, made by the operator; one has an execution's token.
	opToken, err := os.ReadFile(serving.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"caller", "payee"} {
		body, _ := json.Marshal(map[string]any{"agent_id": id, "files": map[string]string{"main.py": "print(1)"},
			"command": []string{"python3", "main.py"}, "grant": 50})
		operatorCall(t, ctx, "POST", "http://"+serving.Addr.String()+"/admin/agents", strings.TrimSpace(string(opToken)), body, &map[string]any{})
	}
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	token, err := e.executions.tickets.Issue("caller", "x-caller-"+events.NewID(), map[string]events.Units{
		"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}

	// The socket, as a sandbox reaches it; the relay, as a worker serves it.
	sock := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", e.executions.socket)
	}}}
	wc, err := nats.Connect(srv.ClientURL(), nats.UserInfo("worker", "worker-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wc.Close)
	front := httptest.NewServer(relay.Handler(wc, relay.SubjectDefault))
	viaNATS := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { sock.CloseIdleConnections(); viaNATS.CloseIdleConnections(); front.Close() })

	call := func(client *http.Client, base, method, path, token, body string, headers ...string) (int, http.Header, []byte) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "agora" // the same on both ways, as a program would send it
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, b
	}
	same := func(name string, status int, method, path, token, body string, headers ...string) {
		t.Helper()
		ds, dh, db := call(sock, "http://agora", method, path, token, body, headers...)
		rs, rh, rb := call(viaNATS, front.URL, method, path, token, body, headers...)
		if ds != status {
			t.Fatalf("%s on the socket: %d %s; want %d", name, ds, db, status)
		}
		if rs != ds || !bytes.Equal(rb, db) {
			t.Fatalf("%s: over NATS %d %s\non the socket %d %s", name, rs, rb, ds, db)
		}
		for _, k := range []string{"Content-Type", "Www-Authenticate", "Allow", "Link"} {
			if rh.Get(k) != dh.Get(k) {
				t.Fatalf("%s: %s over NATS %q, on the socket %q", name, k, rh.Get(k), dh.Get(k))
			}
		}
	}
	same("a bad token", http.StatusUnauthorized, "GET", "/system/time", "not-a-token", "")
	same("no token", http.StatusUnauthorized, "GET", "/economic/balance", "", "")
	same("the balance", http.StatusOK, "GET", "/economic/balance", token, "")
	same("the markets", http.StatusOK, "GET", "/market/state", token, "")
	same("a bad field", http.StatusUnprocessableEntity, "POST", "/market/bid", token, `{"resources":{"cpu_seconds":1,"memory_mb":64},"amount":-5}`)
	same("an unknown route", http.StatusNotFound, "GET", "/no/such/route", token, "")
	same("an empty Idempotency-Key", http.StatusBadRequest, "POST", "/economic/transfer", token, `{"to_agent_id":"payee","amount":1}`, "Idempotency-Key", "")
	same("a method not allowed", http.StatusMethodNotAllowed, "DELETE", "/economic/balance", token, "")
	same("the OpenAPI document", http.StatusOK, "GET", "/openapi.json", "", "")

	// A transfer on the socket, retried over NATS with its key: the same
	// answer, applied once.
	transfer := `{"to_agent_id":"payee","amount":7.25,"memo":"over NATS"}`
	same("a transfer and its retry", http.StatusOK, "POST", "/economic/transfer", token, transfer, "Idempotency-Key", "relay-transfer-1")
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	acct, err := e.accounts.Get(ctx, "caller")
	if err != nil {
		t.Fatal(err)
	}
	if want := events.Credits(50) - events.Credits(7) - 250_000; acct.BalanceMicros != want {
		t.Fatalf("the caller's balance is %v; want %v (one transfer)", events.CreditsJSON(acct.BalanceMicros), events.CreditsJSON(want))
	}
	// The time, which differs between two calls, over NATS alone.
	if s, _, b := call(viaNATS, front.URL, "GET", "/system/time", token, ""); s != http.StatusOK || !strings.Contains(string(b), `"time"`) {
		t.Fatalf("GET /system/time over NATS: %d %s", s, b)
	}

	e.Stop()
	stopped = true
	s, _, b := call(viaNATS, front.URL, "GET", "/system/time", token, "")
	if s != http.StatusServiceUnavailable || !strings.Contains(string(b), fmt.Sprintf("no economy node answers on %s", relay.SubjectDefault)) {
		t.Fatalf("after Stop: %d %s; want 503", s, b)
	}
}
