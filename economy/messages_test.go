package economy

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	ecofold "github.com/agora-econ/agora/projections/economy"
)

// TestMessagesSettleAcrossARestart stops the economy between a message's
// send and its delivery, with a real JetStream store: one message's
// recipient dies before the transfer manager delivers it, another's
// lives. After the restart the manager settles both, exactly once: the
// first is bounced and its cost returned to the sender, the second
// delivered and burned; the inbox shows it, again after another restart;
// the whole log audits with every cost settled.
func TestMessagesSettleAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)

	// The first run: nothing follows the log, so the messages stay in
	// flight when it stops, as after a crash right after the sends.
	first, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	acc := first.Accounts()
	for id, grant := range map[string]int64{"alice": 10, "bob": 5, "carol": 5} {
		if _, err := acc.Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(grant), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(id, to string) {
		t.Helper()
		if _, err := acc.SendMessage(ctx, "alice", "", agent.SendMessage{MessageID: id, To: to, Content: "hello " + to,
			CostMicros: events.Credits(1), InboxLimit: 10}); err != nil {
			t.Fatal(err)
		}
	}
	send("m-bob", "bob")
	send("m-carol", "carol")
	if _, err := acc.Do(ctx, "bob", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := acc.Get(ctx, "alice"); a.BalanceMicros != events.Credits(8) {
		t.Fatalf("alice holds %s after two sends; want 8", a.BalanceMicros)
	}
	first.Stop()

	// The second run settles what the first left in flight.
	second, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	second.Start()
	settleAll(t, ctx, second)
	if a, _ := second.Accounts().Get(ctx, "alice"); a.BalanceMicros != events.Credits(9) {
		t.Fatalf("alice holds %s after the restart; want 9 (bob's message returned)", a.BalanceMicros)
	}
	if c, _ := second.Accounts().Get(ctx, "carol"); c.UnreadCount() != 1 {
		t.Fatalf("carol has %d unread messages; want 1", c.UnreadCount())
	}
	second.Stop()

	// A third run shows carol's inbox from the read models it resumes.
	third, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	third.Start()
	settleAll(t, ctx, third)
	page, _, err := third.Inbox().Page("carol", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || page[0].ID != "m-carol" || page[0].Content != "hello carol" || page[0].FromAgentID != "alice" || page[0].Read() {
		t.Fatalf("carol's inbox after two restarts: %+v", page)
	}
	if page, _, _ := third.Inbox().Page("bob", 10, ""); len(page) != 0 {
		t.Fatalf("dead bob's inbox holds %+v", page)
	}
	third.Stop()

	// The audit: every event once, every cost settled once.
	eco := ecofold.New()
	counts := map[string]int{}
	err = n.log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
		counts[r.Envelope.Type]++
		return eco.Apply(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("log: %v", counts)
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int{"message_sent": 2, "message_bounced": 1, "message_returned": 1, "message_delivered": 1} {
		if counts[typ] != want {
			t.Errorf("%d %s in the log; want %d", counts[typ], typ, want)
		}
	}
	if s := eco.Summary(); s.OpenMessages != 0 || s.InFlightMicros != 0 || len(eco.Skipped) != 0 {
		t.Fatalf("audit summary %+v", s)
	}
}

// settleAll waits until the managers and the read models have done what
// the log obliges them to, again while their reactions write more.
func settleAll(t *testing.T, ctx context.Context, e *Economy) {
	t.Helper()
	for {
		last, err := e.Log().LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Transfers().WaitFloor(ctx, last); err != nil {
			t.Fatal(err)
		}
		if err := e.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if now, _ := e.Log().LastSeq(ctx); now == last {
			return
		}
	}
}
