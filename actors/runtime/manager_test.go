package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

const cursorKey = "cursor." + agent.TransferManagerName

// send makes a transfer and fails the test on an error.
func send(t testing.TB, acc *agent.Accounts, from, to, id string, credits int64) {
	t.Helper()
	if _, err := acc.Transfer(ctxT(t), from, id, agent.Transfer{TransferID: id, To: to, AmountMicros: events.Credits(credits)}); err != nil {
		t.Fatalf("transfer %s: %v", id, err)
	}
}

// TestBounceWhenRecipientDies: transfers whose recipient dies before the
// manager delivers them bounce and return to their sender exactly once;
// a sender that died meanwhile has its return burned. A second manager
// replaying the whole log from the start writes nothing.
func TestBounceWhenRecipientDies(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 4}
	h, acc := newHost(t, log, store, opts)
	for id, credits := range map[string]int64{"a": 100, "b": 0, "c": 0, "d": 10} {
		create(t, acc, id, credits)
	}
	// No manager runs yet: every transfer is in flight when b and d die.
	for i := range 5 {
		send(t, acc, "a", "b", fmt.Sprintf("ab%d", i), 1)
	}
	for i := range 3 {
		send(t, acc, "a", "c", fmt.Sprintf("ac%d", i), 2)
	}
	send(t, acc, "d", "b", "db0", 4)
	for _, id := range []string{"b", "d"} {
		if _, err := acc.Do(ctxT(t), id, "", agent.Die{Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := acc.Transfer(ctxT(t), "a", "", agent.Transfer{TransferID: "late", To: "b", AmountMicros: 1}); !errors.Is(err, agent.ErrAgentDead) {
		t.Fatalf("transfer to a dead agent: %v, want ErrAgentDead", err)
	}

	m := startManager(t, h, log, store)
	m.settle(t, log)
	rs := records(t, log, events.SubjectRoot+".>")
	bounced, returned, received := transferIDs(t, rs, "transfer_bounced"), transferIDs(t, rs, "transfer_returned"), transferIDs(t, rs, "transfer_received")
	for _, id := range []string{"ab0", "ab1", "ab2", "ab3", "ab4", "db0"} {
		if bounced[id] != 1 || returned[id] != 1 || received[id] != 0 {
			t.Errorf("%s: bounced %d, returned %d, received %d; want 1, 1, 0", id, bounced[id], returned[id], received[id])
		}
	}
	for _, id := range []string{"ac0", "ac1", "ac2"} {
		if received[id] != 1 || bounced[id] != 0 {
			t.Errorf("%s: received %d, bounced %d; want 1, 0", id, received[id], bounced[id])
		}
	}
	eco := settledAudit(t, log)
	want := map[string]events.Micros{"a": events.Credits(94), "b": 0, "c": events.Credits(6), "d": 0}
	for id, w := range want {
		if got := replayed(eco, id).BalanceMicros; got != w {
			t.Errorf("%s holds %s, want %s", id, got, w)
		}
		sameAccount(t, get(t, acc, id), replayed(eco, id))
	}
	if s := eco.Summary(); s.BurnedMicros != events.Credits(10) {
		t.Errorf("burned %s, want 10 (d's 6 at death, then its bounced 4)", s.BurnedMicros)
	}
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}

	// Replay every trigger from the start, on a fresh host: all are
	// recognised, nothing is written.
	h.Stop()
	before := lastSeq(t, log)
	if err := store.Put(ctxT(t), cursorKey, []byte("0")); err != nil {
		t.Fatal(err)
	}
	h, _ = newHost(t, log, store, opts)
	m = startManager(t, h, log, store)
	m.settle(t, log)
	if after := lastSeq(t, log); after != before {
		t.Fatalf("replaying the triggers wrote %d events", after-before)
	}
}

// TestRecipientDiesWhileFlowing: a recipient dies while transfers to it
// are being sent and settled; each settles exactly once, one way or the
// other, and the sender gets back exactly what was not received.
func TestRecipientDiesWhileFlowing(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{SnapshotEvery: 5})
	create(t, acc, "a", 1000)
	create(t, acc, "b", 0)
	m := startManager(t, h, log, store)
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 60 {
			_, err := acc.Transfer(ctxT(t), "a", "", agent.Transfer{TransferID: fmt.Sprintf("t%d", i), To: "b", AmountMicros: events.Credits(1)})
			if errors.Is(err, agent.ErrAgentDead) {
				return // refused up front once b is known dead
			}
			if err != nil {
				t.Errorf("transfer %d: %v", i, err)
				return
			}
			sent.Add(1)
		}
	})
	for sent.Load() < 20 {
		// Let some transfers go and settle before b dies.
		m.settle(t, log)
	}
	if _, err := acc.Do(ctxT(t), "b", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	m.settle(t, log)

	rs := records(t, log, events.SubjectRoot+".>")
	sentIDs, received := transferIDs(t, rs, "transfer_sent"), transferIDs(t, rs, "transfer_received")
	bounced, returned := transferIDs(t, rs, "transfer_bounced"), transferIDs(t, rs, "transfer_returned")
	if int64(len(sentIDs)) != sent.Load() {
		t.Fatalf("%d transfers in the log, %d accepted", len(sentIDs), sent.Load())
	}
	for id := range sentIDs {
		if received[id]+bounced[id] != 1 || bounced[id] != returned[id] {
			t.Errorf("%s: received %d, bounced %d, returned %d", id, received[id], bounced[id], returned[id])
		}
	}
	t.Logf("%d sent: %d received, %d bounced", len(sentIDs), len(received), len(bounced))
	eco := settledAudit(t, log)
	if got, want := replayed(eco, "a").BalanceMicros, events.Credits(1000-int64(len(received))); got != want {
		t.Errorf("a holds %s, want %s", got, want)
	}
	sameAccount(t, get(t, acc, "a"), replayed(eco, "a"))
}

// TestManagerRestartMidStream: transfers flow between agents written by
// one host while the manager, on a host of its own, is stopped and
// replaced again and again: after each stop its saved cursor is true
// (every transfer at or below it is settled), and in the end every
// transfer settles exactly once. The replacements cover a new runner on
// the same host, a new host and runner (a crash of the manager's process),
// and a new runner started before the old one stops (two at once).
//
// The writers go in phases: each restart happens as a phase is written
// and the next begins, so the manager is behind and transfers flow; each
// new runner must settle something before it is replaced in turn. The
// second half of a phase is written only once the old runner has stopped:
// had the old runner settled every record there was before its stop (an
// overlap gives it all the time a new host takes to start), the new one
// would have had nothing past the cursor to settle, and the wait for it
// would have waited for a record no one writes.
func TestManagerRestartMidStream(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 7}
	hW, accW := newHost(t, log, store, opts)
	// Senders are written by the writers' host, recipients by the
	// manager's: no conflicts between them, so the manager is never
	// starved by retries (conflicts are TestTwoHostsConcurrent's subject).
	senders, recipients := []string{"a", "b", "c"}, []string{"d", "e"}
	ids := append(append([]string(nil), senders...), recipients...)
	for _, id := range ids {
		create(t, accW, id, 1000)
	}
	hM, _ := newHost(t, log, store, opts)
	m := startManager(t, hM, log, store)

	modes := []string{"runner", "host", "overlap", "runner", "host", "overlap"}
	const writers, perPhase = 4, 8
	phases := len(modes) + 1
	// start[p] lets the first half of phase p go, rest[p] the second.
	start, rest := make([]chan struct{}, phases), make([]chan struct{}, phases)
	written := make([]sync.WaitGroup, phases)
	for p := range phases {
		start[p], rest[p] = make(chan struct{}), make(chan struct{})
		written[p].Add(writers)
	}
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
	)
	for w := range writers {
		wg.Go(func() {
			for p := range phases {
				<-start[p]
				for j := range perPhase {
					if j == perPhase/2 {
						<-rest[p]
					}
					i := p*perPhase + j
					from, to := senders[(w+i)%len(senders)], recipients[(w+i/2)%len(recipients)]
					key := fmt.Sprintf("w%d-%d", w, i)
					for attempt := 0; ; attempt++ {
						// Two manager hosts overlap: a stale one conflicts,
						// recovers and retries; the writers do not expect to.
						_, err := accW.Transfer(ctxT(t), from, key, agent.Transfer{TransferID: key, To: to, AmountMicros: events.Credits(1)})
						if err == nil {
							accepted.Add(1)
							break
						}
						if !isRetryable(err) || attempt == 100 {
							t.Errorf("%s: %v", key, err)
							break
						}
					}
				}
				written[p].Done()
			}
		})
	}

	close(start[0])
	close(rest[0])
	for i, mode := range modes {
		written[i].Wait()
		close(start[i+1])
		var (
			next   *runner
			cursor uint64
		)
		switch mode {
		case "runner":
			cursor = stopChecked(t, m, log, store)
			next = startManager(t, hM, log, store)
		case "host":
			cursor = stopChecked(t, m, log, store)
			hM.Stop()
			hM, _ = newHost(t, log, store, opts)
			next = startManager(t, hM, log, store)
		case "overlap":
			h2, _ := newHost(t, log, store, opts)
			next = startManager(t, h2, log, store)
			cursor = stopChecked(t, m, log, store)
			hM.Stop()
			hM = h2
		}
		m = next
		close(rest[i+1])
		// The new runner makes progress past the old one's cursor before
		// it, in turn, is stopped: the rest of the phase, written after
		// the stop, is past the cursor.
		if err := m.mr.WaitFloor(ctxT(t), cursor+1); err != nil {
			t.Fatalf("after restart %d (%s): %v", i, mode, err)
		}
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	m.settle(t, log)

	total := writers * perPhase * phases
	rs := records(t, log, events.SubjectRoot+".>")
	sent, received := transferIDs(t, rs, "transfer_sent"), transferIDs(t, rs, "transfer_received")
	if len(sent) != total || int(accepted.Load()) != total {
		t.Fatalf("%d transfers in the log, %d accepted, want %d", len(sent), accepted.Load(), total)
	}
	for id := range sent {
		if received[id] != 1 {
			t.Errorf("transfer %s received %d times", id, received[id])
		}
	}
	for key, n := range byKey(rs) {
		if n != 1 {
			t.Errorf("key %s written %d times", key, n)
		}
	}
	eco := settledAudit(t, log)
	if s := eco.Summary(); s.BalanceMicros != events.Credits(5000) {
		t.Errorf("balances %s, want 5000", s.BalanceMicros)
	}
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	hM.Stop()
	hW.Stop()
	freshEqualsReplayed(t, log, store, opts, eco, ids...)
}

// TestManagerStoppedWhileStarting: a runner cancelled before it has read
// its cursor stops as one cancelled at any other time: Run returns nil.
func TestManagerStoppedWhileStarting(t *testing.T) {
	log, store := jetStream(t)
	h, _ := newHost(t, log, store, runtime.Options{})
	mr, err := runtime.NewManagerRunner(agent.TransferManager(), h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := mr.Run(ctx); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
}

// stopChecked stops a runner and checks the cursor it saved: every
// transfer sent at or below it has been received (or bounced) because of
// exactly that trigger.
func stopChecked(t *testing.T, m *runner, log events.Log, store events.Store) uint64 {
	t.Helper()
	if err := m.stop(); err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("manager: %v", err)
		}
		// Stopped before it read its cursor; see TestManagerStoppedWhileStarting.
		t.Logf("manager: %v", err)
	}
	b, ok, err := store.Get(ctxT(t), cursorKey)
	if err != nil {
		t.Fatalf("cursor after a stop: %v", err)
	}
	if !ok {
		// No manager so far finished a record (a loaded machine can stop
		// the first one before it does): a position of 0 is never saved,
		// and 0 it is.
		b = []byte("0")
	}
	cursor, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	settledBy := map[uint64]int{}
	var sentAt []uint64
	rs := records(t, log, events.SubjectRoot+".>")
	t.Logf("manager stopped at cursor %d of %d", cursor, rs[len(rs)-1].Seq)
	for _, r := range rs {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case events.TransferSent:
			if r.Seq <= cursor {
				sentAt = append(sentAt, r.Seq)
			}
		case events.TransferReceived:
			settledBy[e.Trigger.Seq]++
		case events.TransferBounced:
			settledBy[e.Trigger.Seq]++
		}
	}
	for _, s := range sentAt {
		if settledBy[s] != 1 {
			t.Fatalf("cursor %d, but the transfer sent at %d was settled %d times", cursor, s, settledBy[s])
		}
	}
	return cursor
}

// TestRedeliveryRecognised: a trigger the recipient has applied (or an
// older one) is answered with no event and writes nothing, on the live
// host and on a fresh one that recovered the marks from a snapshot and
// the log.
func TestRedeliveryRecognised(t *testing.T) {
	log, store := jetStream(t)
	opts := runtime.Options{SnapshotEvery: 2}
	h, acc := newHost(t, log, store, opts)
	create(t, acc, "a", 100)
	create(t, acc, "b", 0)
	m := startManager(t, h, log, store)
	for i := range 5 {
		send(t, acc, "a", "b", fmt.Sprintf("t%d", i), 1)
	}
	m.settle(t, log)
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	var received []events.TransferReceived
	for _, r := range records(t, log, events.Filter(events.KindAgent, "b")) {
		if e, err := events.Decode(r.Envelope); err == nil {
			if rcv, ok := e.(events.TransferReceived); ok {
				received = append(received, rcv)
			}
		}
	}
	if len(received) != 5 {
		t.Fatalf("%d received, want 5", len(received))
	}
	redeliver := func(h *runtime.Host) {
		t.Helper()
		before := lastSeq(t, log)
		for _, rcv := range received {
			res, err := h.Ask(ctxT(t), events.KindAgent, "b", runtime.Request{Command: agent.ReceiveTransfer{
				TransferID: rcv.TransferID, From: rcv.FromAgentID, AmountMicros: rcv.AmountMicros, Trigger: rcv.Trigger}})
			if err != nil || res.Seq != 0 || res.Event != nil {
				t.Fatalf("redelivery of %s: %+v, %v; want no event", rcv.TransferID, res, err)
			}
		}
		if after := lastSeq(t, log); after != before {
			t.Fatalf("redeliveries wrote %d events", after-before)
		}
	}
	redeliver(h)
	h.Stop()
	h, acc = newHost(t, log, store, opts)
	redeliver(h)
	if got := get(t, acc, "b").BalanceMicros; got != events.Credits(5) {
		t.Fatalf("b holds %s, want 5", got)
	}
	settledAudit(t, log)
}

// burnOnReceipt is a second manager for TestRunManagersShareFollow: each
// transfer received costs its recipient one micro-credit, burned.
func burnOnReceipt() runtime.Manager {
	const name = "burn-on-receipt"
	return runtime.Manager{Name: name, Filter: events.SubjectRoot + ".>",
		Types: []string{events.TransferReceived{}.EventType()},
		React: func(r events.Record, e events.Event) []runtime.Reaction {
			_, id, _, err := events.ParseSubject(r.Envelope.Subject)
			if err != nil {
				return nil
			}
			return []runtime.Reaction{{Kind: events.KindAgent, ID: id, Command: agent.Burn{AmountMicros: 1,
				Reason: "receipt", Trigger: events.Trigger{Manager: name, Seq: r.Seq}}}}
		}}
}

// TestRunManagersShareFollow: two managers run over one follow of the log,
// one of them starting far behind the other (its cursor is older): each
// acts on every record past its own cursor exactly once, and each saves
// its own cursor.
func TestRunManagersShareFollow(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{})
	for _, id := range []string{"a", "b"} {
		create(t, acc, id, 100)
	}
	// The transfer manager alone first: its cursor moves ahead.
	m := startManager(t, h, log, store)
	for i := range 5 {
		send(t, acc, "a", "b", fmt.Sprintf("t%d", i), 1)
	}
	m.settle(t, log)
	if err := m.stop(); err != nil {
		t.Fatal(err)
	}
	transfers, err := runtime.NewManagerRunner(agent.TransferManager(), h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	burns, err := runtime.NewManagerRunner(burnOnReceipt(), h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runtime.RunManagers(ctx, transfers, burns) }()
	for i := 5; i < 10; i++ {
		send(t, acc, "b", "a", fmt.Sprintf("t%d", i), 1)
	}
	// Every transfer received, then every receipt burned: wait for both
	// managers up to the log's end, until a wait adds nothing to the log
	// (the burns follow the receipts). Two waits were not always enough:
	// the last burns could still be on their way to the follow when the
	// managers stopped, and the cursors two records short.
	for last := uint64(0); ; {
		now := lastSeq(t, log)
		if now == last {
			break
		}
		last = now
		for _, mr := range []*runtime.ManagerRunner{transfers, burns} {
			if err := mr.WaitFloor(ctxT(t), last); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunManagers: %v", err)
	}
	rs := records(t, log, events.SubjectRoot+".>")
	if n := countTypes(rs)["transfer_received"]; n != 10 {
		t.Fatalf("%d transfers received, want 10", n)
	}
	if n := countTypes(rs)["credits_burned"]; n != 10 {
		t.Fatalf("%d receipts burned, want 10", n)
	}
	for _, name := range []string{agent.TransferManagerName, "burn-on-receipt"} {
		b, ok, err := store.Get(ctxT(t), "cursor."+name)
		if err != nil || !ok {
			t.Fatalf("cursor of %s: %v (saved %v)", name, err, ok)
		}
		if c, _ := strconv.ParseUint(string(b), 10, 64); c < lastSeq(t, log)-1 {
			t.Errorf("cursor of %s at %d, the log ends at %d", name, c, lastSeq(t, log))
		}
	}
	settledAudit(t, log)
}

// TestWaitCaughtUpFollowsAChain: a transfer whose recipient died in flight
// is bounced by one reaction and returned by the reaction to the bounce;
// a caller that waits for the manager to catch up with the log once per
// link finds the sender's credits back. A manager that does not follow the
// whole log refuses to be asked, rather than wait for a record it never
// sees.
func TestWaitCaughtUpFollowsAChain(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{})
	create(t, acc, "a", 10)
	create(t, acc, "b", 0)
	send(t, acc, "a", "b", "ab", 4)
	if _, err := acc.Do(ctxT(t), "b", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, h, log, store)
	for range 2 { // the bounce, then the return
		if err := m.mr.WaitCaughtUp(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	if a := get(t, acc, "a"); a.BalanceMicros != events.Credits(10) {
		t.Fatalf("a holds %s once the manager caught up twice; want its 10 back", a.BalanceMicros)
	}

	narrow, err := runtime.NewManagerRunner(runtime.Manager{Name: "narrow", Filter: events.SubjectRoot + ".agent.a.>",
		React: func(events.Record, events.Event) []runtime.Reaction { return nil }}, h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := narrow.WaitCaughtUp(ctxT(t)); err == nil {
		t.Fatal("a manager of part of the log waited for the log's tail")
	}
}
