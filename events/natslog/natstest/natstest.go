// Package natstest runs a real embedded NATS server with JetStream for
// tests: no mocks of NATS, each test with its own store directory and port.
package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events/natslog"
)

// Start runs an embedded server in t.TempDir() on a random port and
// connects to it. Everything is shut down by t.Cleanup. The server syncs on
// its interval, not on every write: tests need speed, not crash safety.
func Start(t testing.TB) (url string, js jetstream.JetStream, nc *nats.Conn) {
	t.Helper()
	dir := t.TempDir() // registered first, so removed after the shutdown below
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{
		StoreDir: dir,
		Port:     natslog.RandomPort,
	})
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	nc, js, err = natslog.Connect(url)
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(nc.Close)
	return url, js, nc
}
