package clearing_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// backend opens a log and a store that outlive the processes of a test.
type backend struct {
	name string
	open func(t *testing.T) (events.Log, events.Store)
}

// backends are the in-memory log and a real embedded JetStream server.
var backends = []backend{
	{"memlog", func(*testing.T) (events.Log, events.Store) { return memlog.New(), memlog.NewStore() }},
	{"jetstream", func(t *testing.T) (events.Log, events.Store) {
		_, js, _ := natstest.Start(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(log.Close)
		store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return log, store
	}},
}

var crashEpoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// placeContest places bids that compete: with 10 cpu_seconds, five of them
// win (two of agent a, so that one agent pays twice in a cycle) and two do
// not fit.
func placeContest(t *testing.T, n *node) {
	t.Helper()
	ctx := context.Background()
	n.createAgents(t, events.Credits(100), "a", "b", "c", "e")
	for i, bid := range []struct {
		agent   string
		cpu     int64
		credits int64
	}{
		{"a", 2, 30}, {"b", 2, 29}, {"a", 1, 28}, {"c", 3, 27}, {"e", 2, 26}, // 10 cpu: they win
		{"b", 2, 25}, {"c", 1, 24}, // no cpu left
	} {
		terms := events.BidTerms{Resources: map[string]events.Units{
			"cpu_seconds": events.WholeUnits(bid.cpu), "memory_mb": events.WholeUnits(10 * int64(i+1))}}
		if _, _, err := n.svc.Place(ctx, bid.agent, "", terms, events.Credits(bid.credits)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRecovered settles the node and checks that every allocation in the
// log was paid exactly once for its amount and leased exactly once in each
// of its markets, that the log passes the audit with nothing left owed,
// and that the live actors equal the replay.
func checkRecovered(t *testing.T, n *node, log events.Log) {
	t.Helper()
	n.settle(t)
	o := readOutcomes(t, log)
	if len(o.allocations) == 0 {
		t.Fatal("no allocation in the log")
	}
	o.exactlyOnce(t)
	eco := fullAudit(t, log)
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
	n.sameAsReplayed(t, eco, []string{"a", "b", "c", "e"})
}

// typesAfter lists the event types appended after seq.
func typesAfter(t *testing.T, log events.Log, seq uint64) []string {
	t.Helper()
	var out []string
	err := log.Read(context.Background(), events.SubjectRoot+".>", seq+1, func(r events.Record) error {
		out = append(out, r.Envelope.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A crash between a cycle's decision and its payments and leases: the
// cycle is in the log, none of its reactions. The next process pays every
// winner once and records every lease once.
func TestCrashBetweenCycleAndPayments(t *testing.T) {
	for _, b := range backends {
		for _, snapshotEvery := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/snapshotEvery=%d", b.name, snapshotEvery), func(t *testing.T) {
				log, store := b.open(t)
				opts := nodeOptions{runtime: runtime.Options{SnapshotEvery: snapshotEvery}}
				n := boot(t, log, store, opts)
				placeContest(t, n)
				n.settle(t)

				n.haltClearing(t)
				cc, seq := n.clearDirect(t, crashEpoch)
				if len(cc.Allocations) != 5 {
					t.Fatalf("%d winners, want 5", len(cc.Allocations))
				}
				n.close(t)
				if rest := typesAfter(t, log, seq); len(rest) != 0 {
					t.Fatalf("the cycle's reactions ran before the crash: %v", rest)
				}
				if err := fullAudit(t, log).CheckSettled(); err == nil {
					t.Fatal("the log before recovery owes nothing")
				}

				n = boot(t, log, store, opts)
				defer n.close(t)
				checkRecovered(t, n, log)
			})
		}
	}
}

// gatedLog lets the first allow appends of an event type through and holds
// back the next ones until crash is closed, when they fail without being
// written: a process that dies in the middle of a cycle's reactions.
type gatedLog struct {
	events.Log
	eventType string

	mu      sync.Mutex
	allow   int
	once    sync.Once
	blocked chan struct{} // closed when the first append is held back
	crash   chan struct{}
}

func newGatedLog(log events.Log, eventType string, allow int) *gatedLog {
	return &gatedLog{Log: log, eventType: eventType, allow: allow, blocked: make(chan struct{}), crash: make(chan struct{})}
}

func (g *gatedLog) Append(ctx context.Context, filter string, expectedLast uint64, envs ...events.Envelope) (uint64, error) {
	gated := false
	for _, env := range envs {
		gated = gated || strings.HasSuffix(env.Subject, "."+g.eventType)
	}
	if gated {
		g.mu.Lock()
		pass := g.allow > 0
		if pass {
			g.allow--
		}
		g.mu.Unlock()
		if !pass {
			g.once.Do(func() { close(g.blocked) })
			select {
			case <-g.crash:
			case <-ctx.Done():
			}
			return 0, errors.New("gated log: the process crashed")
		}
	}
	return g.Log.Append(ctx, filter, expectedLast, envs...)
}

// A crash in the middle of a cycle's reactions: some winners are paid (or
// some markets have recorded the cycle), the others not. The next process
// completes the rest, applying nothing twice.
func TestCrashDuringCycleReactions(t *testing.T) {
	for _, b := range backends {
		for _, c := range []struct {
			eventType string
			allow     int
		}{
			{"hold_posted", 1}, {"hold_posted", 3}, {"market_cleared", 1}, {"market_cleared", 2},
		} {
			t.Run(fmt.Sprintf("%s/%s after %d", b.name, c.eventType, c.allow), func(t *testing.T) {
				mem, store := b.open(t)
				gated := newGatedLog(mem, c.eventType, c.allow)
				n := boot(t, gated, store, nodeOptions{runtime: runtime.Options{SnapshotEvery: 2}})
				placeContest(t, n)
				n.settle(t)

				_, seq := n.clearDirect(t, crashEpoch)
				select {
				case <-gated.blocked:
				case <-time.After(20 * time.Second):
					t.Fatal("the cycle's reactions never reached the gate")
				}
				n.haltClearing(t) // its reactions in flight are abandoned
				close(gated.crash)
				n.close(t)

				done := 0
				for _, typ := range typesAfter(t, mem, seq) {
					if typ == c.eventType {
						done++
					}
				}
				if done != c.allow {
					t.Fatalf("%d %s before the crash, want %d", done, c.eventType, c.allow)
				}
				// The log of the crashed process passes every check of
				// every event, and shows what it still owes.
				if s := fullAudit(t, mem).Summary(); s.UnpaidAllocations+s.UnrecordedCycles == 0 {
					t.Fatalf("the crashed process owes nothing: %+v", s)
				}

				n = boot(t, mem, store, nodeOptions{runtime: runtime.Options{SnapshotEvery: 2}})
				defer n.close(t)
				checkRecovered(t, n, mem)
			})
		}
	}
}
