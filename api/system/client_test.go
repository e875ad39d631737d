package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// serveOnSocket serves the service's HTTP API on a Unix socket, as the
// executor does for each sandbox, and returns AGORA_URL for it.
func serveOnSocket(t *testing.T, e *economyForTest) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agora.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return "unix://" + sock
}

// spawnClient is what a Go agent in a sandbox does: a local actor that
// answers the service's calls over AGORA_URL.
func spawnClient(t *testing.T, e *economyForTest, url string) *actor.PID {
	t.Helper()
	root := e.service.Root()
	pid, err := system.SpawnClient(root, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.PoisonFuture(pid).Wait() })
	return pid
}

func askAt(t *testing.T, e *economyForTest, pid *actor.PID, call system.Call) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return system.Ask[any](ctx, e.service.Root(), pid, call)
}

// TestClientAnswersAsTheActor: every call, asked of the service's own
// actor and of a client over the Unix socket, gets the same answer, or
// the same typed rejection; a command the actor applied, sent again by the
// client with the same key, answers the first result and applies once.
func TestClientAnswersAsTheActor(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 100)
	e.create("bob", 100)
	token := e.issue("alice", 40, time.Now().Add(time.Minute))
	alice := system.Caller{Token: token}
	client := spawnClient(t, e, serveOnSocket(t, e))

	bid := must[system.BidStatus](t, e, system.PlaceBid{Caller: alice, Key: "b1", Terms: cpuMemTerms(), AmountMicros: events.Credits(30)})
	same := []struct {
		name string
		call system.Call
	}{
		{"transfer", system.Transfer{Caller: alice, Key: "t1", ToAgentID: "bob", AmountMicros: 1_250_000, Memo: "rent"}},
		{"place", system.PlaceBid{Caller: alice, Key: "b1", Terms: cpuMemTerms(), AmountMicros: events.Credits(30)}},
		{"raise", system.RaiseBid{Caller: alice, Key: "r1", BidID: bid.BidID, AmountMicros: events.Credits(31)}},
		{"balance", system.GetBalance{Caller: alice}},
		{"history", system.GetHistory{Caller: alice, Limit: 5}},
		{"markets", system.GetMarketState{Caller: alice}},
		{"bids", system.ListBids{Caller: alice, Resource: "memory_mb", Limit: 10}},
		{"agents", system.ListAgents{Caller: alice, Limit: 1}},
		{"execution", system.GetExecution{Caller: alice}},
		{"config", system.GetConfig{Caller: alice}},
		{"withdraw", system.WithdrawBid{Caller: alice, Key: "w1", BidID: bid.BidID}},
	}
	for _, c := range same {
		direct, err := askAt(t, e, e.service.PID(), c.call)
		if err != nil {
			t.Fatalf("%s by the actor: %v", c.name, err)
		}
		e.settle()
		seq := e.lastSeq()
		remote, err := askAt(t, e, client, c.call)
		if err != nil {
			t.Fatalf("%s by the client: %v", c.name, err)
		}
		if a, b := asJSON(t, direct), asJSON(t, remote); a != b {
			t.Fatalf("%s: the actor answered %s, the client %s", c.name, a, b)
		}
		e.settle()
		if e.lastSeq() != seq {
			t.Fatalf("%s: the client's retry of the actor's command wrote to the log", c.name)
		}
	}
	if a := e.account("alice"); a.BalanceMicros != 98_750_000 || a.HeldMicros != 0 {
		t.Fatalf("alice %s held %s, want 98.75 and nothing held", a.BalanceMicros, a.HeldMicros)
	}
	if tm, err := askAt(t, e, client, system.GetTime{Caller: alice}); err != nil || time.Since(tm.(system.Time).Time) > time.Minute {
		t.Fatalf("time %v %v", tm, err)
	}

	// Commands the client sends first apply as the actor's would.
	if _, err := askAt(t, e, client, system.Transfer{Caller: alice, Key: "t2", ToAgentID: "bob", AmountMicros: 500_000, Memo: "tip"}); err != nil {
		t.Fatal(err)
	}
	terms := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": 1_500_000, "memory_mb": events.WholeUnits(64), "tokens": events.WholeUnits(10)},
		Payload: "next step", BeneficiaryID: "bob"}
	placed, err := askAt(t, e, client, system.PlaceBid{Caller: alice, Key: "b2", Terms: terms, AmountMicros: events.Credits(20)})
	if err != nil {
		t.Fatal(err)
	}
	id := placed.(system.BidStatus).BidID
	if _, err := askAt(t, e, client, system.RaiseBid{Caller: alice, Key: "r2", BidID: id, AmountMicros: 21_500_000}); err != nil {
		t.Fatal(err)
	}
	h := must[system.History](t, e, system.GetHistory{Caller: alice, Limit: 1})
	if tx := h.Transactions[0]; tx.Kind != "transfer_out" || tx.Amount != -500_000 || tx.Memo != "tip" || tx.CounterpartyID != "bob" {
		t.Fatalf("the client's transfer is %+v", tx)
	}
	book := must[system.BidPage](t, e, system.ListBids{Caller: alice, Resource: "tokens"})
	if len(book.Bids) != 1 || asJSON(t, book.Bids[0].Resources) != `{"cpu_seconds":1.5,"memory_mb":64,"tokens":10}` ||
		book.Bids[0].Amount != 21_500_000 || book.Bids[0].BeneficiaryID != "bob" || book.Bids[0].BidID != id {
		t.Fatalf("the client's bid is %+v", book.Bids)
	}
	if a := e.account("alice"); a.HeldMicros != 21_500_000 || a.BalanceMicros != 98_250_000 {
		t.Fatalf("alice %s held %s, want 98.25 and 21.5 held", a.BalanceMicros, a.HeldMicros)
	}
	if _, err := askAt(t, e, client, system.WithdrawBid{Caller: alice, BidID: id}); err != nil {
		t.Fatal(err)
	}

	bobs := e.issue("bob", 0, time.Now().Add(time.Minute))
	theirs := must[system.BidStatus](t, e, system.PlaceBid{Caller: system.Caller{Token: bobs}, Terms: cpuMemTerms(), AmountMicros: events.Credits(20)})
	e.settle()
	seq := e.lastSeq()
	refused := []struct {
		name string
		call system.Call
		want error
	}{
		{"no token", system.GetBalance{}, ticket.ErrUnknownToken},
		{"a made-up token", system.GetBalance{Caller: system.Caller{Token: "nope"}}, ticket.ErrUnknownToken},
		{"negative credits", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: -1}, events.ErrInvalidAmount},
		{"more than the balance", system.Transfer{Caller: alice, ToAgentID: "bob", AmountMicros: events.Credits(500)}, agent.ErrInsufficientCredits},
		{"to self", system.Transfer{Caller: alice, ToAgentID: "alice", AmountMicros: 1}, agent.ErrTransferToSelf},
		{"to nobody", system.Transfer{Caller: alice, ToAgentID: "nobody", AmountMicros: 1}, agent.ErrUnknownAgent},
		{"a bad key", system.WithdrawBid{Caller: alice, Key: "a key", BidID: theirs.BidID}, system.ErrInvalidIdempotencyKey},
		{"a limit too large", system.ListAgents{Caller: alice, Limit: system.AgentsLimitMax + 1}, system.ErrInvalidCall},
		{"a negative quantity", system.PlaceBid{Caller: alice, Terms: events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": -1, "memory_mb": 1}}, AmountMicros: 1}, clearing.ErrInvalidBundle},
		{"an unknown resource", system.PlaceBid{Caller: alice, Terms: events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": 1, "memory_mb": 1, "gpu": 1}}, AmountMicros: events.Credits(10)}, clearing.ErrUnknownResource},
		{"below the reserve", system.PlaceBid{Caller: alice, Terms: cpuMemTerms(), AmountMicros: 1}, clearing.ErrBelowReserve},
		{"another agent's bid", system.WithdrawBid{Caller: alice, BidID: theirs.BidID}, clearing.ErrNotYourBid},
		{"a withdrawn bid", system.RaiseBid{Caller: alice, BidID: bid.BidID, AmountMicros: events.Credits(50)}, clearing.ErrBidNotOpen},
		{"no upstream", system.Infer{Caller: alice, Request: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}, system.ErrNoInference},
		{"a streamed completion", system.Infer{Caller: alice, Request: []byte(`{"messages":[{"role":"user","content":"hi"}],"stream":true}`)}, system.ErrInvalidCall},
		{"not a call", nil, system.ErrUnknownCall},
	}
	for _, c := range refused {
		for who, pid := range map[string]*actor.PID{"actor": e.service.PID(), "client": client} {
			var err error
			if c.call == nil {
				_, err = askRaw(t, e, pid, "hello")
			} else {
				_, err = askAt(t, e, pid, c.call)
			}
			if !errors.Is(err, c.want) {
				t.Errorf("%s, by the %s: got %v, want %v", c.name, who, err, c.want)
			}
		}
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatalf("refused calls wrote to the log: %d -> %d", seq, e.lastSeq())
	}
}

// askRaw sends any message, as a careless Go agent might.
func askRaw(t *testing.T, e *economyForTest, pid *actor.PID, msg any) (any, error) {
	t.Helper()
	answer, err := e.service.Root().RequestFuture(pid, msg, 20*time.Second).Result()
	if err != nil {
		return nil, err
	}
	r := answer.(system.Reply)
	return r.Value, r.Err
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSpawnClientRefusesBadURLs names what AGORA_URL must look like.
func TestSpawnClientRefusesBadURLs(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	for _, url := range []string{"", "unix://", "ftp://host/x", "http://", "::"} {
		if _, err := system.SpawnClient(e.service.Root(), url); !errors.Is(err, system.ErrInvalidOptions) {
			t.Errorf("%q: got %v", url, err)
		}
	}
}
