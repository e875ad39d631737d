package system_test

import (
	"net/http"
	"testing"
	"time"
)

// TestRetriedCommandsApplyOnce: each command retried with the same
// Idempotency-Key answers the first result and applies once; the same key
// from another agent, or on another route, is another command.
func TestRetriedCommandsApplyOnce(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	alice := e.issue("alice", 0, time.Now().Add(time.Minute))
	bob := e.issue("bob", 0, time.Now().Add(time.Minute))
	key := []string{"Idempotency-Key", "retry-1"}

	// A transfer: the same transfer id twice, one debit, one credit.
	first := e.ok(e.call("POST", "/economic/transfer", alice, map[string]any{"to_agent_id": "bob", "amount": 10}, key...))
	e.settle()
	seq := e.lastSeq()
	again := e.ok(e.call("POST", "/economic/transfer", alice, map[string]any{"to_agent_id": "bob", "amount": 10}, key...))
	if first["transfer_id"] != again["transfer_id"] {
		t.Fatalf("a retried transfer answered %v, then %v", first, again)
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatal("a retried transfer wrote to the log")
	}
	if a, b := e.account("alice"), e.account("bob"); a.BalanceMicros != 90_000_000 || b.BalanceMicros != 110_000_000 {
		t.Fatalf("alice %s bob %s, want 90 and 110", a.BalanceMicros, b.BalanceMicros)
	}
	if h := e.ok(e.call("GET", "/economic/history", alice, nil)); len(h["transactions"].([]any)) != 2 {
		t.Fatalf("history %v, want the grant and one transfer", h)
	}

	// A bid, same key on another route: a new command, not the transfer.
	bid := e.ok(e.call("POST", "/market/bid", alice, bundle(30), key...))
	bidID := bid["bid_id"].(string)
	e.settle()
	seq = e.lastSeq()
	if again := e.ok(e.call("POST", "/market/bid", alice, bundle(30), key...)); again["bid_id"] != bidID || again["status"] != "open" {
		t.Fatalf("a retried bid answered %v, then %v", bid, again)
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatal("a retried bid wrote to the log")
	}
	if a := e.account("alice"); a.HeldMicros != 30_000_000 || len(a.Holds) != 1 {
		t.Fatalf("alice holds %v (%s), want one hold of 30", a.Holds, a.HeldMicros)
	}
	if book := e.ok(e.call("GET", "/market/bids", alice, nil)); len(book["bids"].([]any)) != 1 {
		t.Fatalf("book %v, want one bid", book)
	}

	// Bob's key is bob's: the same header places bob's own bid.
	if theirs := e.ok(e.call("POST", "/market/bid", bob, bundle(25), key...)); theirs["bid_id"] == bidID {
		t.Fatal("bob's call with alice's key answered alice's bid")
	}

	// A raise: held grows once.
	for range 2 {
		e.ok(e.call("PATCH", "/market/bid/"+bidID, alice, map[string]any{"amount": 35}, key...))
	}
	if a := e.account("alice"); a.HeldMicros != 35_000_000 {
		t.Fatalf("held %s after a retried raise, want 35", a.HeldMicros)
	}

	// A withdrawal: the retry answers as the first did; without the key a
	// second withdrawal finds the bid gone.
	for range 2 {
		out := e.ok(e.call("DELETE", "/market/bid/"+bidID, alice, nil, key...))
		wantJSON(t, out, map[string]string{"bid_id": bidID, "status": "withdrawn"})
	}
	e.problem(e.call("DELETE", "/market/bid/"+bidID, alice, nil), http.StatusConflict, "bid not open")
	if a := e.account("alice"); a.HeldMicros != 0 || a.BalanceMicros != 90_000_000 {
		t.Fatalf("after the withdrawal alice holds %s of %s", a.HeldMicros, a.BalanceMicros)
	}
}
