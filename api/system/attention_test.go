package system_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// TestPromptDoorsAnswerAlike: the attention calls, made by the actor (the
// Go agents' door) and then over HTTP with the same key, answer alike and
// apply once; a call either door refuses is refused by the other with the
// same typed rejection, and changes nothing.
func TestPromptDoorsAnswerAlike(t *testing.T) {
	now := time.Now()
	e := startEconomy(t, harnessOptions{now: func() time.Time { return now }})
	e.create("alice", 300)
	e.create("bob", 300)
	token := e.issue("alice", 0, now.Add(time.Hour))
	alice := system.Caller{Token: token}
	bob := system.Caller{Token: e.issue("bob", 0, now.Add(time.Hour))}
	// Bob's prompt is in front of the human: alice's wait.
	shown := must[system.PromptStatus](t, e, system.PlacePrompt{Caller: bob, Content: "bob's", AmountMicros: events.Credits(50)})
	e.settle()
	first := must[system.PromptStatus](t, e, system.PlacePrompt{Caller: alice, Key: "a0", Content: "alice's", AmountMicros: events.Credits(60)})
	if first.Status != attention.StatusWaiting || first.Position != 1 {
		t.Fatalf("alice's prompt: %+v", first)
	}
	e.settle()
	for _, k := range []struct {
		name string
		call system.Call
		http viaHTTP
	}{
		{"place", system.PlacePrompt{Caller: alice, Key: "a1", Content: "second", AmountMicros: 55_500_000},
			viaHTTP{"POST", "/attention/prompt", map[string]any{"content": "second", "bid_amount": 55.5}, "a1"}},
		{"raise", system.RaisePrompt{Caller: alice, Key: "r1", PromptID: first.PromptID, AmountMicros: events.Credits(70)},
			viaHTTP{"PATCH", "/attention/prompt/" + first.PromptID, map[string]any{"bid_amount": 70}, "r1"}},
		{"queue", system.GetAttentionQueue{Caller: alice}, viaHTTP{"GET", "/attention/queue", nil, ""}},
		{"withdraw", system.WithdrawPrompt{Caller: alice, Key: "w1", PromptID: first.PromptID},
			viaHTTP{"DELETE", "/attention/prompt/" + first.PromptID, nil, "w1"}},
	} {
		byActor, err := ask[any](t, e, k.call)
		if err != nil {
			t.Fatalf("%s by the actor: %v", k.name, err)
		}
		e.settle()
		seq := e.lastSeq()
		a := k.http.send(e, token)
		if a.Status != http.StatusOK {
			t.Fatalf("%s over HTTP: %d %s", k.name, a.Status, a.Body)
		}
		if want, got := canonical(t, []byte(asJSON(t, byActor))), canonical(t, a.Body); got != want {
			t.Fatalf("%s: the actor answered %s, HTTP %s", k.name, want, got)
		}
		e.settle()
		if e.lastSeq() != seq {
			t.Fatalf("%s: HTTP's retry of the actor's command wrote to the log", k.name)
		}
	}
	if a := e.account("alice"); a.HeldMicros != 55_500_000 || a.BalanceMicros != events.Credits(300) {
		t.Fatalf("alice: %+v; want her one waiting prompt's 55.5 held", a)
	}

	seq := e.lastSeq()
	for _, c := range []struct {
		name   string
		call   system.Call
		http   *viaHTTP // nil: the HTTP door cannot carry it
		want   error
		status int
	}{
		{"below the price", system.PlacePrompt{Caller: alice, Content: "c", AmountMicros: events.Credits(49)},
			&viaHTTP{"POST", "/attention/prompt", map[string]any{"content": "c", "bid_amount": 49}, ""}, attention.ErrBelowReserve, 422},
		{"more than available", system.PlacePrompt{Caller: alice, Content: "c", AmountMicros: events.Credits(300)},
			&viaHTTP{"POST", "/attention/prompt", map[string]any{"content": "c", "bid_amount": 300}, ""}, agent.ErrInsufficientCredits, 409},
		{"too long", system.PlacePrompt{Caller: alice, Content: string(make([]byte, attention.PromptBytesMax+1)), AmountMicros: events.Credits(50)},
			&viaHTTP{"POST", "/attention/prompt", map[string]any{"content": string(make([]byte, attention.PromptBytesMax+1)), "bid_amount": 50}, ""},
			attention.ErrInvalidPrompt, 422},
		{"not UTF-8", system.PlacePrompt{Caller: alice, Content: "\xff", AmountMicros: events.Credits(50)}, nil, attention.ErrInvalidPrompt, 0},
		{"bob's prompt", system.WithdrawPrompt{Caller: alice, PromptID: shown.PromptID},
			&viaHTTP{"DELETE", "/attention/prompt/" + shown.PromptID, nil, ""}, attention.ErrUnknownPrompt, 404},
		{"a withdrawn prompt", system.RaisePrompt{Caller: alice, PromptID: first.PromptID, AmountMicros: events.Credits(99)},
			&viaHTTP{"PATCH", "/attention/prompt/" + first.PromptID, map[string]any{"bid_amount": 99}, ""}, attention.ErrUnknownPrompt, 404},
	} {
		_, err := ask[any](t, e, c.call)
		if !errors.Is(err, c.want) {
			t.Fatalf("%s by the actor: got %v, want %v", c.name, err, c.want)
		}
		if c.http == nil {
			continue
		}
		if detail := e.problem(c.http.send(e, token), c.status); detail != err.Error() {
			t.Fatalf("%s: the actor refused %q, HTTP %q", c.name, err, detail)
		}
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatalf("refused calls wrote to the log: %d -> %d", seq, e.lastSeq())
	}
}

// TestPromptClientAnswersAsTheActor: a Go agent's client (the actor that
// makes its calls over AGORA_URL) answers the attention calls as the
// service's actor does, and a retry by the client applies nothing more.
func TestPromptClientAnswersAsTheActor(t *testing.T) {
	e := startEconomy(t, harnessOptions{})
	e.create("alice", 300)
	e.create("bob", 300)
	alice := system.Caller{Token: e.issue("alice", 0, time.Now().Add(time.Minute))}
	must[system.PromptStatus](t, e, system.PlacePrompt{Caller: system.Caller{Token: e.issue("bob", 0, time.Now().Add(time.Minute))},
		Content: "shown", AmountMicros: events.Credits(50)})
	client := spawnClient(t, e, serveOnSocket(t, e))
	first := must[system.PromptStatus](t, e, system.PlacePrompt{Caller: alice, Key: "p1", Content: "mine", AmountMicros: events.Credits(60)})
	e.settle()
	for _, c := range []struct {
		name string
		call system.Call
	}{
		{"place", system.PlacePrompt{Caller: alice, Key: "p1", Content: "mine", AmountMicros: events.Credits(60)}},
		{"raise", system.RaisePrompt{Caller: alice, Key: "r1", PromptID: first.PromptID, AmountMicros: events.Credits(61)}},
		{"queue", system.GetAttentionQueue{Caller: alice}},
		{"withdraw", system.WithdrawPrompt{Caller: alice, Key: "w1", PromptID: first.PromptID}},
	} {
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
	if _, err := askAt(t, e, client, system.PlacePrompt{Caller: alice, Content: "", AmountMicros: events.Credits(60)}); !errors.Is(err, attention.ErrInvalidPrompt) {
		t.Fatalf("an empty prompt by the client: %v", err)
	}
}
