package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
)

// TestBadRecordsDoNotStopTheEconomy publishes into a running economy,
// through its NATS port, a record that does not decode and well-formed
// events no actor would write: an overspend by genesis, a bid hold for an
// agent that never existed, a second cycle_cleared of a cycle already
// cleared. The economy keeps serving (genesis keeps running, transfers
// and bids go through, the read models answer); the records are counted
// in status and the metrics and listed by agora skipped; agora audit fails
// naming the first, and passes once each is acknowledged; a restart on
// this log starts and serves.
func TestBadRecordsDoNotStopTheEconomy(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	needPython(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "allocation:\n  schedule_seconds: 0.5\nexecution:\n  timeout_seconds: 20\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*process, int, string) {
		port := freePort(t)
		run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port),
			"--listen", "127.0.0.1:0", "--headless")
		return run, port, apiURLIn(t, run.waitLine("running"))
	}
	run, port, apiURL := start()
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	token := operatorToken(t, dir)
	alice := createAgent(t, apiURL, token, map[string]any{"agent_id": "alice", "files": map[string]string{"main.sh": "exit 0\n"},
		"command": []string{"sh", "main.sh"}, "grant": 10})

	// The forged records: one that is not an event at all, then events
	// whose actors refuse them.
	cycle := firstRecord(t, natsURL, events.Subject(events.KindClearing, economy.Pool, events.CycleCleared{}.EventType()))
	cycle.ID = events.NewID()
	forged := []struct {
		subject string
		data    []byte
		reason  events.Reason
	}{
		{"events.test.x.y", []byte(`{"a":1}`), events.ReasonUndecodable},
		forge(t, events.KindAgent, economy.GenesisID, events.TransferSent{TransferID: "forged-overspend", ToAgentID: alice,
			AmountMicros: events.Credits(1_000_000)}),
		forge(t, events.KindAgent, "ghost", events.HoldPlaced{HoldID: "b-ghost", AmountMicros: events.Credits(5),
			Purpose: events.PurposeBid, Bid: &events.BidTerms{Pool: economy.Pool,
				Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(64)}}}),
		{cycle.Subject, marshal(t, cycle), events.ReasonInvariant},
	}
	seqs := make([]uint64, len(forged))
	for i, f := range forged {
		seqs[i] = natstest.Forge(t, natsURL, f.subject, f.data, agoraCredential(t, dir))
	}

	// Counted and listed, each with its sequence and reason.
	list := waitSkipped(t, apiURL, token, len(forged))
	for i, f := range forged {
		if r := list.Records[i]; r.Seq != seqs[i] || r.Subject != f.subject || r.Reason != f.reason || r.Acknowledged {
			t.Errorf("skipped[%d] = %+v; want seq %d, %s, %s", i, r, seqs[i], f.subject, f.reason)
		}
	}

	// The economy keeps serving: genesis runs again after them, a bid
	// and transfers go through, the forged overspend credited no one.
	ended := agentEventsAfter(t, natsURL, economy.GenesisID, seqs[len(seqs)-1], events.ExecutionEnded{}.EventType())
	t.Logf("genesis ran again after the forged records (execution_ended at %d)", ended)
	createAgent(t, apiURL, token, map[string]any{"agent_id": "bidder", "files": map[string]string{"main.sh": "exit 0\n"},
		"command": []string{"sh", "main.sh"}, "grant": 50,
		"initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 10}})
	password, err := natslog.ReadPassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	loadCfg := filepath.Join(t.TempDir(), "load.yaml")
	if err := os.WriteFile(loadCfg, []byte(fmt.Sprintf("nats:\n  url: %s\n  user: %s\n  password: %q\n", natsURL,
		natslog.AgoraUser, password)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "load", "--config", loadCfg, "--agents", "2", "--transfers", "3", "--concurrency", "1", "--seed", "7")
	if !strings.Contains(r.stderr, "3 acked") {
		t.Fatalf("transfers after the forged records: %s", r)
	}
	var a struct {
		Balance json.Number `json:"balance"`
	}
	operatorGet(t, apiURL, token, "/admin/agents/"+alice, &a)
	if a.Balance.String() != "10" {
		t.Fatalf("alice holds %s; want her grant of 10 (the forged overspend must credit nothing)", a.Balance)
	}
	var s ecofold.Summary
	decodeJSON(t, mustRun(t, "status", "--data", dir, "--json"), &s)
	if s.SkippedRecords != len(forged) || s.UnacknowledgedRecords != len(forged) {
		t.Fatalf("status counts %d skipped, %d unacknowledged; want %d", s.SkippedRecords, s.UnacknowledgedRecords, len(forged))
	}
	if metrics := operatorText(t, apiURL, token, "/metrics"); !strings.Contains(metrics, `agora_records_skipped_total{reason="invariant"} 3`) ||
		!strings.Contains(metrics, `agora_records_skipped_total{reason="undecodable"} 1`) ||
		!strings.Contains(metrics, "agora_records_unacknowledged 4") {
		t.Fatalf("metrics lack the skipped records")
	}

	// The audit names the first unacknowledged record, and passes once
	// each is acknowledged.
	live := []string{"--data", dir, "--nats-port", strconv.Itoa(port)}
	r = runAgora(t, append([]string{"audit"}, live...)...)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("stream sequence %d", seqs[0])) ||
		!strings.Contains(r.stdout, fmt.Sprintf("skipped record %d", seqs[3])) {
		t.Fatalf("audit with unacknowledged records: %s", r)
	}
	for _, seq := range seqs {
		mustRun(t, "skipped", "ack", strconv.FormatUint(seq, 10), "--data", dir, "--reason", "forged by a test")
	}
	if r := runAgora(t, "skipped", "ack", "1", "--data", dir); r.code == 0 || !strings.Contains(r.stderr, "not a skipped record") {
		t.Fatalf("acknowledging a sound record: %s", r)
	}
	r = mustRun(t, append([]string{"audit"}, live...)...)
	if !strings.Contains(r.stdout, "OK: every invariant holds") {
		t.Fatalf("audit after the acknowledgements: %s", r)
	}
	var l skippedList
	decodeJSON(t, mustRun(t, "skipped", "--data", dir, "--json"), &l)
	if len(l.Records) != len(forged) || l.Unacknowledged != 0 {
		t.Fatalf("agora skipped after the acknowledgements: %+v", l)
	}

	// One more, left unacknowledged, then a restart on this log.
	last := natstest.Forge(t, natsURL, "events.agent.genesis.transfer_sent", []byte(`not json`), agoraCredential(t, dir))
	waitSkipped(t, apiURL, token, len(forged)+1)
	stopRun(t, run)
	run, port, apiURL = start()
	decodeJSON(t, mustRun(t, "status", "--data", dir, "--json"), &s)
	if s.SkippedRecords != len(forged)+1 || s.UnacknowledgedRecords != 1 || s.AgentsAlive < 1 {
		t.Fatalf("status after the restart: %+v", s)
	}
	agentEventsAfter(t, fmt.Sprintf("nats://127.0.0.1:%d", port), economy.GenesisID, last, events.ExecutionEnded{}.EventType())
	stopRun(t, run)
	r = runAgora(t, "audit", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, fmt.Sprintf("stream sequence %d", last)) {
		t.Fatalf("offline audit with one unacknowledged record: %s", r)
	}
	r = runAgora(t, "skipped", "--data", dir)
	if r.code != 0 || !strings.Contains(r.stdout, strconv.FormatUint(last, 10)) || !strings.Contains(r.stdout, "undecodable") {
		t.Fatalf("offline agora skipped: %s", r)
	}
	mustRun(t, "replay", "--data", dir)
	// The one-shot read models skip them too: genesis's history has no
	// forged overspend, and no balance went negative.
	var txs []history.Transaction
	decodeJSON(t, mustRun(t, "history", "--data", dir, "--agent", economy.GenesisID, "--limit", "1000", "--json"), &txs)
	for _, tx := range txs {
		if tx.Reference == "forged-overspend" || tx.BalanceAfterMicros < 0 {
			t.Fatalf("offline history shows a forged event: %+v", tx)
		}
	}
}

// forge is a well-formed event on actor (kind, id) that its actor refuses.
func forge(t *testing.T, kind events.Kind, id string, e events.Event) struct {
	subject string
	data    []byte
	reason  events.Reason
} {
	t.Helper()
	env, err := events.Encode(kind, id, e, events.Meta{Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return struct {
		subject string
		data    []byte
		reason  events.Reason
	}{env.Subject, marshal(t, env), events.ReasonInvariant}
}

func marshal(t *testing.T, env events.Envelope) []byte {
	t.Helper()
	b, err := events.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withLog follows the running economy's log from a client of its port.
func withLog(t *testing.T, url string, fn func(ctx context.Context, log *natslog.Log)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	log, err := natslog.New(ctx, js, "")
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	fn(ctx, log)
}

// firstRecord waits for the first record on subject and returns its
// envelope.
func firstRecord(t *testing.T, url, subject string) events.Envelope {
	t.Helper()
	var env events.Envelope
	withLog(t, url, func(ctx context.Context, log *natslog.Log) {
		err := log.Follow(ctx, subject, 1, func(r events.Record) error {
			env = r.Envelope
			return errEnough
		})
		if !errors.Is(err, errEnough) {
			t.Fatalf("no %s: %v", subject, err)
		}
	})
	return env
}

// agentEventsAfter waits for an event of type typ of agent id after
// sequence after and returns its sequence.
func agentEventsAfter(t *testing.T, url, id string, after uint64, typ string) uint64 {
	t.Helper()
	var seq uint64
	withLog(t, url, func(ctx context.Context, log *natslog.Log) {
		err := log.Follow(ctx, events.Subject(events.KindAgent, id, typ), after+1, func(r events.Record) error {
			seq = r.Seq
			return errEnough
		})
		if !errors.Is(err, errEnough) {
			t.Fatalf("no %s of %s after %d: %v", typ, id, after, err)
		}
	})
	return seq
}

// waitSkipped asks GET /admin/skipped until it lists n records.
func waitSkipped(t *testing.T, apiURL, token string, n int) skippedList {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // against hangs only
	for {
		var l skippedList
		operatorGet(t, apiURL, token, "/admin/skipped", &l)
		if len(l.Records) >= n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /admin/skipped lists %d records, want %d: %+v", len(l.Records), n, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func operatorGet(t *testing.T, apiURL, token, path string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(operatorText(t, apiURL, token, path)), out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func operatorText(t *testing.T, apiURL, token, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, apiURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return string(b)
}

// agoraCredential is Agora's own NATS user, the only one the embedded
// server lets publish on events.>: the records forged here stand for a
// writer that has it (or a server given without the split).
func agoraCredential(t *testing.T, dir string) nats.Option {
	t.Helper()
	password, err := natslog.ReadPassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	return nats.UserInfo(natslog.AgoraUser, password)
}
