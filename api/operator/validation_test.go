package operator_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/agora-econ/agora/api/apitest"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/program"
)

// TestBadInputChangesNothing: every bad field of every route is a 4xx
// problem+json whose detail names what is wrong, and the log's last
// sequence is the same after it as before; no workspace is written.
func TestBadInputChangesNothing(t *testing.T) {
	e := startEconomy(t)
	e.create("taken", 1)

	// body returns a valid body with one field replaced (nil: removed).
	body := func(field string, value any) map[string]any {
		b := newAgent(100, "initial_bid", firstBid(20))
		if value == nil {
			delete(b, field)
		} else {
			b[field] = value
		}
		return b
	}
	files := func(kv ...string) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	bid := func(resources map[string]any, amount any, extra ...any) map[string]any {
		b := map[string]any{"resources": resources, "amount": amount}
		for i := 0; i+1 < len(extra); i += 2 {
			b[extra[i].(string)] = extra[i+1]
		}
		return b
	}
	cpuMem := map[string]any{"cpu_seconds": 2, "memory_mb": 128}
	manyFiles := map[string]any{}
	for i := range program.FilesMax + 1 {
		manyFiles[fmt.Sprintf("f%d.txt", i)] = "x"
	}
	nineMiB := map[string]any{}
	for i := range 9 {
		nineMiB[fmt.Sprintf("big%d.bin", i)] = strings.Repeat("x", 1<<20)
	}
	manyArgs := make([]any, program.CommandArgsMax+1)
	for i := range manyArgs {
		manyArgs[i] = "a"
	}
	deep := strings.Repeat("d/", program.PathDepthMax) + "f.py"

	cases := []struct {
		name         string
		method, path string
		body         any
		headers      []string
		status       int
		words        []string
	}{
		// The grant.
		{"no grant", "POST", "/admin/agents", body("grant", nil), nil, 422, []string{"grant"}},
		{"grant zero", "POST", "/admin/agents", body("grant", 0), nil, 422, []string{"body.grant", "> 0"}},
		{"grant negative", "POST", "/admin/agents", body("grant", -1), nil, 422, []string{"body.grant", "> 0"}},
		{"grant seven decimals", "POST", "/admin/agents", `{"files":{"a.py":"x"},"command":["python3"],"grant":1.0000001}`, nil, 422, []string{"body.grant", "more than 6 decimals"}},
		{"grant above 1e12", "POST", "/admin/agents", body("grant", 1e13), nil, 422, []string{"body.grant", "1e+12"}},
		{"grant 1e12 and a micro", "POST", "/admin/agents", `{"files":{"a.py":"x"},"command":["python3"],"grant":1000000000000.000001}`, nil, 422, []string{"body.grant", "above the maximum"}},
		{"grant a string", "POST", "/admin/agents", body("grant", "100"), nil, 422, []string{"body.grant", "expected number"}},
		{"grant NaN", "POST", "/admin/agents", `{"files":{"a.py":"x"},"command":["python3"],"grant":NaN}`, nil, 400, []string{"invalid character"}},
		// The files.
		{"no files", "POST", "/admin/agents", body("files", nil), nil, 422, []string{"files"}},
		{"empty files", "POST", "/admin/agents", body("files", map[string]any{}), nil, 422, []string{"body.files"}},
		{"too many files", "POST", "/admin/agents", body("files", manyFiles), nil, 422, []string{"body.files", "256"}},
		{"absolute path", "POST", "/admin/agents", body("files", files("/etc/passwd", "x")), nil, 422, []string{"body.files./etc/passwd", "absolute"}},
		{"dot dot", "POST", "/admin/agents", body("files", files("../escape.py", "x")), nil, 422, []string{"body.files.../escape.py", `".."`}},
		{"dot dot inside", "POST", "/admin/agents", body("files", files("a/../../b.py", "x")), nil, 422, []string{"body.files.a/../../b.py", `".."`}},
		{"dot element", "POST", "/admin/agents", body("files", files("./a.py", "x")), nil, 422, []string{"body.files../a.py", `"."`}},
		{"empty element", "POST", "/admin/agents", body("files", files("a//b.py", "x")), nil, 422, []string{"body.files.a//b.py", "empty element"}},
		{"trailing slash", "POST", "/admin/agents", body("files", files("dir/", "x")), nil, 422, []string{"body.files.dir/", "empty element"}},
		{"empty path", "POST", "/admin/agents", body("files", files("", "x")), nil, 422, []string{`body.files[""]`, "invalid workspace path: empty"}},
		{"backslash", "POST", "/admin/agents", body("files", files(`a\b.py`, "x")), nil, 422, []string{"body.files.a", `'\\'`}},
		{"control character", "POST", "/admin/agents", body("files", files("a\nb.py", "x")), nil, 422, []string{`body.files["a\nb.py"]`, `'\n'`}},
		{"path too long", "POST", "/admin/agents", body("files", files(strings.Repeat("p", 256), "x")), nil, 422, []string{"body.files.ppp", "at most 255"}},
		{"path far too long", "POST", "/admin/agents", body("files", files(strings.Repeat("q", 100_000), "x")), nil, 422, []string{"body.files.qqq", "at most 255"}},
		{"path too deep", "POST", "/admin/agents", body("files", files(deep, "x")), nil, 422, []string{"body.files.d/d/", "deeper than 16"}},
		{"file and directory", "POST", "/admin/agents", body("files", files("lib", "x", "lib/a.py", "y")), nil, 422, []string{"body.files.lib/a.py", `"lib" is a file`}},
		{"file too large", "POST", "/admin/agents", body("files", files("big.py", strings.Repeat("x", program.FileBytesMax+1))), nil, 422, []string{"body.files.big.py", "at most 1048576"}},
		{"files too large", "POST", "/admin/agents", body("files", nineMiB), nil, 422, []string{"body.files", "at most 8388608"}},
		{"a file that is null", "POST", "/admin/agents", body("files", map[string]any{"a.py": nil, "b.py": "x"}), nil, 422, []string{"body.files.a.py", "expected string"}},
		{"files not an object", "POST", "/admin/agents", body("files", []any{"main.py"}), nil, 422, []string{"body.files", "expected object"}},
		{"a file that is not text", "POST", "/admin/agents", body("files", map[string]any{"a.py": 12}), nil, 422, []string{"body.files.a.py", "expected string"}},
		{"body too large", "POST", "/admin/agents", body("files", files("a.py", strings.Repeat("\u0001", operator.CreateBodyBytesMax/6+1))), nil, 413, []string{"too large"}},
		// The command.
		{"no command", "POST", "/admin/agents", body("command", nil), nil, 422, []string{"command"}},
		{"empty command", "POST", "/admin/agents", body("command", []any{}), nil, 422, []string{"body.command"}},
		{"empty program", "POST", "/admin/agents", body("command", []any{"", "main.py"}), nil, 422, []string{"body.command[0]", "program name is empty"}},
		{"NUL in an argument", "POST", "/admin/agents", body("command", []any{"python3", "a\x00b"}), nil, 422, []string{"body.command[1]", "NUL"}},
		{"too many arguments", "POST", "/admin/agents", body("command", manyArgs), nil, 422, []string{"body.command", "64"}},
		{"command too long", "POST", "/admin/agents", body("command", []any{"python3", strings.Repeat("a", program.CommandBytesMax)}), nil, 422, []string{"body.command", "at most 4096"}},
		{"command not strings", "POST", "/admin/agents", body("command", []any{"python3", 3}), nil, 422, []string{"body.command[1]", "expected string"}},
		// The id.
		{"bad agent id", "POST", "/admin/agents", body("agent_id", "Momentum!"), nil, 422, []string{"body.agent_id"}},
		{"agent id too long", "POST", "/admin/agents", body("agent_id", strings.Repeat("a", 65)), nil, 422, []string{"body.agent_id"}},
		{"agent id taken", "POST", "/admin/agents", body("agent_id", "taken"), nil, 409, []string{"already exists", "taken"}},
		{"unknown field", "POST", "/admin/agents", body("parent_id", "taken"), nil, 422, []string{"parent_id"}},
		// The first bid.
		{"bid without memory", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1}, 10)), nil, 422, []string{"body.initial_bid.resources", "memory_mb"}},
		{"bid with attention", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 1, "attention": 1}, 60)), nil, 422, []string{"body.initial_bid.resources.attention", "prompt"}},
		{"bid bad resource name", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 1, "GPU.x": 1}, 10)), nil, 422, []string{"body.initial_bid.resources", "GPU.x"}},
		{"bid unknown resource", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": 1, "gpu": 1}, 10)), nil, 422, []string{"unknown resource", "gpu"}},
		{"bid no resources", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{}, 10)), nil, 422, []string{"body.initial_bid.resources"}},
		{"bid units seven decimals", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1.0000001, "memory_mb": 1}, 10)), nil, 422, []string{"body.initial_bid.resources.cpu_seconds", "more than 6 decimals"}},
		{"bid units negative", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 1, "memory_mb": -1}, 10)), nil, 422, []string{"body.initial_bid.resources.memory_mb", "> 0"}},
		{"bid exceeds supply", "POST", "/admin/agents", body("initial_bid", bid(map[string]any{"cpu_seconds": 101, "memory_mb": 1}, 99)), nil, 422, []string{"exceeds supply"}},
		{"bid below reserve", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 11)), nil, 422, []string{"below the reserve price", "11.28"}},
		{"bid above the grant", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 100.000001)), nil, 422, []string{"body.initial_bid.amount", "above the grant of 100"}},
		{"bid amount zero", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 0)), nil, 422, []string{"body.initial_bid.amount", "> 0"}},
		{"bid amount seven decimals", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 20.0000001)), nil, 422, []string{"body.initial_bid.amount", "more than 6 decimals"}},
		{"bid payload too long", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 20, "payload", strings.Repeat("p", operator.PayloadBytesMax+1))), nil, 422, []string{"body.initial_bid.payload"}},
		{"bid with a beneficiary", "POST", "/admin/agents", body("initial_bid", bid(cpuMem, 20, "beneficiary_id", "taken")), nil, 422, []string{"beneficiary_id"}},
		{"bid not an object", "POST", "/admin/agents", body("initial_bid", "soon"), nil, 422, []string{"body.initial_bid", "expected object"}},
		// Several at once: each is named.
		{"several", "POST", "/admin/agents", map[string]any{"files": files("../x", "y"), "command": []any{""}, "grant": -1}, nil, 422, []string{"body.grant", "body.files.../x", "body.command[0]"}},
		// The request itself.
		{"not JSON", "POST", "/admin/agents", `{"files":`, nil, 400, []string{"body"}},
		{"not a JSON content type", "POST", "/admin/agents", `{}`, []string{"Content-Type", "text/plain"}, 415, []string{"body"}},
		{"key with a space", "POST", "/admin/agents", body("grant", 50), []string{"Idempotency-Key", "a key"}, 400, []string{"Idempotency-Key", "allowed"}},
		{"key too long", "POST", "/admin/agents", body("grant", 50), []string{"Idempotency-Key", strings.Repeat("k", 129)}, 400, []string{"Idempotency-Key", "at most 128"}},
		{"empty key", "POST", "/admin/agents", body("grant", 50), []string{"Idempotency-Key", ""}, 400, []string{"Idempotency-Key", "empty"}},
		// Reads.
		{"agent bad id", "GET", "/admin/agents/Not%20An%20Id", nil, nil, 422, []string{"path.id"}},
		{"agent id too long", "GET", "/admin/agents/" + strings.Repeat("a", 65), nil, nil, 422, []string{"path.id"}},
		{"unknown agent", "GET", "/admin/agents/nobody", nil, nil, 404, []string{"unknown agent", "nobody"}},
		{"list limit 0", "GET", "/admin/agents?limit=0", nil, nil, 422, []string{"query.limit"}},
		{"list limit too large", "GET", "/admin/agents?limit=1001", nil, nil, 422, []string{"query.limit"}},
		{"list limit not a number", "GET", "/admin/agents?limit=ten", nil, nil, 422, []string{"query.limit"}},
		{"list bad cursor", "GET", "/admin/agents?cursor=A!", nil, nil, 422, []string{"query.cursor"}},
	}
	e.settle()
	before := e.lastSeq()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := e.t
			e.t = t
			defer func() { e.t = outer }()
			a := e.admin(c.method, c.path, c.body, c.headers...)
			detail := e.problem(a, c.status, c.words...)
			if len(detail) > 4*operator.ValueEchoLengthMax+400 {
				t.Fatalf("detail of %d characters", len(detail))
			}
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("the log moved from %d to %d", before, after)
			}
			if ws := e.creator.workspaces(t); len(ws) != 0 {
				t.Fatalf("a refused creation wrote workspaces %v", ws)
			}
		})
	}
}

// TestUnreadableBodyChangesNothing: a body that cannot be read (a chunked
// encoding broken after a valid token and headers, or cut short) is a 400
// problem+json whose detail says so without the parser's words; no event,
// no workspace.
func TestUnreadableBodyChangesNothing(t *testing.T) {
	e := startEconomy(t)
	e.settle()
	before := e.lastSeq()
	for name, body := range apitest.UnreadableBodies {
		t.Run(name, func(t *testing.T) {
			a := apitest.Raw(t, e.server.URL, "POST", "/admin/agents", operatorToken, body)
			apitest.Problem(t, a, 400, "request body could not be read")
			apitest.NotLeaky(t, a)
			e.settle()
			if after := e.lastSeq(); after != before {
				t.Fatalf("the log moved from %d to %d", before, after)
			}
			if ws := e.creator.workspaces(t); len(ws) != 0 {
				t.Fatalf("a refused creation wrote workspaces %v", ws)
			}
		})
	}
}
