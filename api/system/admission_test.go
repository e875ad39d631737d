package system_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/api/apitest"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/history"
)

// send makes one request from any goroutine (apitest.Call stops the test,
// which only the test's own goroutine may do); key, if not empty, is the
// Idempotency-Key.
func send(e *economyForTest, method, path, token string, body any, key string) (apitest.Answer, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return apitest.Answer{}, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.server.URL+path, r)
	if err != nil {
		return apitest.Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return apitest.Answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return apitest.Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// heldEconomy is an economy whose service answers 2 calls at once, a call
// waiting at most wait for room, and whose inference upstream holds every
// request until released: two inference calls fill the service.
type heldEconomy struct {
	*economyForTest
	up      *upstream
	release func()
	alice   string // alice's token, with tokens for inference
}

func startHeld(t *testing.T, wait time.Duration) *heldEconomy {
	t.Helper()
	u := startUpstream(t)
	u.set(func(u *upstream) { u.gate, u.arrived = make(chan struct{}), make(chan struct{}, 16) })
	var once sync.Once
	release := func() { once.Do(func() { close(u.gate) }) }
	o := inferenceOptions(t, u)
	o.inference.Timeout = time.Minute
	o.inFlight, o.admissionWait = 2, wait
	e := startEconomy(t, o)
	t.Cleanup(release) // before the upstream closes: it waits for the held requests
	e.create("alice", 100)
	e.create("bob", 100)
	return &heldEconomy{economyForTest: e, up: u, release: release, alice: e.issue("alice", 1000, time.Now().Add(time.Hour))}
}

// fill sends two inference calls and returns once the upstream holds both,
// that is once both are in flight; wait returns when they have been
// answered, and fails the test unless both were 200.
func (h *heldEconomy) fill(t *testing.T) (wait func()) {
	t.Helper()
	answers := make(chan apitest.Answer, 2)
	for range 2 {
		go func() {
			a, err := send(h.economyForTest, "POST", "/intelligence/inference", h.alice, chat(), "")
			if err != nil {
				a = apitest.Answer{Body: []byte(err.Error())}
			}
			answers <- a
		}()
	}
	for range 2 {
		select {
		case <-h.up.arrived:
		case <-time.After(20 * time.Second):
			t.Fatal("the inference calls did not reach the upstream")
		}
	}
	return func() {
		t.Helper()
		for range 2 {
			if a := <-answers; a.Status != http.StatusOK {
				t.Errorf("a held inference call answered %d %s", a.Status, a.Body)
			}
		}
	}
}

// transfer is one call of the tests below: its key and its amount, distinct
// for every call, so that a call lost or applied twice shows in the sums.
type transfer struct {
	key    string
	micros events.Micros
}

func transfers(n int) []transfer {
	ts := make([]transfer, n)
	for i := range ts {
		ts[i] = transfer{key: fmt.Sprintf("t-%02d", i), micros: events.Micros(1000 + i)}
	}
	return ts
}

func (tr transfer) body() map[string]any {
	return map[string]any{"to_agent_id": "bob", "amount": events.CreditsJSON(tr.micros)}
}

// applied checks that every transfer of ts was applied once: alice's
// balance and bob's moved by their sum, and alice's history holds exactly
// one transfer_out of each amount.
func applied(t *testing.T, e *economyForTest, ts []transfer) {
	t.Helper()
	e.settle()
	var sum events.Micros
	want := map[events.Micros]int{}
	for _, tr := range ts {
		sum += tr.micros
		want[tr.micros]++
	}
	if a, b := e.account("alice"), e.account("bob"); a.BalanceMicros != events.Credits(100)-sum || b.BalanceMicros != events.Credits(100)+sum {
		t.Fatalf("alice %s, bob %s: want %s and %s", a.BalanceMicros, b.BalanceMicros, events.Credits(100)-sum, events.Credits(100)+sum)
	}
	got := map[events.Micros]int{}
	for _, tx := range e.history.ForAgent("alice", 1000) {
		if tx.Kind == history.KindTransferOut {
			got[-tx.AmountMicros]++
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("alice's transfers out %v, want one of each of %v", got, want)
	}
}

// TestCallsPastTheBoundWait: with the service full, calls by both doors
// wait for room (a call refused for a bad field does not: it is told at
// once), nothing they ask is done while they wait, and once room comes
// each is answered, applied once; a retry with the same key answers the
// same transfer and applies nothing more.
func TestCallsPastTheBoundWait(t *testing.T) {
	h := startHeld(t, time.Hour)
	h.settle()
	before := h.lastSeq()
	held := h.fill(t)

	ts := transfers(6)
	receipts := make([]apitest.Answer, len(ts))
	var wg sync.WaitGroup
	for i, tr := range ts {
		wg.Go(func() {
			a, err := send(h.economyForTest, "POST", "/economic/transfer", h.alice, tr.body(), tr.key)
			if err != nil {
				a = apitest.Answer{Body: []byte(err.Error())}
			}
			receipts[i] = a
		})
	}
	balance := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := system.Ask[system.Balance](ctx, h.service.Root(), h.service.PID(), system.GetBalance{Caller: system.Caller{Token: h.alice}})
		balance <- err
	}()
	h.waiting(t, len(ts)+1)

	// A bad call is refused at once, full as the service is.
	bad := system.Transfer{Caller: system.Caller{Token: h.alice}, ToAgentID: "bob", AmountMicros: 1, Memo: strings.Repeat("m", system.MemoLengthMax+1)}
	if _, err := ask[system.TransferReceipt](t, h.economyForTest, bad); !errors.Is(err, system.ErrInvalidCall) {
		t.Fatalf("a memo too long, while the service is full: got %v", err)
	}
	h.settle()
	if h.lastSeq() != before {
		t.Fatalf("calls waiting for room wrote to the log: %d -> %d", before, h.lastSeq())
	}

	h.release()
	held()
	wg.Wait()
	if err := <-balance; err != nil {
		t.Fatalf("the Go agent's balance, once room came: %v", err)
	}
	ids := map[string]string{}
	for i, a := range receipts {
		ids[ts[i].key] = jsonText(h.ok(a)["transfer_id"])
	}
	applied(t, h.economyForTest, ts)
	seq := h.lastSeq()
	for _, tr := range ts {
		if got := jsonText(h.ok(h.call("POST", "/economic/transfer", h.alice, tr.body(), "Idempotency-Key", tr.key))["transfer_id"]); got != ids[tr.key] {
			t.Fatalf("%s retried answered %s, first %s", tr.key, got, ids[tr.key])
		}
	}
	h.settle()
	if h.lastSeq() != seq {
		t.Fatal("retried transfers wrote to the log")
	}
}

// waiting waits until n calls wait for room.
func (h *heldEconomy) waiting(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for h.service.Waiting() != n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d calls wait for room, want %d", h.service.Waiting(), n)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestCallsPastTheBoundAreRefused: with the service full and no room
// coming within the wait, a call by either door is refused with ErrBusy
// (over HTTP a 503 problem+json saying why, and Retry-After) and does
// nothing; retried with its key once room comes, each applies once.
func TestCallsPastTheBoundAreRefused(t *testing.T) {
	h := startHeld(t, time.Millisecond)
	h.settle()
	before := h.lastSeq()
	held := h.fill(t)

	ts := transfers(4)
	for _, tr := range ts {
		a := h.call("POST", "/economic/transfer", h.alice, tr.body(), "Idempotency-Key", tr.key)
		h.problem(a, http.StatusServiceUnavailable, "as many calls as it may at once", "2 calls in flight", "retry with the same Idempotency-Key")
		if ra := a.Header.Get("Retry-After"); ra != "1" {
			t.Fatalf("Retry-After %q, want 1", ra)
		}
	}
	if _, err := ask[system.TransferReceipt](t, h.economyForTest, system.Transfer{Caller: system.Caller{Token: h.alice},
		Key: "by-actor", ToAgentID: "bob", AmountMicros: 999}); !errors.Is(err, system.ErrBusy) {
		t.Fatalf("the actor, full: got %v, want ErrBusy", err)
	}
	h.settle()
	if h.lastSeq() != before {
		t.Fatalf("refused calls wrote to the log: %d -> %d", before, h.lastSeq())
	}

	h.release()
	held()
	ts = append(ts, transfer{key: "by-actor", micros: 999})
	for _, tr := range ts {
		first := jsonText(h.ok(h.call("POST", "/economic/transfer", h.alice, tr.body(), "Idempotency-Key", tr.key))["transfer_id"])
		again := jsonText(h.ok(h.call("POST", "/economic/transfer", h.alice, tr.body(), "Idempotency-Key", tr.key))["transfer_id"])
		if first != again {
			t.Fatalf("%s: %s, then %s", tr.key, first, again)
		}
	}
	applied(t, h.economyForTest, ts)
}

// TestCallsPastTheBoundRetried: many callers at once, far past the bound,
// each retrying with its key whenever it is refused, then once more after
// its answer: every transfer is applied, once, and every retry answers the
// same transfer.
func TestCallsPastTheBoundRetried(t *testing.T) {
	e := startEconomy(t, harnessOptions{inFlight: 2, admissionWait: time.Millisecond})
	e.create("alice", 100)
	e.create("bob", 100)
	alice := e.issue("alice", 0, time.Now().Add(time.Hour))
	ts := transfers(24)
	errs := make(chan error, len(ts))
	var wg sync.WaitGroup
	busy := make([]int, len(ts))
	for i, tr := range ts {
		wg.Go(func() {
			var ids []string
			for len(ids) < 2 {
				a, err := send(e, "POST", "/economic/transfer", alice, tr.body(), tr.key)
				switch {
				case err != nil:
					errs <- err
					return
				case a.Status == http.StatusServiceUnavailable && a.Header.Get("Retry-After") == "1":
					busy[i]++
					continue
				case a.Status != http.StatusOK:
					errs <- fmt.Errorf("%s: %d %s", tr.key, a.Status, a.Body)
					return
				}
				var r system.TransferReceipt
				if err := json.Unmarshal(a.Body, &r); err != nil {
					errs <- err
					return
				}
				ids = append(ids, r.TransferID)
			}
			if ids[0] != ids[1] {
				errs <- fmt.Errorf("%s answered %s, then %s", tr.key, ids[0], ids[1])
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	applied(t, e, ts)
	refused := 0
	for _, n := range busy {
		refused += n
	}
	t.Logf("%d calls refused busy and retried", refused)
}
