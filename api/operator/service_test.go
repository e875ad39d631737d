package operator_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/program"
	"github.com/agora-econ/agora/projections/directory"
)

// routes is every operation the API offers.
var routes = [][2]string{
	{"get", "/admin/agents"}, {"get", "/admin/agents/{id}"}, {"post", "/admin/agents"}, {"get", "/admin/status"}, {"get", "/metrics"},
	{"post", "/admin/agents/{id}/fund"}, {"post", "/admin/agents/{id}/bids"}, {"post", "/admin/agents/{id}/kill"},
	{"get", "/admin/skipped"}, {"post", "/admin/skipped/{seq}/acknowledge"},
	{"get", "/attention/active"}, {"post", "/attention/prompt/{id}/response"}, {"post", "/attention/prompt/{id}/skip"},
	{"get", "/attention/responses"}, {"get", "/admin/attention/queue"},
	{"get", "/admin/history"},
	{"get", "/admin/markets"}, {"get", "/admin/bids"}, {"get", "/admin/config"},
	{"get", "/admin/history/markets"}, {"get", "/admin/history/economy"}, {"get", "/admin/agents/{id}/history"},
}

// TestOpenAPIListsEveryRoute: /admin/openapi.json is an OpenAPI 3.1
// document with every route, bearer security, the Idempotency-Key on the
// command, and money documented as numbers.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := startEconomy(t)
	a := e.call("GET", "/admin/openapi.json", "", nil)
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
		if _, ok := doc.Paths[r[1]][r[0]]; !ok {
			t.Fatalf("%s %s missing from the document", r[0], r[1])
		}
	}
	raw, _ := json.Marshal(doc.Paths["/admin/agents"]["post"]["parameters"])
	if !strings.Contains(string(raw), "Idempotency-Key") {
		t.Fatal("POST /admin/agents does not take Idempotency-Key")
	}
	raw, _ = json.Marshal(doc.Paths["/metrics"]["get"]["responses"])
	if !strings.Contains(string(raw), "text/plain") {
		t.Fatalf("/metrics is documented as %s", raw)
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
	grant := schemas.Components.Schemas["CreateAgentBody"].Properties["grant"]
	if grant["type"] != "number" || grant["exclusiveMinimum"] != 0.0 || grant["maximum"] != 1e12 {
		t.Fatalf("the grant is documented as %v", grant)
	}
	files := schemas.Components.Schemas["CreateAgentBody"].Properties["files"]
	if files["type"] != "object" || files["maxProperties"] != float64(program.FilesMax) {
		t.Fatalf("the files are documented as %v", files)
	}
}

// TestNewRefusesMissingDependencies names each one, typed nils included.
func TestNewRefusesMissingDependencies(t *testing.T) {
	_, _, err := operator.New(operator.Deps{Directory: (*directory.View)(nil)}, operator.Options{Token: operatorToken})
	if !errors.Is(err, operator.ErrNilDependency) {
		t.Fatalf("got %v", err)
	}
	for _, name := range []string{"Directory", "Markets", "Creator", "Freshness", "Economy", "Accounts", "Book", "Records", "Bids", "Config", "Series"} {
		if !strings.Contains(err.Error(), name) {
			t.Fatalf("%q does not name %s", err, name)
		}
	}
}

// TestNewRefusesABadToken: none, too short, with a space.
func TestNewRefusesABadToken(t *testing.T) {
	e := startEconomy(t)
	for _, token := range []string{"", "short", "has a space in it, long enough"} {
		if _, _, err := operator.New(e.deps(), operator.Options{Token: token}); !errors.Is(err, operator.ErrInvalidOptions) {
			t.Fatalf("token %q: got %v", token, err)
		}
	}
	if _, _, err := operator.New(e.deps(), operator.Options{Token: operatorToken}); err != nil {
		t.Fatal(err)
	}
}
