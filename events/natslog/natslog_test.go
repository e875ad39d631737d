package natslog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/logtest"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newLog starts a server of its own for each log: subtests never share a
// stream, and the server is as real as in production.
func newLog(t *testing.T) (*natslog.Log, jetstream.JetStream) {
	t.Helper()
	_, js, _ := natstest.Start(t)
	l, err := natslog.Open(ctxT(t), js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l, js
}

func TestLogContract(t *testing.T) {
	logtest.Run(t, func(t *testing.T) events.Log {
		l, _ := newLog(t)
		return l
	})
}

func TestStoreContract(t *testing.T) {
	logtest.RunStore(t, func(t *testing.T) events.Store {
		_, js, _ := natstest.Start(t)
		s, err := natslog.NewStore(ctxT(t), js, natslog.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func envelope(id, actor string) events.Envelope {
	return events.Envelope{
		ID:      id,
		Type:    "test_event",
		Schema:  1,
		Subject: events.Subject(events.KindAgent, actor, "test_event"),
		Time:    time.Now().UTC(),
		Data:    json.RawMessage(`{}`),
	}
}

// TestDuplicateMsgID: an append retried with the same envelope (same id)
// returns the first sequence and stores nothing, whether the retry carries
// the old expectation (the server refuses it as a conflict, and the adapter
// finds the first copy) or the new one (the server's duplicate window).
func TestDuplicateMsgID(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	e := envelope("evt-1", "a")
	s1, err := l.Append(ctx, filter, 0, e)
	if err != nil || s1 != 1 {
		t.Fatalf("first append = %d, %v", s1, err)
	}
	// Another actor writes in between: the copy is searched by filter.
	if _, err := l.Append(ctx, events.Filter(events.KindAgent, "b"), 0, envelope("evt-b", "b")); err != nil {
		t.Fatal(err)
	}
	for _, expect := range []uint64{0, s1} {
		s, err := l.Append(ctx, filter, expect, e)
		if err != nil || s != s1 {
			t.Fatalf("retry expecting %d = %d, %v; want %d, nil", expect, s, err, s1)
		}
	}
	// A different event with the stale expectation is still a conflict.
	if _, err := l.Append(ctx, filter, 0, envelope("evt-2", "a")); !errors.Is(err, events.ErrWrongLastSequence) {
		t.Fatalf("other event expecting 0: %v; want ErrWrongLastSequence", err)
	}
	if last, err := l.LastSeq(ctx); err != nil || last != 2 {
		t.Fatalf("LastSeq = %d, %v; want 2 (no copy stored)", last, err)
	}
	// After the first copy, the actor continues from it.
	if s, err := l.Append(ctx, filter, s1, envelope("evt-3", "a")); err != nil || s != 3 {
		t.Fatalf("next append = %d, %v; want 3", s, err)
	}
}

// TestWrongLastSequenceWrapsServerError keeps the server's reason visible.
func TestWrongLastSequenceWrapsServerError(t *testing.T) {
	l, _ := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	if _, err := l.Append(ctx, filter, 0, envelope("x1", "a")); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, filter, 0, envelope("x2", "a"))
	var apiErr *jetstream.APIError
	if !errors.Is(err, events.ErrWrongLastSequence) || !errors.As(err, &apiErr) ||
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("err = %v; want ErrWrongLastSequence wrapping API error 10071", err)
	}
}

func TestEnsureStreamIdempotent(t *testing.T) {
	_, js, _ := natstest.Start(t)
	ctx := ctxT(t)
	l, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	filter := events.Filter(events.KindAgent, "a")
	var last uint64
	for i := range 3 {
		if last, err = l.Append(ctx, filter, last, envelope("e"+string(rune('0'+i)), "a")); err != nil {
			t.Fatal(err)
		}
	}
	s, err := natslog.EnsureStream(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatalf("second EnsureStream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 3 || info.State.LastSeq != 3 {
		t.Fatalf("after second EnsureStream: %d messages, last %d; want 3, 3", info.State.Msgs, info.State.LastSeq)
	}
	c := info.Config
	if c.Name != natslog.DefaultStream || len(c.Subjects) != 1 || c.Subjects[0] != "events.>" ||
		c.Storage != jetstream.FileStorage || c.Retention != jetstream.LimitsPolicy ||
		!c.AllowAtomicPublish || !c.AllowDirect || c.Duplicates != 2*time.Minute ||
		c.MaxMsgs != -1 || c.MaxBytes != -1 || c.MaxAge != 0 || !c.DenyDelete || !c.DenyPurge || c.Replicas != 1 {
		t.Fatalf("stream config not as designed: %+v", c)
	}
	// The log keeps working after the update, from where it was.
	if _, err := l.Append(ctx, filter, last, envelope("e9", "a")); err != nil {
		t.Fatal(err)
	}
	// And the history cannot be erased by accident.
	if err := s.Purge(ctx); err == nil {
		t.Fatal("purge of the event stream succeeded; it must be denied")
	}
	if err := s.DeleteMsg(ctx, 1); err == nil {
		t.Fatal("deleting an event succeeded; it must be denied")
	}
}

func TestNewNeedsStream(t *testing.T) {
	_, js, _ := natstest.Start(t)
	if _, err := natslog.New(ctxT(t), js, ""); err == nil {
		t.Fatal("New without a stream: no error")
	}
}

func TestStoreBucketConfig(t *testing.T) {
	_, js, _ := natstest.Start(t)
	ctx := ctxT(t)
	s, err := natslog.NewStore(ctx, js, natslog.StoreOptions{Bucket: "custom"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "cursor.transfers", []byte("1")); err != nil {
		t.Fatal(err)
	}
	// Idempotent, and keeps values.
	s2, err := natslog.NewStore(ctx, js, natslog.StoreOptions{Bucket: "custom"})
	if err != nil {
		t.Fatalf("second NewStore: %v", err)
	}
	if v, ok, err := s2.Get(ctx, "cursor.transfers"); err != nil || !ok || string(v) != "1" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
	kv, err := js.KeyValue(ctx, "custom")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.History() != 1 || st.BackingStore() != "JetStream" {
		t.Fatalf("bucket status: history %d, store %s", st.History(), st.BackingStore())
	}
	info := st.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if info.Config.Storage != jetstream.FileStorage {
		t.Fatalf("bucket storage %v; want file", info.Config.Storage)
	}
}

// TestRestartKeepsEvents: what was acknowledged is there after the server
// restarts on the same directory, with fsync on every write as in
// production.
func TestRestartKeepsEvents(t *testing.T) {
	dir := t.TempDir()
	start := func() (func(), *natslog.Log) {
		srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: dir, Port: natslog.RandomPort, SyncAlways: true})
		if err != nil {
			t.Fatal(err)
		}
		nc, js, err := natslog.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		l, err := natslog.Open(ctxT(t), js, natslog.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return func() { l.Close(); nc.Close(); srv.Shutdown(); srv.WaitForShutdown() }, l
	}
	stop, l := start()
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	var last uint64
	var err error
	for i := range 5 {
		if last, err = l.Append(ctx, filter, last, envelope("r"+string(rune('0'+i)), "a")); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	stop, l = start()
	defer stop()
	var n int
	if err := l.Read(ctx, filter, 0, func(events.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("%d events after restart; want 5", n)
	}
	if _, err := l.Append(ctx, filter, last, envelope("r9", "a")); err != nil {
		t.Fatalf("append after restart: %v", err)
	}
}

func TestStartEmbeddedPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	start := time.Now()
	srv, _, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: t.TempDir(), Port: port})
	if err == nil {
		srv.Shutdown()
		t.Fatal("StartEmbedded on a taken port: no error")
	}
	if !strings.Contains(err.Error(), "cannot listen") {
		t.Fatalf("error %q does not say the port is taken", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s to report a taken port", d)
	}
}

func TestStartEmbeddedNeedsDir(t *testing.T) {
	if _, _, err := natslog.StartEmbedded(natslog.EmbeddedOptions{}); err == nil {
		t.Fatal("no error without a store directory")
	}
}

// TestReadDeletesItsConsumer: recovering many actors must not leave one
// ephemeral consumer per Read on the server.
func TestReadDeletesItsConsumer(t *testing.T) {
	l, js := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	if _, err := l.Append(ctx, filter, 0, envelope("c1", "a")); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := l.Read(ctx, filter, 0, func(events.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := l.Read(ctx, "events.market.>", 0, func(events.Record) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers left after the reads; want 0", info.State.Consumers)
	}
}

// Scan delivers what Read delivers (a bad record too, as Read delivers
// it), from any sequence, returns fn's error unchanged, and leaves no
// consumer behind.
func TestScanDeliversWhatReadDelivers(t *testing.T) {
	l, js := newLog(t)
	ctx := ctxT(t)
	const n = 700 // more than a chunk of the parallel read
	for i := range n {
		env := envelope(fmt.Sprintf("s%d", i), fmt.Sprintf("a%d", i%7))
		b, err := events.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, env.Subject, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, "events.agent.a1.test_event", []byte("not an envelope")); err != nil {
		t.Fatal(err)
	}
	all := func(read func(context.Context, string, uint64, func(events.Record) error) error, from uint64) []events.Record {
		t.Helper()
		var got []events.Record
		if err := read(ctx, events.SubjectRoot+".>", from, func(r events.Record) error { got = append(got, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, from := range []uint64{0, 1, 300, 10_000} {
		want, got := all(l.Read, from), all(l.Scan, from)
		if from == 0 && len(want) != n+1 {
			t.Fatalf("read delivered %d records; want %d", len(want), n+1)
		}
		if len(got) != len(want) {
			t.Fatalf("from %d: scan delivered %d records, read %d", from, len(got), len(want))
		}
		for i := range want {
			w, g := want[i], got[i]
			if g.Seq != w.Seq || !reflect.DeepEqual(g.Envelope, w.Envelope) || !bytes.Equal(g.Stored, w.Stored) || (g.Bad == nil) != (w.Bad == nil) {
				t.Fatalf("from %d: scan delivered %+v; read %+v", from, g, w)
			}
		}
	}
	stop := errors.New("stop")
	seen := 0
	if err := events.ScanLog(ctx, l, events.SubjectRoot+".>", 1, func(events.Record) error {
		if seen++; seen == 10 {
			return stop
		}
		return nil
	}); err != stop || seen != 10 {
		t.Fatalf("scan stopped after %d records with %v; want %v after 10", seen, err, stop)
	}
	s, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Consumers != 0 {
		t.Fatalf("%d consumers left after the scans; want 0", info.State.Consumers)
	}
}
