package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events/natslog"
)

// openStoreDir opens the log of a stopped economy's data directory (or of
// a new one) the way a test needs it: its own embedded server on the store,
// on a random port, and the stream. close must be called before anything
// else (the binary) opens the directory: two servers on one store would
// corrupt it.
func openStoreDir(t *testing.T, ctx context.Context, dir string) (js jetstream.JetStream, log *natslog.Log, close func()) {
	t.Helper()
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats"), Port: natslog.RandomPort})
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := natslog.Connect(url)
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	log, err = natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		nc.Close()
		srv.Shutdown()
		t.Fatal(err)
	}
	return js, log, func() {
		log.Close()
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}
