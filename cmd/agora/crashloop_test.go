package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// Bounds of the crash loop. crashLoopRequestsMax keeps every key the loop
// ever sends within the actors' idempotency memory (crashLoopMemory):
// every request is sent again after every restart, and a key an actor has
// forgotten would apply a second time by design.
const (
	crashLoopKills       = 20
	crashLoopPerRound    = 24
	crashLoopRequestsMax = crashLoopKills * crashLoopPerRound
	crashLoopMemory      = 4096
)

// TestCrashLoopUnderLoad is SPEC.md section 5 under load: transfers and bids
// go through the System Service with Idempotency-Keys while `agora run` is
// killed with SIGKILL twenty times at random moments and restarted. After
// every restart every request ever sent is sent again with its key: each
// one acknowledged before must answer its first result, each one that was
// cut off applies now, and `agora audit` must pass. At the end the log holds
// every acknowledged transfer and bid exactly once.
//
// The requests are the driver agent's own: its program hands its execution
// token to the test through its workspace and sleeps, and the test speaks
// for it. The driver's bids ask for more CPU than is left while it runs, so
// they stay in the book; after a kill its execution ends or runs again, and
// either way a new execution hands over a new token.
func TestCrashLoopUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the real economy twenty times")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	// The CPU price may rise while the driver holds most of the supply,
	// but never past what its bids offer.
	cfg := fmt.Sprintf("allocation:\n  schedule_seconds: 0.2\n  lease_timeout_seconds: 1200\n"+
		"resources:\n  cpu_seconds: {supply: 100, initial_price: 5, max_price: 10}\n"+
		"execution:\n  timeout_seconds: 600\nruntime:\n  idempotency_memory: %d\n", crashLoopMemory)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	args := []string{"run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless"}
	run := startAgora(t, args...)
	apiURL := apiURLIn(t, run.waitLine("running"))
	opToken := operatorToken(t, dir)
	createAgent(t, apiURL, opToken, map[string]any{"agent_id": "sink",
		"files": map[string]string{"main.sh": "exit 0\n"}, "command": []string{"sh", "main.sh"}, "grant": 1})
	driver := map[string]string{"main.sh": `printf '%s' "$AGORA_TOKEN" > token.tmp && mv token.tmp token && exec sleep 3600` + "\n"}
	createAgent(t, apiURL, opToken, map[string]any{"agent_id": "driver", "files": driver, "command": []string{"sh", "main.sh"},
		"grant": 1_000_000, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 60, "memory_mb": 64}, "amount": 1000}})
	tokenFile := filepath.Join(dir, economy.WorkspacesDir, "driver", "token")

	loop := &crashLoop{t: t, first: map[string]string{}}
	rng := rand.New(rand.NewPCG(1, 2))
	previous := ""
	for round := 1; round <= crashLoopKills; round++ {
		token := waitNewToken(t, tokenFile, previous)
		previous = token
		c := crashClient{url: apiURL, token: token}
		loop.resendAll(c, round)

		// A burst of new requests, cut by SIGKILL at a random moment.
		loop.burst(c, round, time.Duration(rng.IntN(15))*time.Millisecond, func() {
			if code := run.stop(syscall.SIGKILL); code == 0 {
				t.Fatalf("round %d: agora exited 0 after SIGKILL", round)
			}
		})

		run = startAgora(t, args...)
		apiURL = apiURLIn(t, run.waitLine("running"))
		var rep auditReport
		decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
		if !rep.OK {
			t.Fatalf("round %d: audit after the restart: %+v", round, rep)
		}
		t.Logf("round %d: %d requests sent, %d acknowledged, killed after %d in the burst", round, len(loop.sent), len(loop.first), loop.lastBurst)
	}
	// The last restart: everything is sent once more, then the economy stops.
	loop.resendAll(crashClient{url: apiURL, token: waitNewToken(t, tokenFile, previous)}, crashLoopKills+1)
	stopRun(t, run)

	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("final audit: %+v", rep)
	}
	loop.checkLog(dir)
}

// crashLoop is what the loop sent and what was acknowledged.
type crashLoop struct {
	t  *testing.T
	mu sync.Mutex
	// sent is every request ever sent, in order; first is the id (transfer
	// or bid) each key was first acknowledged with.
	sent      []crashRequest
	first     map[string]string
	lastBurst int
}

type crashRequest struct {
	key, path string
	body      map[string]any
}

func (r crashRequest) transfer() bool { return r.path == "/economic/transfer" }

// newRequest makes the n-th request of a round: mostly transfers to the
// sink, every fourth a bid that cannot fit while the driver runs (the
// first of the round among them).
func newRequest(round, n int) crashRequest {
	key := fmt.Sprintf("crash-r%02d-%03d", round, n)
	if n%4 == 0 {
		return crashRequest{key: key, path: "/market/bid", body: map[string]any{
			"resources": map[string]any{"cpu_seconds": 50, "memory_mb": 64}, "amount": 1000 + round, "payload": key}}
	}
	return crashRequest{key: key, path: "/economic/transfer", body: map[string]any{
		"to_agent_id": "sink", "amount": json.Number(fmt.Sprintf("%d.%06d", n%7, 1+round*1000+n))}}
}

// resendAll sends every request ever sent again, with its key. Each must
// succeed; one acknowledged before must answer the same id.
func (l *crashLoop) resendAll(c crashClient, round int) {
	l.t.Helper()
	for _, r := range l.sent {
		id, err := c.sendRetrying(r)
		if err != nil {
			l.t.Fatalf("round %d: %s sent again: %v", round, r.key, err)
		}
		if was, ok := l.first[r.key]; ok && was != id {
			l.t.Fatalf("round %d: %s was acknowledged as %s and now answers %s: applied twice", round, r.key, was, id)
		}
		l.first[r.key] = id
	}
}

// burst sends new requests from four goroutines and calls kill after d,
// while they are in flight. Requests cut off are left unacknowledged; they
// are sent again after the restart.
func (l *crashLoop) burst(c crashClient, round int, d time.Duration, kill func()) {
	var wg sync.WaitGroup
	next := make(chan crashRequest)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range next {
				if id, err := c.send(r); err == nil {
					l.mu.Lock()
					l.first[r.key] = id
					l.mu.Unlock()
				}
			}
		}()
	}
	// The round's first request, a bid, is acknowledged before the kill
	// can come: the driver always has a continuation in the book.
	first := newRequest(round, 0)
	l.sent = append(l.sent, first)
	id, err := c.sendRetrying(first)
	if err != nil {
		l.t.Fatalf("round %d: %s: %v", round, first.key, err)
	}
	l.first[first.key] = id
	killAt := time.After(d)
	n := 1
feed:
	for ; n < crashLoopPerRound; n++ {
		r := newRequest(round, n)
		l.sent = append(l.sent, r)
		select {
		case next <- r:
		case <-killAt:
			l.sent = l.sent[:len(l.sent)-1]
			break feed
		}
	}
	if n == crashLoopPerRound {
		<-killAt
	}
	kill()
	close(next)
	wg.Wait()
	l.lastBurst = n
}

// checkLog reads the stopped economy's log: every transfer key maps to one
// transfer_sent settled once, every bid key to one bid listed once.
func (l *crashLoop) checkLog(dir string) {
	t := l.t
	t.Helper()
	acked := map[string]string{} // transfer id -> its command's key
	bids := map[string]string{}  // bid id -> key
	for _, r := range l.sent {
		id, ok := l.first[r.key]
		if !ok {
			t.Fatalf("%s was never acknowledged, even after the last restart", r.key)
		}
		if r.transfer() {
			acked[id] = "api/transfer/driver/" + r.key
		} else {
			bids[id] = r.key
		}
	}
	checkTransfersInLog(t, dir, acked)

	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	_, log, closeLog := openStoreDir(t, ctx, dir)
	defer closeLog()
	listed := map[string]int{}
	err := log.Read(ctx, events.SubjectRoot+"."+string(events.KindClearing)+".>", 1, func(r events.Record) error {
		if r.Envelope.Type != (events.BidListed{}).EventType() {
			return nil
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		listed[e.(events.BidListed).BidID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, key := range bids {
		if listed[id] != 1 {
			t.Errorf("bid %s (key %s) listed %d times, want once", id, key, listed[id])
		}
	}
	t.Logf("%d requests: %d transfers and %d bids, each in the log once", len(l.sent), len(acked), len(bids))
}

// crashClient speaks to the System Service as the driver.
type crashClient struct{ url, token string }

var crashHTTP = &http.Client{Timeout: 10 * time.Second}

// send makes one call and returns the transfer or bid id it answered.
func (c crashClient) send(r crashRequest) (string, error) {
	body, err := json.Marshal(r.body)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodPost, c.url+r.path, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", r.key)
	res, err := crashHTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return "", &crashStatus{code: res.StatusCode, body: string(answer)}
	}
	var out struct {
		TransferID string `json:"transfer_id"`
		BidID      string `json:"bid_id"`
	}
	if err := json.Unmarshal(answer, &out); err != nil {
		return "", err
	}
	if id := out.TransferID + out.BidID; id != "" {
		return id, nil
	}
	return "", fmt.Errorf("%s answered no id: %s", r.path, answer)
}

// sendRetrying sends r until it is answered; only a 503 (the log did not
// confirm) is retried, with the same key.
func (c crashClient) sendRetrying(r crashRequest) (string, error) {
	for attempt := 0; ; attempt++ {
		id, err := c.send(r)
		var st *crashStatus
		if err == nil || !errors.As(err, &st) || st.code != http.StatusServiceUnavailable || attempt == 20 {
			return id, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type crashStatus struct {
	code int
	body string
}

func (e *crashStatus) Error() string { return fmt.Sprintf("%d %s", e.code, e.body) }

// waitNewToken waits until the driver's program has written a token other
// than previous: a new execution is running.
func waitNewToken(t *testing.T, file, previous string) string {
	t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(file)
		if tok := strings.TrimSpace(string(b)); err == nil && tok != "" && tok != previous {
			return tok
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the driver wrote no new execution token within %s", commandTimeout)
	return ""
}
