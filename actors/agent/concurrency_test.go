package agent_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/groupcommit"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// TestConcurrentOverdraft: 1000 transfers of 1 credit race out of an
// account holding 300 credits. Exactly 300 are accepted and the other 700
// refused with ErrInsufficientCredits; the audit of the whole JetStream log
// (which checks after every event that no balance is negative and that
// credits are conserved) passes; the sender ends at exactly 0 and the
// recipients hold exactly 300 credits once the transfers settle; a
// restarted bank recovers the same accounts.
func TestConcurrentOverdraft(t *testing.T) { concurrentOverdraft(t, false) }

// TestConcurrentOverdraftGroupCommit is TestConcurrentOverdraft with the
// appends committed in groups across actors (events/groupcommit), as an
// economy does with fsync on every write.
func TestConcurrentOverdraftGroupCommit(t *testing.T) { concurrentOverdraft(t, true) }

func concurrentOverdraft(t *testing.T, grouped bool) {
	ignore := goleak.IgnoreCurrent()
	// Registered first, so it runs last: after the bank, the connection
	// and the embedded server are shut down.
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	const (
		balance   = 300
		transfers = 1000
		fanOut    = 10
	)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	_, js, _ := natstest.Start(t)
	nl, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	var log events.Log = nl
	if grouped {
		g := groupcommit.New(nl)
		t.Cleanup(g.Close)
		log = g
	}
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b := startBank(t, log, store, 10)
	defer func() { b.close(t) }()

	recipients := make([]string, fanOut)
	for i := range recipients {
		recipients[i] = fmt.Sprintf("r%d", i)
	}
	if _, err := b.accounts.Do(ctx, "a", "", agent.Create{GrantMicros: events.Credits(balance)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range recipients {
		if _, err := b.accounts.Do(ctx, id, "", agent.Create{}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[string]bool{}
		refused  int
		others   []error
		start    = make(chan struct{})
	)
	for i := range transfers {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("t%d", i)
			_, err := b.accounts.Transfer(ctx, "a", "key-"+id, agent.Transfer{
				TransferID: id, To: recipients[i%fanOut], AmountMicros: events.Credits(1)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted[id] = true
			case errors.Is(err, agent.ErrInsufficientCredits):
				refused++
			default:
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range others {
		t.Errorf("transfer neither accepted nor refused for want of credits: %v", err)
	}
	if len(accepted) != balance || refused != transfers-balance {
		t.Fatalf("%d accepted, %d refused; want %d and %d", len(accepted), refused, balance, transfers-balance)
	}

	b.settle(t)
	eco := audit(t, log)
	if s := eco.Summary(); s.OpenTransfers != 0 || s.InFlightMicros != 0 {
		t.Fatalf("after settling, %d transfers (%s) are still in flight", s.OpenTransfers, s.InFlightMicros)
	}
	if got := eco.Accounts["a"].BalanceMicros; got != 0 {
		t.Errorf("sender holds %s, want 0", got)
	}
	var total events.Micros
	for _, id := range recipients {
		total += eco.Accounts[id].BalanceMicros
	}
	if total != events.Credits(balance) {
		t.Errorf("recipients hold %s, want %d", total, balance)
	}

	// The log holds the accepted transfers, each sent and received once,
	// and nothing of the refused ones.
	sent, received := map[string]int{}, map[string]int{}
	err = log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		switch e := e.(type) {
		case events.TransferSent:
			sent[e.TransferID]++
			if r.Envelope.IdempotencyKey != "key-"+e.TransferID {
				t.Errorf("transfer %s recorded with key %q", e.TransferID, r.Envelope.IdempotencyKey)
			}
		case events.TransferReceived:
			received[e.TransferID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sent) != balance {
		t.Errorf("%d transfers in the log, want %d", len(sent), balance)
	}
	for id := range accepted {
		if sent[id] != 1 || received[id] != 1 {
			t.Errorf("transfer %s: sent %d, received %d; want 1 and 1", id, sent[id], received[id])
		}
	}

	// The live accounts, and those of a restarted bank, are the replay.
	ids := append([]string{"a"}, recipients...)
	check := func(b *bank) {
		t.Helper()
		for _, id := range ids {
			live, err := b.accounts.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(live), normalize(eco.Accounts[id])) {
				t.Errorf("agent %s: live %+v, replayed %+v", id, live, eco.Accounts[id])
			}
		}
	}
	check(b)
	b.close(t)
	b = startBank(t, log, store, 10)
	check(b)
}
