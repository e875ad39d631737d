package groupcommit_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/groupcommit"
	"github.com/agora-econ/agora/events/natslog"
)

// benchLog starts an embedded server (fsync on every write or on the
// server's interval) and opens the log on it.
func benchLog(b *testing.B, syncAlways bool) *natslog.Log {
	b.Helper()
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: b.TempDir(), Port: natslog.RandomPort, SyncAlways: syncAlways})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, js, err := natslog.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	l, err := natslog.Open(context.Background(), js, natslog.StreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// benchEnvelope is a typical event, about 300 bytes as JSON.
func benchEnvelope(actor string, n int) events.Envelope {
	e, err := events.Encode(events.KindAgent, actor, events.TransferSent{
		TransferID:   events.NewID(),
		ToAgentID:    "agent-" + strconv.Itoa(n%1000),
		AmountMicros: events.Micros(1_234_567 + n),
		Memo:         "payment for services rendered",
	}, events.Meta{Time: time.Now(), CausationID: events.NewID(), IdempotencyKey: "k-" + strconv.Itoa(n)})
	if err != nil {
		panic(err)
	}
	return e
}

// BenchmarkGroupCommit compares, at both sync settings, what 1000 actors
// appending one event at a time each (one append in flight per actor, as
// the runtime does) achieve alone ("direct") and through the group
// committer, with the ceiling: atomic batches of 100 events on one writer
// ("raw100").
func BenchmarkGroupCommit(b *testing.B) {
	const actors = 1000
	for _, syncAlways := range []bool{true, false} {
		b.Run(fmt.Sprintf("SyncAlways=%v/raw100", syncAlways), func(b *testing.B) {
			l := benchLog(b, syncAlways)
			defer l.Close()
			ctx := context.Background()
			last := make([]uint64, actors)
			batches := make([][]events.Envelope, actors)
			for a := range batches {
				actor := "a" + strconv.Itoa(a)
				for j := range 100 {
					batches[a] = append(batches[a], benchEnvelope(actor, j))
				}
			}
			// b.N events, in batches of 100.
			b.ResetTimer()
			start := time.Now()
			for i := 0; i*100 < b.N; i++ {
				a := i % actors
				seq, err := l.Append(ctx, events.Filter(events.KindAgent, "a"+strconv.Itoa(a)), last[a], batches[a]...)
				if err != nil {
					b.Fatal(err)
				}
				last[a] = seq
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
		for _, inFlight := range []int{0, 1, 2, 4} {
			name := "direct"
			if inFlight > 0 {
				name = fmt.Sprintf("grouped/inflight=%d", inFlight)
			}
			b.Run(fmt.Sprintf("SyncAlways=%v/%s", syncAlways, name), func(b *testing.B) {
				nl := benchLog(b, syncAlways)
				var l events.Log = nl
				if inFlight > 0 {
					g := groupcommit.New(nl, groupcommit.WithBatchesInFlight(inFlight))
					defer g.Close()
					l = g
				} else {
					defer nl.Close()
				}
				ctx := context.Background()
				var next atomic.Int64
				n := int64(b.N)
				start := time.Now()
				var wg sync.WaitGroup
				for a := range actors {
					wg.Go(func() {
						actor := "a" + strconv.Itoa(a)
						filter := events.Filter(events.KindAgent, actor)
						e := benchEnvelope(actor, a)
						var last uint64
						for i := 0; next.Add(1) <= n; i++ {
							e.ID = actor + "-" + strconv.Itoa(i)
							seq, err := l.Append(ctx, filter, last, e)
							if err != nil {
								b.Error(err)
								return
							}
							last = seq
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			})
		}
	}
}
