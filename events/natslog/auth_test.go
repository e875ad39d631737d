package natslog_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// secured is an embedded server with users, as agora runs it: Agora's
// connection has written one event, a snapshot in agora_state and a
// market in market_state.
type secured struct {
	url   string
	agora jetstream.JetStream
	log   *natslog.Log
	last  uint64
}

var testAccess = natslog.Access{Private: []string{"agora_state"}, Watched: []string{"market_state"}}

func startSecured(t *testing.T) secured {
	t.Helper()
	dir := t.TempDir()
	pw, err := natslog.LoadOrCreatePassword(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{
		StoreDir: filepath.Join(dir, "nats"), Port: natslog.RandomPort, Password: pw, Access: testAccess,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, js, err := natslog.Connect(url, nats.UserInfo(natslog.AgoraUser, pw), nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx := ctxT(t)
	l, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	last, err := l.Append(ctx, events.Filter(events.KindAgent, "genesis"), 0, envelope("e1", "genesis"))
	if err != nil {
		t.Fatalf("Agora's append: %v", err)
	}
	for _, b := range []string{"agora_state", "market_state"} {
		st, err := natslog.NewStore(ctx, js, natslog.StoreOptions{Bucket: b})
		if err != nil {
			t.Fatalf("Agora's bucket %s: %v", b, err)
		}
		if err := st.Put(ctx, "cpu_seconds", []byte(`{"price":5}`)); err != nil {
			t.Fatalf("Agora's put in %s: %v", b, err)
		}
	}
	return secured{url: url, agora: js, log: l, last: last}
}

// observer connects with no credentials and collects the errors the
// server reports asynchronously (permission violations).
func observer(t *testing.T, url string) (*nats.Conn, jetstream.JetStream, <-chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("an observer without credentials is refused: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, errs
}

// nextViolation returns the next permission violation the server
// reports (other asynchronous errors are skipped), or nil if ctx ends
// first.
func nextViolation(ctx context.Context, errs <-chan error) error {
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) {
				return err
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// TestObserverReads: a client without credentials reads everything an
// observer needs, the way nats.go and the NATS CLI do it.
func TestObserverReads(t *testing.T) {
	s := startSecured(t)
	nc, js, _ := observer(t, s.url)
	ctx := ctxT(t)

	// nats sub 'events.>': live events.
	sub, err := nc.SubscribeSync("events.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.log.Append(ctx, events.Filter(events.KindAgent, "genesis"), s.last, envelope("e2", "genesis")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(20 * time.Second); err != nil || !strings.Contains(string(m.Data), `"e2"`) {
		t.Fatalf("observer's subscription: %v, %v", m, err)
	}

	// nats stream info; an ordered consumer from the start.
	stream, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	if n := stream.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("stream info: %d messages, want 2", n)
	}
	cons, err := js.OrderedConsumer(ctx, natslog.DefaultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	batch, err := cons.Fetch(2)
	if err != nil {
		t.Fatal(err)
	}
	var got int
	for range batch.Messages() {
		got++
	}
	if got != 2 || batch.Error() != nil {
		t.Fatalf("ordered consumer read %d messages (%v), want 2", got, batch.Error())
	}

	// Direct gets: by sequence (as natslog reads) and last by subject.
	if m, err := stream.GetMsg(ctx, 1); err != nil || !strings.Contains(string(m.Data), `"e1"`) {
		t.Fatalf("direct get of 1: %v", err)
	}
	if _, err := stream.GetLastMsgForSubject(ctx, "events.agent.genesis.>"); err != nil {
		t.Fatalf("direct get last for subject: %v", err)
	}
	l, err := natslog.New(ctx, js, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var read []uint64
	if err := l.Read(ctx, "events.>", 1, func(r events.Record) error { read = append(read, r.Seq); return nil }); err != nil || len(read) != 2 {
		t.Fatalf("natslog Read as an observer: %v, %v", read, err)
	}

	// nats kv watch market_state; nats kv get market_state cpu_seconds.
	kv, err := js.KeyValue(ctx, "market_state")
	if err != nil {
		t.Fatalf("bind market_state: %v", err)
	}
	if e, err := kv.Get(ctx, "cpu_seconds"); err != nil || string(e.Value()) != `{"price":5}` {
		t.Fatalf("kv get: %v", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("kv watch: %v", err)
	}
	defer w.Stop()
	select {
	case e := <-w.Updates():
		if e == nil || e.Key() != "cpu_seconds" {
			t.Fatalf("kv watch: first update %v, want cpu_seconds", e)
		}
	case <-ctx.Done():
		t.Fatal("kv watch: no update")
	}
}

// TestObserverCannotWrite: every write an observer may try is refused by
// the server, and nothing changes: not the log, the stream, its
// consumers, nor either bucket.
func TestObserverCannotWrite(t *testing.T) {
	s := startSecured(t)
	nc, js, errs := observer(t, s.url)
	ctx := ctxT(t)

	forged, err := events.Encode(events.KindAgent, "genesis", events.TransferSent{
		TransferID: "t-forged", ToAgentID: "thief", AmountMicros: 1_000_000,
	}, events.Meta{Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	body, err := events.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	streamCfg, _ := json.Marshal(natslog.StreamConfig(natslog.StreamOptions{}))
	durable := `{"stream_name":"AGORA_EVENTS","config":{"durable_name":"mine","ack_policy":"explicit"}}`
	for _, w := range []struct{ what, subject, body string }{
		{"nats pub events.x", "events.x", `{"a":1}`},
		{"a well-formed forged event", forged.Subject, string(body)},
		{"nats stream rm", "$JS.API.STREAM.DELETE.AGORA_EVENTS", ""},
		{"nats stream purge", "$JS.API.STREAM.PURGE.AGORA_EVENTS", "{}"},
		{"nats stream rmm", "$JS.API.STREAM.MSG.DELETE.AGORA_EVENTS", `{"seq":1}`},
		{"nats stream edit", "$JS.API.STREAM.UPDATE.AGORA_EVENTS", string(streamCfg)},
		{"nats stream add", "$JS.API.STREAM.CREATE.MINE", `{"name":"MINE","subjects":["events.>"]}`},
		{"a durable consumer (legacy API)", "$JS.API.CONSUMER.DURABLE.CREATE.AGORA_EVENTS.mine", durable},
		{"nats consumer ls", "$JS.API.CONSUMER.LIST.AGORA_EVENTS", "{}"},
		{"nats consumer info", "$JS.API.CONSUMER.INFO.AGORA_EVENTS.mine", ""},
		{"nats kv put market_state", "$KV.market_state.cpu_seconds", `{"price":0}`},
		{"nats kv put agora_state", "$KV.agora_state.cpu_seconds", `{}`},
		{"nats kv get agora_state", "$JS.API.DIRECT.GET.KV_agora_state.$KV.agora_state.cpu_seconds", ""},
		{"nats kv info agora_state", "$JS.API.STREAM.INFO.KV_agora_state", ""},
		{"nats kv rm market_state", "$JS.API.STREAM.DELETE.KV_market_state", ""},
		{"nats kv purge market_state", "$JS.API.STREAM.PURGE.KV_market_state", "{}"},
		{"an answer forged to someone's inbox", "_INBOX.x.y", "{}"},
	} {
		if err := nc.PublishRequest(w.subject, nc.NewRespInbox(), []byte(w.body)); err != nil {
			t.Fatalf("%s: %v", w.what, err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		err := nextViolation(ctx, errs)
		if want := `Permissions Violation for Publish to "` + w.subject + `"`; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: server said %v; want %s", w.what, err, want)
		}
	}
	// Agora's answers, which name its consumers, are out of reach.
	if _, err := nc.SubscribeSync(natslog.AgoraInboxPrefix + ".>"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err, want := nextViolation(ctx, errs), `Permissions Violation for Subscription to "`+natslog.AgoraInboxPrefix+`.>"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("subscribe to Agora's inbox: %v; want %s", err, want)
	}
	// Through the JetStream API as a program would: refused too.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := js.Publish(short, "events.agent.genesis.transfer_sent", body); err == nil {
		t.Fatal("js.Publish on events.> as an observer succeeded")
	}

	// Nothing changed.
	if last, err := s.log.LastSeq(ctx); err != nil || last != s.last {
		t.Fatalf("stream last sequence = %d, %v; want %d", last, err, s.last)
	}
	st, err := s.agora.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	if info := st.CachedInfo(); info.Config.Subjects[0] != "events.>" || info.State.Consumers != 0 {
		t.Fatalf("stream after the attempts: %+v", info)
	}
	for _, b := range []string{"agora_state", "market_state"} {
		kv, err := s.agora.KeyValue(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, "cpu_seconds")
		if err != nil || string(e.Value()) != `{"price":5}` {
			t.Fatalf("%s after the attempts: %v", b, err)
		}
	}
	if _, err := s.agora.Stream(ctx, "MINE"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream MINE: %v; want not found", err)
	}
}

// TestObserverDurableIsBounded: the current consumer-create subject names
// a consumer without saying whether it is durable, and the NATS CLI's
// `nats stream view` itself makes a durable there, so an observer can
// make one. The stream's consumer limits make it go away once unused.
func TestObserverDurableIsBounded(t *testing.T) {
	s := startSecured(t)
	_, js, _ := observer(t, s.url)
	ctx := ctxT(t)
	c, err := js.CreateConsumer(ctx, natslog.DefaultStream, jetstream.ConsumerConfig{Durable: "mine"})
	if err != nil {
		t.Fatalf("durable consumer, current API: %v", err)
	}
	if got := c.CachedInfo().Config.InactiveThreshold; got <= 0 || got > natslog.ConsumerIdleMax {
		t.Fatalf("an observer's durable keeps an inactive threshold of %s; want (0, %s]", got, natslog.ConsumerIdleMax)
	}
	_, err = js.CreateConsumer(ctx, natslog.DefaultStream, jetstream.ConsumerConfig{Durable: "forever", InactiveThreshold: 100 * natslog.ConsumerIdleMax})
	if err == nil {
		t.Fatal("a consumer kept longer than ConsumerIdleMax was accepted")
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw, err := natslog.LoadOrCreatePassword(dir)
	if err != nil || len(pw) < 40 {
		t.Fatalf("first start: %q, %v", pw, err)
	}
	info, err := os.Stat(filepath.Join(dir, natslog.PasswordFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v; want mode 0600", info, err)
	}
	if again, err := natslog.LoadOrCreatePassword(dir); err != nil || again != pw {
		t.Fatalf("second start: %q, %v; want the first password", again, err)
	}
	if err := os.Chmod(filepath.Join(dir, natslog.PasswordFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := natslog.LoadOrCreatePassword(dir); !errors.Is(err, natslog.ErrPasswordFile) || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("world-readable file: %v; want ErrPasswordFile naming its mode", err)
	}
	if _, err := natslog.ReadPassword(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no file: %v; want fs.ErrNotExist", err)
	}
}

// TestObserverPushConsumerDeliversNowhere: a push consumer's deliveries
// are the server's own publishes, outside the observer's permissions. The
// server refuses a deliver subject the stream captures, and delivers only
// where a client subscribes: not into a bucket nor to the JetStream API,
// which only Agora's user may write to. (Agora's own subscriptions are on
// inboxes no observer sees.)
func TestObserverPushConsumerDeliversNowhere(t *testing.T) {
	s := startSecured(t)
	_, js, _ := observer(t, s.url)
	ctx := ctxT(t)
	push := func(deliver string) (jetstream.Consumer, error) {
		return js.CreateConsumer(ctx, natslog.DefaultStream, jetstream.ConsumerConfig{
			DeliverSubject: deliver, AckPolicy: jetstream.AckNonePolicy,
		})
	}
	if _, err := push("events.agent.genesis.transfer_sent"); err == nil {
		t.Fatal("a push consumer delivering into the log was accepted")
	}
	legacy, err := s.agora.Conn().JetStream()
	if err != nil {
		t.Fatal(err)
	}
	for _, deliver := range []string{"$KV.agora_state.cpu_seconds", "$KV.market_state.cpu_seconds", "$JS.API.STREAM.DELETE.KV_agora_state"} {
		c, err := push(deliver)
		if err != nil {
			continue // refused: fine too
		}
		info, err := legacy.ConsumerInfo(natslog.DefaultStream, c.CachedInfo().Name)
		if err != nil {
			t.Fatal(err)
		}
		if info.PushBound {
			t.Fatalf("a push consumer delivering to %s is bound: the server would deliver there", deliver)
		}
	}
	if _, err := s.log.Append(ctx, events.Filter(events.KindAgent, "genesis"), s.last, envelope("e2", "genesis")); err != nil {
		t.Fatal(err)
	}
	if err := s.agora.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"agora_state", "market_state"} {
		kv, err := s.agora.KeyValue(ctx, b)
		if err != nil {
			t.Fatalf("bucket %s: %v", b, err)
		}
		if e, err := kv.Get(ctx, "cpu_seconds"); err != nil || e.Revision() != 1 {
			t.Fatalf("%s after the pushes: %v, %v; want revision 1", b, e, err)
		}
	}
}
