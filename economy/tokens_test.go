package economy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/markets"
)

// completionTokens is what the fake upstream says each completion used.
const completionTokens = 37

// fakeUpstream is an OpenAI-compatible chat completion server on
// loopback: every completion says it used completionTokens tokens. It
// counts the completions it answered.
func fakeUpstream(t *testing.T) (*httptest.Server, func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"no such route"}}`, http.StatusNotFound)
			return
		}
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","model":"test","choices":[{"index":0,`+
			`"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":7,"completion_tokens":%d,"total_tokens":%d}}`, completionTokens-7, completionTokens)
	}))
	t.Cleanup(srv.Close)
	return srv, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// tokensProgram calls inference twice, then writes what GET
// /system/execution says into seen.json, and places no bid.
const tokensProgram = `import json
from agora import Client
c = Client.from_env()
for _ in range(2):
    c.inference([{"role": "user", "content": "hello"}], max_tokens=50)
with open("seen.json", "w") as f:
    json.dump(c.execution(), f)
`

// TestTokensUsedAreRecorded runs a whole economy as `agora run` does (the
// real sandbox, the System Service on its socket, the executor, the
// clearing schedule) with the inference upstream a fake on loopback. An
// agent whose bid won 100 tokens calls inference twice (37 tokens each):
// its execution_ended records tokens_used 74, what the System Service
// metered, which GET /system/execution showed the program as used.tokens;
// the operator's record shows it, the tokens market's release of its
// units says it used 74 of the 100 leased, and the audit of the whole log
// passes and counts it.
func TestTokensUsedAreRecorded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an economy with a real execution")
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no python3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	upstream, completions := fakeUpstream(t)
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	cfg.Economy.Genesis, cfg.Allocation.ScheduleSeconds, cfg.Server.Listen = false, 0.2, "127.0.0.1:0"
	cfg.Inference.URL, cfg.Inference.Model = upstream.URL+"/v1", "test"
	n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	e, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop)
	e.Start()
	serving, err := e.Serve(ctx)
	if err != nil {
		if strings.Contains(err.Error(), "sandbox") {
			t.Skipf("no sandbox on this machine: %v", err)
		}
		t.Fatal(err)
	}
	token, err := os.ReadFile(serving.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	api := "http://" + serving.Addr.String()

	files := map[string]string{"main.py": tokensProgram, "agora.py": string(genesis.Files()["agora.py"])}
	body, _ := json.Marshal(map[string]any{"agent_id": "thinker", "files": files, "command": []string{"python3", "main.py"},
		"grant": 50, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 2, "memory_mb": 64, "tokens": 100},
			"amount": 30}})
	var created struct {
		AgentID string `json:"agent_id"`
	}
	operatorCall(t, ctx, "POST", api+"/admin/agents", strings.TrimSpace(string(token)), body, &created)

	// The program runs once and ends (no bid: its agent dies with it).
	var ended events.ExecutionEnded
	for ended.ExecutionID == "" {
		if ctx.Err() != nil {
			t.Fatal("the execution did not end")
		}
		ended = executionEnded(t, ctx, e, "thinker")
		time.Sleep(50 * time.Millisecond)
	}
	if ended.Cause != events.CauseExited || ended.ExitCode != 0 {
		t.Fatalf("execution ended %+v; the program's output is in its workspace", ended)
	}
	if completions() != 2 || ended.TokensUsed != 2*completionTokens {
		t.Fatalf("%d completions, tokens_used %d; want %d", completions(), ended.TokensUsed, 2*completionTokens)
	}

	// What the program saw: the same count, from the meter.
	var seen struct {
		Used      map[string]json.Number `json:"used"`
		Remaining map[string]json.Number `json:"remaining"`
		Allocated map[string]json.Number `json:"allocated"`
	}
	b, err := os.ReadFile(filepath.Join(cfg.Data.Dir, WorkspacesDir, "thinker", "seen.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &seen); err != nil {
		t.Fatal(err)
	}
	if seen.Used["tokens"] != "74" || seen.Remaining["tokens"] != "26" || seen.Allocated["tokens"] != "100" {
		t.Fatalf("GET /system/execution said %s", b)
	}

	// The operator's record of the agent, over HTTP.
	if err := e.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var rec struct {
		LastExecution struct {
			ExecutionID string `json:"execution_id"`
			TokensUsed  int64  `json:"tokens_used"`
		} `json:"last_execution"`
	}
	operatorCall(t, ctx, "GET", api+"/admin/agents/thinker", strings.TrimSpace(string(token)), nil, &rec)
	if rec.LastExecution.ExecutionID != ended.ExecutionID || rec.LastExecution.TokensUsed != 74 {
		t.Fatalf("the operator's record says %+v", rec.LastExecution)
	}

	// The tokens market's release of the execution's units says what it
	// used (the managers release the leases after the end).
	for released := false; !released; {
		if ctx.Err() != nil {
			t.Fatal("the execution's tokens were not released")
		}
		if err := e.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		m, _ := e.MarketView().Market("tokens")
		for _, tx := range m.RecentTransactions {
			if tx.ExecutionID == ended.ExecutionID && tx.Kind == markets.KindRelease {
				if !tx.Measured || tx.UsedUnits != events.WholeUnits(74) || tx.Units != events.WholeUnits(100) {
					t.Fatalf("tokens market release %+v", tx)
				}
				released = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The audit of the whole log passes and counts the tokens used.
	eco := ecofold.New()
	if err := e.Log().Read(ctx, events.SubjectRoot+".>", 1, eco.Apply); err != nil {
		t.Fatal(err)
	}
	if s := eco.Summary(); s.TokensUsed != 74 || s.SkippedRecords != 0 {
		t.Fatalf("audit summary %+v", s)
	}
}

// executionEnded is the first execution_ended of agent id in the log, or
// the zero event while there is none.
func executionEnded(t *testing.T, ctx context.Context, e *Economy, id string) events.ExecutionEnded {
	t.Helper()
	var found events.ExecutionEnded
	err := e.Log().Read(ctx, events.Subject(events.KindAgent, id, "execution_ended"), 1, func(r events.Record) error {
		ev, err := events.Read(r)
		if err != nil {
			return err
		}
		found = ev.(events.ExecutionEnded)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// operatorCall makes one call of the operator API and decodes its answer.
func operatorCall(t *testing.T, ctx context.Context, method, url, token string, body []byte, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}
