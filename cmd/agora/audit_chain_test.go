package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections/economy"
)

// stored is one message of the stream as JetStream holds it.
type stored struct {
	subject string
	data    []byte
}

func (s stored) envelope(t *testing.T) events.Envelope {
	t.Helper()
	env, err := events.Unmarshal(s.data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// smallEconomy runs four agents through the account actors and the
// transfer manager on a real embedded JetStream (burns and transfers,
// interleaved, so that each actor's events are spread over the stream) and
// returns every message of the stream as stored.
func smallEconomy(t *testing.T) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, js, _ := natstest.Start(t)
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	h, err := runtime.NewHost(log, store, runtime.Options{SnapshotEvery: 3}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Stop()
	acc := agent.NewAccounts(h)
	mr, err := runtime.NewManagerRunner(agent.TransferManager(), h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mr.Run(mctx) }()
	ids := []string{"a", "b", "c", "d"}
	for _, id := range ids {
		if _, err := acc.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(100), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 4 {
		for i, id := range ids {
			if _, err := acc.Do(ctx, id, "", agent.Burn{AmountMicros: events.Credits(1), Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			to := ids[(i+1)%len(ids)]
			if _, err := acc.Transfer(ctx, id, "", agent.Transfer{TransferID: fmt.Sprintf("t%d-%s", round, id), To: to,
				AmountMicros: events.Credits(2)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Settled: every transfer received.
	for {
		last, err := log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := mr.WaitFloor(ctx, last); err != nil {
			t.Fatal(err)
		}
		if now, _ := log.LastSeq(ctx); now == last {
			break
		}
	}
	stop()
	if err := <-done; err != nil && ctx.Err() == nil && mctx.Err() == nil {
		t.Fatal(err)
	}
	last, err := log.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]stored, 0, last)
	for seq := uint64(1); seq <= last; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{subject: m.Subject, data: m.Data})
	}
	return out
}

// copyLog writes msgs, in order, into the stream of a new data directory
// (a fresh embedded server on a store of its own) and returns the
// directory: a copy of the log as `agora audit --data` reads it.
func copyLog(t *testing.T, msgs []stored) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	js, _, closeLog := openStoreDir(t, ctx, dir)
	defer closeLog()
	for i, m := range msgs {
		ack, err := js.Publish(ctx, m.subject, m.data)
		if err != nil {
			t.Fatal(err)
		}
		if ack.Sequence != uint64(i+1) {
			t.Fatalf("message %d stored at sequence %d", i+1, ack.Sequence)
		}
	}
	return dir
}

// auditCopy runs `agora audit --json` on a copy and returns its report and
// the plain run's result.
func auditCopy(t *testing.T, dir string) (auditReport, result) {
	t.Helper()
	r := runAgora(t, "audit", "--data", dir, "--json")
	var rep auditReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r)
	}
	return rep, runAgora(t, "audit", "--data", dir)
}

// TestAuditFindsTheFirstBrokenLink: a log written by the actors passes the
// audit; copies of it with one record edited, deleted or inserted fail it
// at exactly the record where the history stops being the one written,
// with the reason and the hashes expected and found. The edit and the
// deletion keep every economic invariant (a burn of another amount, a burn
// gone): only the chain sees them.
func TestAuditFindsTheFirstBrokenLink(t *testing.T) {
	log := smallEconomy(t)
	actorOf := func(m stored) string { a, _ := chain.Actor(m.subject); return a }
	// x is b's second burn; before and after are b's records around it.
	x, burns := -1, 0
	for i, m := range log {
		if actorOf(m) == "events.agent.b" && strings.HasSuffix(m.subject, ".credits_burned") {
			if burns++; burns == 2 {
				x = i
				break
			}
		}
	}
	before, after := -1, -1
	for i := x - 1; i >= 0 && before < 0; i-- {
		if actorOf(log[i]) == "events.agent.b" {
			before = i
		}
	}
	for i := x + 1; i < len(log) && after < 0; i++ {
		if actorOf(log[i]) == "events.agent.b" {
			after = i
		}
	}
	if x < 0 || before < 0 || after < 0 {
		t.Fatalf("the economy did not give b a second burn between two of its records (x %d, before %d, after %d)", x, before, after)
	}
	seq := func(i int) uint64 { return uint64(i + 1) }
	with := func(i int, m ...stored) []stored {
		return append(append(append([]stored(nil), log[:i]...), m...), log[i:]...)
	}
	rewrite := func(m stored, f func(*events.Envelope)) stored {
		env := m.envelope(t)
		f(&env)
		b, err := events.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		return stored{subject: env.Subject, data: b}
	}
	xHash, beforeHash := chain.Sum(log[x].data), chain.Sum(log[before].data)
	if got := log[after].envelope(t).Prev; got != xHash {
		t.Fatalf("b's record after the burn names %s, the burn hashes to %s", got, xHash)
	}

	edited := append([]stored(nil), log...)
	edited[x] = rewrite(log[x], func(e *events.Envelope) {
		e.Data = json.RawMessage(strings.Replace(string(e.Data), `"amount_micros":1000000`, `"amount_micros":3000000`, 1))
	})
	if string(edited[x].data) == string(log[x].data) {
		t.Fatalf("the edit changed nothing: %s", log[x].data)
	}
	deleted := append(append([]stored(nil), log[:x]...), log[x+1:]...)
	forged := rewrite(log[x], func(e *events.Envelope) { e.ID, e.Prev = events.NewID(), xHash })
	unlinked := rewrite(log[x], func(e *events.Envelope) { e.ID, e.Prev = events.NewID(), "" })

	cases := []struct {
		name     string
		msgs     []stored
		seq      uint64
		reason   string
		expected string
		found    string
	}{
		{"edited: b's next record names the original", edited, seq(after), chain.ReasonMismatch, chain.Sum(edited[x].data), xHash},
		{"deleted: b's next record names the deleted one", deleted, seq(after - 1), chain.ReasonMismatch, beforeHash, xHash},
		{"inserted, linked by the forger: b's next record names the one before it", with(x+1, forged), seq(after + 1),
			chain.ReasonMismatch, chain.Sum(forged.data), xHash},
		{"inserted without a prev (nats pub)", with(x+1, unlinked), seq(x + 1), chain.ReasonMissing, xHash, ""},
	}

	t.Run("untouched copy", func(t *testing.T) {
		rep, plain := auditCopy(t, copyLog(t, log))
		if !rep.OK || rep.ChainBreak != nil || rep.Chain.Actors != 4 || rep.Chain.Linked != uint64(len(log)-4) ||
			rep.Chain.Unlinked != 0 || rep.Chain.ChainedFrom == 0 {
			t.Fatalf("audit of the untouched copy: %+v", rep)
		}
		if plain.code != 0 || !strings.Contains(plain.stdout, fmt.Sprintf("chain        4 actors, %d events linked\n", len(log)-4)) {
			t.Fatalf("plain audit: %s", plain)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, plain := auditCopy(t, copyLog(t, c.msgs))
			b := rep.ChainBreak
			if rep.OK || b == nil {
				t.Fatalf("the audit passed: %+v", rep)
			}
			if b.Seq != c.seq || b.Subject != c.msgs[c.seq-1].subject || b.Reason != c.reason || b.Expected != c.expected || b.Found != c.found {
				t.Fatalf("break %+v\nwant seq %d (%s), %s, expected %s, found %q", b, c.seq, c.msgs[c.seq-1].subject, c.reason, c.expected, c.found)
			}
			if rep.Violation != nil {
				t.Errorf("an invariant reported besides the chain: %+v", rep.Violation)
			}
			want := fmt.Sprintf("audit failed at stream sequence %d: hash chain broken: seq %d (%s): %s", c.seq, c.seq, b.Subject, c.reason)
			if plain.code != 1 || !strings.Contains(plain.stderr, want) {
				t.Fatalf("plain audit: want exit 1 and %q:\n%s", want, plain)
			}
		})
	}
	// Without the chain the edit and the deletion would pass: the
	// economy's invariants hold on both copies.
	for name, msgs := range map[string][]stored{"edited": edited, "deleted": deleted} {
		eco := economy.New()
		for i, m := range msgs {
			if err := eco.Apply(events.Record{Seq: seq(i), Envelope: m.envelope(t)}); err != nil {
				t.Fatalf("%s copy: the economy sees it: %v", name, err)
			}
		}
	}
}

// TestAuditOfALogWrittenBeforeChaining: a log whose events carry no prev
// (written before chaining) passes and says its links were not verified.
func TestAuditOfALogWrittenBeforeChaining(t *testing.T) {
	log := smallEconomy(t)
	for i, m := range log {
		env := m.envelope(t)
		env.Prev = ""
		b, err := events.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		log[i].data = b
	}
	rep, plain := auditCopy(t, copyLog(t, log))
	if !rep.OK || rep.Chain.Linked != 0 || rep.Chain.Unlinked != uint64(len(log)-4) || rep.Chain.ChainedFrom != 0 {
		t.Fatalf("audit of a log written before chaining: %+v", rep)
	}
	if plain.code != 0 || !strings.Contains(plain.stdout, "written before chaining: not verified") {
		t.Fatalf("plain audit: %s", plain)
	}
}
