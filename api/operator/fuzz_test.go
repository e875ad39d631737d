package operator_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/api/apitest"
)

// fuzzRoutes are the operator's routes that take a body; the fuzzer picks
// one by number, and the agent id of the path.
var fuzzRoutes = []string{"/admin/agents", "/admin/agents/{id}/fund", "/admin/agents/{id}/bids", "/admin/agents/{id}/kill"}

// FuzzOperatorBodies: whatever the body, the agent id in the path and the
// Idempotency-Key header of the operator's POST routes, the operator API
// answers a 2xx, or a 4xx problem+json after which the log and the
// workspaces are as they were; never a 5xx, never a panic. It runs
// against a real economy (embedded JetStream, the actors, the read
// models) over real HTTP.
func FuzzOperatorBodies(f *testing.F) {
	e := startEconomy(f)
	e.create("taken", 1000)
	seeds := []struct {
		route   uint8
		body    string
		id      string
		withKey bool
		key     string
	}{
		{0, marshal(newAgent(100)), "", true, "a1"},
		{0, marshal(newAgent(100, "initial_bid", firstBid(20))), "", false, ""},
		{0, marshal(newAgent(100, "initial_bid", firstBid(200))), "", false, ""},
		{0, marshal(newAgent(100, "agent_id", "taken")), "", false, ""},
		{0, marshal(newAgent(1.0000001)), "", true, ""},
		{0, `{"files":{"../x":"y"},"command":["sh"],"grant":1}`, "", false, ""},
		{0, `{"files":{"a/":"y","a":"z"},"command":[""],"grant":1e13}`, "", false, ""},
		{0, `{"files":{},"command":[],"grant":-1,"initial_bid":{"resources":{"attention":1},"amount":1}}`, "", false, ""},
		{0, `{"files":`, "", false, ""},
		{1, `{"amount":5,"reason":"bonus"}`, "taken", true, "f1"},
		{1, `{"amount":1e12}`, "taken", false, ""},
		{1, `{"amount":5,"reason":"a\nb"}`, "nobody", false, ""},
		{2, `{"resources":{"cpu_seconds":2,"memory_mb":128},"amount":20,"payload":"x"}`, "taken", false, ""},
		{2, `{"resources":{"cpu_seconds":2,"memory_mb":128},"amount":20,"beneficiary_id":"x"}`, "Taken", false, ""},
		{3, `{"reason":"enough"}`, "nobody", true, "k1"},
		{3, ``, "..", false, ""},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body), s.id, s.withKey, s.key)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, id string, withKey bool, key string) {
		outer := e.t
		e.t = t
		defer func() { e.t = outer }()
		path := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path = strings.Replace(path, "{id}", url.PathEscape(id), 1)
		var headers []string
		if withKey {
			if !apitest.Sendable(key) {
				t.Skip("not a value an HTTP client can send")
			}
			headers = []string{"Idempotency-Key", key}
		}
		e.settle()
		before, workspaces := e.lastSeq(), e.creator.workspaces(t)
		a := e.admin("POST", path, string(body), headers...)
		if apitest.Answered(t, a) {
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("refused with %d, yet the log moved from %d to %d: %s", a.Status, before, after, a.Body)
			}
			if after := e.creator.workspaces(t); !slices.Equal(after, workspaces) {
				t.Fatalf("refused with %d, yet the workspaces went from %v to %v: %s", a.Status, workspaces, after, a.Body)
			}
		}
	})
}

func marshal(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
