package agent_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/groupcommit"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/projections/economy"
)

// bank is a running set of account actors plus the transfer manager over
// one log and store, which survive restarts.
type bank struct {
	log      events.Log
	store    events.Store
	host     *runtime.Host
	accounts *agent.Accounts
	manager  *runtime.ManagerRunner
	stop     context.CancelFunc
	done     chan error
}

func startBank(t testing.TB, log events.Log, store events.Store, snapshotEvery int) *bank {
	t.Helper()
	host, err := runtime.NewHost(log, store, runtime.Options{SnapshotEvery: snapshotEvery}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &bank{log: log, store: store, host: host, accounts: agent.NewAccounts(host), done: make(chan error, 1)}
	b.manager, err = runtime.NewManagerRunner(agent.TransferManager(), host, log, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	go func() { b.done <- b.manager.Run(ctx) }()
	return b
}

func (b *bank) close(t testing.TB) {
	b.stop()
	if err := <-b.done; err != nil {
		t.Fatalf("manager: %v", err)
	}
	b.host.Stop()
}

// settle waits until every transfer in the log has been delivered.
func (b *bank) settle(t fataler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	last, _ := b.log.LastSeq(ctx)
	if err := b.manager.WaitFloor(ctx, last); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// audit folds the whole log, checking every invariant and every actor's
// hash chain at every event.
func audit(t fataler, log events.Log) *economy.Economy {
	t.Helper()
	eco := economy.New()
	var links chain.Verifier
	err := log.Read(context.Background(), "events.>", 1, func(r events.Record) error {
		if err := links.Check(r); err != nil {
			return err
		}
		return eco.Apply(r)
	})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if links.Unlinked != 0 {
		t.Fatalf("audit: %d events name no previous event", links.Unlinked)
	}
	return eco
}

func TestPropertyLedger(t *testing.T) {
	checkLedger(t, func(*rapid.T) (events.Log, events.Store, func()) {
		l := memlog.New()
		return l, memlog.NewStore(), l.Close
	})
}

// TestPropertyLedgerGroupCommit is TestPropertyLedger on the real server,
// with the appends committed in groups across actors (events/groupcommit),
// as an economy does with fsync on every write: a server of its own for
// each case, since a stream deleted and created again may still receive
// the last case's late writes.
func TestPropertyLedgerGroupCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("a server for each case")
	}
	checkLedger(t, func(rt *rapid.T) (events.Log, events.Store, func()) {
		ctx := context.Background()
		srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: t.TempDir(), Port: natslog.RandomPort})
		if err != nil {
			rt.Fatal(err)
		}
		stop := func() { srv.Shutdown(); srv.WaitForShutdown() }
		nc, js, err := natslog.Connect(url)
		if err != nil {
			stop()
			rt.Fatal(err)
		}
		l, err := natslog.Open(ctx, js, natslog.StreamOptions{})
		if err != nil {
			nc.Close()
			stop()
			rt.Fatal(err)
		}
		store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
		if err != nil {
			nc.Close()
			stop()
			rt.Fatal(err)
		}
		g := groupcommit.New(l)
		return g, store, func() { g.Close(); nc.Close(); stop() }
	})
}

// checkLedger runs the ledger's property on the logs open gives, a fresh
// one for each case.
func checkLedger(t *testing.T, open func(rt *rapid.T) (events.Log, events.Store, func())) {
	rapid.Check(t, func(rt *rapid.T) {
		log, store, closeLog := open(rt)
		defer closeLog()
		b := startBank(t, log, store, rapid.IntRange(0, 5).Draw(rt, "snapshotEvery"))
		defer func() { b.close(t) }()
		ctx := context.Background()
		ids := []string{"a", "b", "c", "d"}
		for i, id := range ids[:3] { // "d" is never created
			if _, err := b.accounts.Do(ctx, id, "", agent.Create{GrantMicros: events.Micros((i + 1) * 1000)}); err != nil {
				rt.Fatal(err)
			}
		}
		holds := map[string][]string{}
		n := 0
		rt.Repeat(map[string]func(*rapid.T){
			"transfer": func(rt *rapid.T) {
				from, to := rapid.SampledFrom(ids).Draw(rt, "from"), rapid.SampledFrom(ids).Draw(rt, "to")
				amount := events.Micros(rapid.Int64Range(-5, 2500).Draw(rt, "amount"))
				n++
				_, err := b.accounts.Transfer(ctx, from, "", agent.Transfer{TransferID: fmt.Sprintf("t%d", n), To: to, AmountMicros: amount})
				mustBeTyped(rt, err)
			},
			"hold": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "agent")
				n++
				h := fmt.Sprintf("h%d", n)
				_, err := b.accounts.Do(ctx, id, "", agent.PlaceHold{HoldID: h, AmountMicros: events.Micros(rapid.Int64Range(1, 1500).Draw(rt, "amount"))})
				mustBeTyped(rt, err)
				if err == nil {
					holds[id] = append(holds[id], h)
				}
			},
			"resolve": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "agent")
				if len(holds[id]) == 0 {
					rt.Skip("no hold")
				}
				h := rapid.SampledFrom(holds[id]).Draw(rt, "hold")
				var cmd agent.Command = agent.VoidHold{HoldID: h}
				if rapid.Bool().Draw(rt, "post") {
					cmd = agent.PostHold{HoldID: h}
				}
				_, err := b.accounts.Do(ctx, id, "", cmd)
				mustBeTyped(rt, err)
			},
			"burn": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "agent")
				_, err := b.accounts.Do(ctx, id, "", agent.Burn{AmountMicros: events.Micros(rapid.Int64Range(1, 500).Draw(rt, "amount")), Reason: "test"})
				mustBeTyped(rt, err)
			},
			"die": func(rt *rapid.T) {
				id := rapid.SampledFrom(ids).Draw(rt, "agent")
				_, err := b.accounts.Do(ctx, id, "", agent.Die{Reason: "test"})
				mustBeTyped(rt, err)
			},
			"restart": func(rt *rapid.T) {
				b.close(t)
				b = startBank(t, log, store, rapid.IntRange(0, 5).Draw(rt, "snapshotEvery"))
			},
			"": func(rt *rapid.T) {
				// After every step: the log passes the audit and the live
				// accounts equal the replayed ones.
				b.settle(rt)
				eco := audit(rt, log)
				for _, id := range ids {
					live, err := b.accounts.Get(ctx, id)
					if err != nil {
						rt.Fatal(err)
					}
					replayed, ok := eco.Accounts[id]
					if !ok {
						replayed = agent.New(id)
					}
					if !reflect.DeepEqual(normalize(live), normalize(replayed)) {
						rt.Fatalf("agent %s: live %+v, replayed %+v", id, live, replayed)
					}
				}
				if s := eco.Summary(); s.OpenTransfers != 0 || s.InFlightMicros != 0 {
					rt.Fatalf("after settling, %d transfers (%s) are still in flight", s.OpenTransfers, s.InFlightMicros)
				}
			},
		})
	})
}

// normalize makes empty and nil maps compare equal: a snapshot round trip
// turns one into the other without changing the state.
// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

func normalize(a agent.Account) agent.Account {
	if len(a.Holds) == 0 {
		a.Holds = nil
	}
	if len(a.Lineage) == 0 {
		a.Lineage = nil
	}
	return a
}

func mustBeTyped(t *rapid.T, err error) {
	if err == nil {
		return
	}
	for _, want := range []error{agent.ErrInsufficientCredits, agent.ErrUnknownAgent, agent.ErrAgentDead,
		agent.ErrInvalidAmount, agent.ErrTransferToSelf, agent.ErrHoldNotOpen} {
		if errors.Is(err, want) {
			return
		}
	}
	t.Fatalf("untyped rejection: %v", err)
}
