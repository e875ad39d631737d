package natslog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/events/natslog"
)

// TestAnAppendStopsWaitingWhenItsConnectionIsLost: an append whose
// server dies before answering (a cluster node, killed) returns
// ErrConnLost as soon as the client notices, not at its timeout: the
// actor recovers from the log at once and a retry can go to another
// node. The wait here is bounded only by a deadline far beyond any
// notice, so the answer must come from the loss of the connection.
func TestAnAppendStopsWaitingWhenItsConnectionIsLost(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: t.TempDir(), Port: natslog.RandomPort})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, js, err := natslog.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	l, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Something receives the message and never answers, as a server that
	// dies with it.
	other, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	received := make(chan struct{}, 1)
	if _, err := other.Subscribe("silent.x", func(*nats.Msg) { received <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	if err := other.Flush(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := natslog.PublishWithAnswer(l, ctx, "silent.x", []byte("{}"))
		done <- err
	}()
	select {
	case <-received:
	case err := <-done:
		t.Fatalf("the publish ended before the server had it: %v", err)
	}
	srv.Shutdown()
	if err := <-done; !errors.Is(err, natslog.ErrConnLost) {
		t.Fatalf("an append whose connection was lost: %v; want ErrConnLost", err)
	}
}
