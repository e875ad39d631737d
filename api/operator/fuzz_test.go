package operator_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/agora-econ/agora/api/apitest"
)

// FuzzCreateAgentBody: whatever the body and the Idempotency-Key header
// of POST /admin/agents, the operator API answers a 2xx, or a 4xx
// problem+json after which the log and the workspaces are as they were;
// never a 5xx, never a panic. It runs against a real economy (embedded
// JetStream, the actors, the read models) over real HTTP.
func FuzzCreateAgentBody(f *testing.F) {
	e := startEconomy(f)
	e.create("taken", 1)
	seeds := []struct {
		body    string
		withKey bool
		key     string
	}{
		{marshal(newAgent(100)), true, "a1"},
		{marshal(newAgent(100, "initial_bid", firstBid(20))), false, ""},
		{marshal(newAgent(100, "initial_bid", firstBid(200))), false, ""},
		{marshal(newAgent(100, "agent_id", "taken")), false, ""},
		{marshal(newAgent(1.0000001)), true, ""},
		{`{"files":{"../x":"y"},"command":["sh"],"grant":1}`, false, ""},
		{`{"files":{"a/":"y","a":"z"},"command":[""],"grant":1e13}`, false, ""},
		{`{"files":{},"command":[],"grant":-1,"initial_bid":{"resources":{"attention":1},"amount":1}}`, false, ""},
		{`{"files":`, false, ""},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.withKey, s.key)
	}
	f.Fuzz(func(t *testing.T, body []byte, withKey bool, key string) {
		outer := e.t
		e.t = t
		defer func() { e.t = outer }()
		var headers []string
		if withKey {
			if !apitest.Sendable(key) {
				t.Skip("not a value an HTTP client can send")
			}
			headers = []string{"Idempotency-Key", key}
		}
		e.settle()
		before, workspaces := e.lastSeq(), e.creator.workspaces(t)
		a := e.admin("POST", "/admin/agents", string(body), headers...)
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
