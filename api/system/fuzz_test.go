package system_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/apitest"
)

// fuzzRoutes are the routes that take a body (and DELETE, whose body is
// none of its business), and the reads that take a query; the fuzzer
// picks one by number.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/economic/transfer"},
	{"POST", "/market/bid"},
	{"PATCH", "/market/bid/"},
	{"DELETE", "/market/bid/"},
	{"POST", "/intelligence/inference"},
	{"GET", "/market/bids?"},
	{"GET", "/economic/history?"},
	{"GET", "/social/agents?"},
	{"POST", "/social/message"},
	{"GET", "/social/inbox?"},
}

// FuzzRequestBodies: whatever the body, the Idempotency-Key header, the
// bid id in the path or the query, the System Service answers a 2xx, or a
// 4xx problem+json and then the log is as it was; never a 5xx, never a
// panic.
// It runs against a real economy (embedded JetStream, the actors, the
// managers and read models) over real HTTP, with a local inference
// upstream.
func FuzzRequestBodies(f *testing.F) {
	u := startUpstream(f)
	e := startEconomy(f, inferenceOptions(f, u))
	e.create("alice", 1_000_000)
	e.create("bob", 100)
	alice := e.issue("alice", 1_000_000_000, time.Now().Add(24*time.Hour))
	open := e.ok(e.call("POST", "/market/bid", alice, bundle(30)))["bid_id"].(string)

	seeds := []struct {
		route     uint8
		body, bid string
		withKey   bool
		key       string
	}{
		{0, `{"to_agent_id":"bob","amount":1.5,"memo":"thanks"}`, "", true, "k1"},
		{0, `{"to_agent_id":"bob","amount":1.0000001}`, "", false, ""},
		{0, `{"to_agent_id":"alice","amount":1}`, "", true, ""},
		{1, `{"resources":{"cpu_seconds":2,"memory_mb":128,"tokens":100},"amount":45,"payload":"{}"}`, "", true, "b1"},
		{1, `{"resources":{"cpu_seconds":1e400,"memory_mb":128},"amount":45}`, "", false, ""},
		{1, `{"resources":{"attention":1},"amount":-1,"beneficiary_id":"bob"}`, "", false, ""},
		{2, `{"amount":31}`, "", true, "r1"},
		{2, `{"amount":"31"}`, "b-nope", false, ""},
		{3, ``, "", true, "w.1"},
		{3, `{}`, "B X", false, ""},
		{4, `{"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`, "", false, ""},
		{4, `{"messages":[],"stream":true}`, "", false, ""},
		{4, `[1,2`, "", false, ""},
		{5, ``, "resource=cpu_seconds&limit=2", false, ""},
		{5, ``, "cursor=xyz&limit=0", false, ""},
		{6, ``, "limit=1001", false, ""},
		{7, ``, "after=A!&limit=%zz", false, ""},
		{8, `{"to_agent_id":"bob","content":"hello"}`, "", true, "m1"},
		{8, `{"to_agent_id":"bob","content":""}`, "", false, ""},
		{8, `{"to_agent_id":"alice","content":"\u0000\ud800"}`, "", false, ""},
		{8, `{"to_agent_id":"ghost","content":"x","extra":1}`, "", false, ""},
		{9, ``, "limit=5&cursor=1.2.3", false, ""},
		{9, ``, "cursor=99999999999999999999.0.0", false, ""},
	}
	for _, s := range seeds {
		f.Add(s.route, []byte(s.body), s.bid, s.withKey, s.key)
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, bid string, withKey bool, key string) {
		outer := e.t
		e.t = t
		defer func() { e.t = outer }()
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := r.path
		switch {
		case path == "/market/bid/":
			if bid == "" {
				bid = open
			}
			path += url.PathEscape(bid)
		case strings.HasSuffix(path, "?"):
			// The query as the fuzzer wrote it, less what cannot be in a
			// request line.
			path += strings.Map(func(r rune) rune {
				if r <= ' ' || r == '#' || r >= 0x7f {
					return -1
				}
				return r
			}, bid)
		}
		var headers []string
		if withKey {
			if !apitest.Sendable(key) {
				t.Skip("not a value an HTTP client can send")
			}
			headers = []string{"Idempotency-Key", key}
		}
		e.settle()
		before := e.lastSeq()
		a := e.call(r.method, path, alice, string(body), headers...)
		if apitest.Answered(t, a) {
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("refused with %d, yet the log moved from %d to %d: %s", a.Status, before, after, a.Body)
			}
		}
	})
}
