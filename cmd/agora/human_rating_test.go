package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/agora-econ/agora/economy"
)

// TestHumanRatesAPrompt is the human's journey: an agent prompts the
// human (through the System Service, with its execution's token), the
// prompt appears on `agora human`, the human rates it with keys, and the
// reward, sum(score x rate) with the default rates of 50, is minted to the
// agent: its balance is up by exactly that much.
func TestHumanRatesAPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with a real execution")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "economy:\n  genesis: false\nallocation:\n  schedule_seconds: 0.2\n  lease_timeout_seconds: 1200\nexecution:\n  timeout_seconds: 600\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(freePort(t)),
		"--listen", "127.0.0.1:0", "--headless")
	apiURL := apiURLIn(t, run.waitLine("running"))
	opToken := operatorToken(t, dir)

	// The poet's program hands its execution token to the test and waits:
	// the test then speaks for it.
	driver := map[string]string{"main.sh": `printf '%s' "$AGORA_TOKEN" > token.tmp && mv token.tmp token && exec sleep 3600` + "\n"}
	createAgent(t, apiURL, opToken, map[string]any{"agent_id": "poet", "files": driver, "command": []string{"sh", "main.sh"},
		"grant": 1000, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 20}})
	token := waitNewToken(t, filepath.Join(dir, economy.WorkspacesDir, "poet", "token"), "")

	s := startOnTerminal(t, "human", "--data", dir, "--refresh", "100ms")
	s.waitFor("Attention queue", "0 waiting", "no prompt in front of you")

	var prompt struct {
		PromptID string `json:"prompt_id"`
	}
	call(t, apiURL, token, http.MethodPost, "/attention/prompt",
		map[string]any{"content": "Markets are quiet.\nBuy cpu_seconds now.", "bid_amount": 60}, &prompt)
	s.waitFor(prompt.PromptID+" from poet, who paid 60", "Markets are quiet.", "Buy cpu_seconds now.")

	var before struct {
		Balance json.Number `json:"balance"`
	}
	call(t, apiURL, opToken, http.MethodGet, "/admin/agents/poet", nil, &before)
	s.press("7\t5\t9")
	s.waitFor("interesting 7", "useful 5", "understandable 9")
	s.press("r")
	s.press("short and true")
	s.press("\r") // ends the reason
	s.press("\r") // submits
	s.waitFor("rated "+prompt.PromptID+": 1050 credits minted to poet", "7/5/9  +1050")

	var after struct {
		Balance json.Number `json:"balance"`
	}
	call(t, apiURL, opToken, http.MethodGet, "/admin/agents/poet", nil, &after)
	b, _ := before.Balance.Float64()
	a, _ := after.Balance.Float64()
	if a-b != 1050 {
		t.Fatalf("the poet's balance went from %s to %s, want up by 1050", before.Balance, after.Balance)
	}
	var responses struct {
		Responses []struct {
			PromptID string `json:"prompt_id"`
			Reason   string `json:"reason"`
			Reward   int    `json:"reward"`
		} `json:"responses"`
	}
	call(t, apiURL, opToken, http.MethodGet, "/attention/responses", nil, &responses)
	if len(responses.Responses) != 1 || responses.Responses[0].PromptID != prompt.PromptID ||
		responses.Responses[0].Reason != "short and true" || responses.Responses[0].Reward != 1050 {
		t.Fatalf("the responses: %+v", responses.Responses)
	}
	s.press("q")
	if code := s.exit(); code != 0 {
		t.Fatalf("agora human exited %d after q", code)
	}
	stopRun(t, run)
	mustRun(t, "audit", "--data", dir)
}

// call makes one JSON call with a bearer token and decodes a 200 into out.
func call(t *testing.T, base, token, method, path string, in, out any) {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s\n%s", method, path, res.Status, answer)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		t.Fatalf("%s %s: %v\n%s", method, path, err, answer)
	}
}
