package runtime_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// outageOptions keep an outage short: the append and the recovery that
// follows it give up quickly, and the ask waits for both.
var outageOptions = runtime.Options{SnapshotEvery: 3, AppendTimeout: time.Second,
	RecoverTimeout: time.Second, AskTimeout: 30 * time.Second}

// TestLogOutage: the NATS server stops while a host and its transfer
// manager run. Commands fail with ErrUnavailable (never a false success);
// after the server restarts on the same store and the client reconnects,
// commands succeed again, the manager settles what was in flight, every
// failed command retried with its key applies exactly once, and the log
// passes the audit.
//
// natslog.Connect disables nats.go's reconnect buffer: with it, what is
// published while disconnected would be sent once the server is back, so a
// command answered ErrUnavailable could be written minutes later. Both
// subtests check that nothing is written after a failure was reported.
func TestLogOutage(t *testing.T) {
	t.Run("natslog.Connect defaults", func(t *testing.T) {
		if late := testLogOutage(t); len(late) > 0 {
			t.Errorf("commands answered ErrUnavailable during the outage were written after it: %v", late)
		}
	})
	t.Run("no reconnect buffer", func(t *testing.T) {
		if late := testLogOutage(t, nats.ReconnectBufSize(-1)); len(late) > 0 {
			t.Errorf("commands answered ErrUnavailable during the outage were written after it: %v", late)
		}
	})
}

// testLogOutage runs the outage and returns the keys of the commands that
// failed with ErrUnavailable and were nevertheless written.
func testLogOutage(t *testing.T, opts ...nats.Option) []string {
	srv := startRestartable(t, opts...)
	log, store := openLog(t, srv.js)
	h, acc := newHost(t, log, store, outageOptions)
	m := startManager(t, h, log, store)
	create(t, acc, "a", 100)
	create(t, acc, "b", 0)
	if _, err := acc.Transfer(ctxT(t), "a", "before", agent.Transfer{TransferID: "before", To: "b", AmountMicros: events.Credits(5)}); err != nil {
		t.Fatal(err)
	}
	m.settle(t, log)

	srv.stop()
	burn := agent.Burn{AmountMicros: events.Credits(1), Reason: "x"}
	if _, err := acc.Do(ctxT(t), "a", "down-burn", burn); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("burn during the outage: %v, want ErrUnavailable", err)
	}
	// The actor gave up its state: it cannot know whether the burn landed.
	if _, err := acc.Get(ctxT(t), "a"); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("read of an actor that lost the log: %v, want ErrUnavailable", err)
	}
	down := agent.Transfer{TransferID: "down", To: "a", AmountMicros: events.Credits(1)}
	if _, err := acc.Do(ctxT(t), "b", "down-transfer", down); !errors.Is(err, runtime.ErrUnavailable) {
		t.Fatalf("transfer during the outage: %v, want ErrUnavailable", err)
	}

	srv.start()
	srv.waitConnected(ctxT(t))

	// Commands work again; the keys of the failed ones apply exactly once
	// whether or not their first attempt was written.
	var late []string
	res, err := acc.Do(ctxT(t), "a", "down-burn", burn)
	if err != nil {
		t.Fatalf("retry after the outage: %v", err)
	}
	if res.Replayed {
		late = append(late, "down-burn")
	}
	if res, err = acc.Transfer(ctxT(t), "b", "down-transfer", down); err != nil {
		t.Fatalf("retried transfer: %v", err)
	}
	if res.Replayed {
		late = append(late, "down-transfer")
	}
	if _, err := acc.Transfer(ctxT(t), "a", "after", agent.Transfer{TransferID: "after", To: "b", AmountMicros: events.Credits(3)}); err != nil {
		t.Fatalf("transfer after the outage: %v", err)
	}
	m.settle(t, log)

	rs := records(t, log, events.SubjectRoot+".>")
	keys := byKey(rs)
	for _, key := range []string{"before", "down-burn", "down-transfer", "after"} {
		if keys[key] != 1 {
			t.Errorf("key %s written %d times", key, keys[key])
		}
	}
	if n := len(transferIDs(t, rs, "transfer_received")); n != 3 {
		t.Errorf("%d transfers received, want 3", n)
	}
	eco := settledAudit(t, log)
	if got := replayed(eco, "a").BalanceMicros; got != events.Credits(100-5-1+1-3) {
		t.Errorf("a holds %s, want 92", got)
	}
	if got := replayed(eco, "b").BalanceMicros; got != events.Credits(5-1+3) {
		t.Errorf("b holds %s, want 7", got)
	}
	for _, id := range []string{"a", "b"} {
		sameAccount(t, get(t, acc, id), replayed(eco, id))
	}
	if err := m.stop(); err != nil {
		t.Fatalf("manager after the outage: %v", err)
	}
	h.Stop()
	freshEqualsReplayed(t, log, store, outageOptions, eco, "a", "b")
	return late
}
