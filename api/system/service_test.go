package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/projections/bidbook"
)

// routes is every operation the service offers.
var routes = [][2]string{
	{"get", "/economic/balance"}, {"post", "/economic/transfer"}, {"get", "/economic/history"},
	{"get", "/market/state"}, {"get", "/market/bids"}, {"post", "/market/bid"},
	{"patch", "/market/bid/{id}"}, {"delete", "/market/bid/{id}"},
	{"get", "/social/agents"}, {"post", "/social/spawn"}, {"post", "/intelligence/inference"},
	{"get", "/system/execution"}, {"get", "/system/config"}, {"get", "/system/time"},
	// Messages.
	{"post", "/social/message"}, {"get", "/social/inbox"},
	// Attention.
	{"post", "/attention/prompt"}, {"patch", "/attention/prompt/{id}"}, {"delete", "/attention/prompt/{id}"},
	{"get", "/attention/queue"},
}

// TestOpenAPIListsEveryRoute: /openapi.json is an OpenAPI 3.1 document
// with every route, bearer security, the Idempotency-Key on every command,
// and money documented as numbers.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	a := e.call("GET", "/openapi.json", "", nil)
	if a.Status != http.StatusOK {
		t.Fatalf("status %d", a.Status)
	}
	var doc struct {
		OpenAPI    string                                   `json:"openapi"`
		Paths      map[string]map[string]map[string]any     `json:"paths"`
		Security   []map[string][]string                    `json:"security"`
		Components struct{ SecuritySchemes map[string]any } `json:"components"`
	}
	if err := json.Unmarshal(a.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") || len(doc.Security) != 1 || len(doc.Components.SecuritySchemes) != 1 {
		t.Fatalf("openapi %q, security %v %v", doc.OpenAPI, doc.Security, doc.Components.SecuritySchemes)
	}
	count := 0
	for _, ops := range doc.Paths {
		count += len(ops)
	}
	if count != len(routes) {
		t.Fatalf("%d operations in the document, want %d: %v", count, len(routes), doc.Paths)
	}
	for _, r := range routes {
		op, ok := doc.Paths[r[1]][r[0]]
		if !ok {
			t.Fatalf("%s %s missing from the document", r[0], r[1])
		}
		if r[0] == "get" || r[1] == "/intelligence/inference" {
			continue
		}
		raw, _ := json.Marshal(op["parameters"])
		if !strings.Contains(string(raw), "Idempotency-Key") {
			t.Fatalf("%s %s does not take Idempotency-Key", r[0], r[1])
		}
	}
	var schemas struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(a.Body, &schemas); err != nil {
		t.Fatal(err)
	}
	amount := schemas.Components.Schemas["TransferInputBody"].Properties["amount"]
	if amount["type"] != "number" || amount["exclusiveMinimum"] != 0.0 || amount["maximum"] != 1e12 {
		t.Fatalf("a transfer's amount is documented as %v", amount)
	}
}

// TestServedOnAUnixSocket: the handler is a plain http.Handler; the
// executor serves it on the socket it binds into the sandbox.
func TestServedOnAUnixSocket(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 7)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	sock := strings.TrimPrefix(serveOnSocket(t, e), "unix://")
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://agora/economic/balance", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"balance":7`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

// TestNewRefusesMissingDependencies names each one, typed nils included.
func TestNewRefusesMissingDependencies(t *testing.T) {
	_, err := system.New(system.Deps{Ledger: (*agent.Accounts)(nil), Bids: bidbook.New()}, system.Options{})
	if !errors.Is(err, system.ErrNilDependency) {
		t.Fatalf("got %v", err)
	}
	for _, name := range []string{"Tickets", "Ledger", "Book", "History", "Markets", "Directory", "Freshness", "Inbox"} {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("%q does not name %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "Bids") {
		t.Fatalf("%q names Bids, which was given", err)
	}
}

// TestNewRefusesBadOptions: an upstream that is not http(s), a negative
// timeout.
func TestNewRefusesBadOptions(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	deps := e.deps()
	for _, in := range []system.Inference{{URL: "ftp://x"}, {URL: "localhost:8080"}, {URL: "http://x", Timeout: -time.Second}} {
		if _, err := system.New(deps, system.Options{Inference: in}); !errors.Is(err, system.ErrInvalidOptions) {
			t.Fatalf("%+v: got %v", in, err)
		}
	}
	svc, err := system.New(deps, system.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
}
