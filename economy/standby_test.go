package economy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestALateAppendOfTheOldNodeIsRefused: two economies on one log, as a
// node that lost the lease and the node that took over. Both have loaded
// the same agent; the new node appends for it; then the old node's actor,
// which still holds the agent as it was, appends: the log refuses it (its
// expected last sequence is no longer the agent's), and nothing changes:
// not the log, not the agent as the new node holds it.
func TestALateAppendOfTheOldNodeIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	old := openTest(t, ctx)
	const id = "shared"
	if _, err := old.Accounts().Do(ctx, id, "create", agent.Create{GrantMicros: events.Credits(100), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Accounts().Do(ctx, id, "old-1", agent.Burn{AmountMicros: events.Credits(1), Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	// The new node: the same server, reached as a node of nats.url does.
	cfg := old.Node().Config()
	cfg.Nats.URL, cfg.Data.Dir = old.Node().URL(), filepath.Join(t.TempDir(), "data")
	n, err := OpenNode(ctx, cfg, NodeOptions{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	taken, err := Open(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(taken.Stop)
	taken.Start()
	if _, err := taken.Accounts().Do(ctx, id, "new-1", agent.Grant{AmountMicros: events.Credits(5), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	before, err := n.Log().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := taken.Accounts().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	_, err = old.Accounts().Do(ctx, id, "old-2", agent.Burn{AmountMicros: events.Credits(1), Reason: "test"})
	if !errors.Is(err, runtime.ErrConflict) {
		t.Fatalf("the old node's late append: %v; want %v", err, runtime.ErrConflict)
	}
	after, err := n.Log().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the log went from sequence %d to %d on a refused append", before, after)
	}
	got, err := taken.Accounts().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.BalanceMicros != want.BalanceMicros || got.BalanceMicros != events.Credits(104) {
		t.Fatalf("the agent holds %d after the refused append; want %d (100 - 1 + 5)", got.BalanceMicros, events.Credits(104))
	}
}
