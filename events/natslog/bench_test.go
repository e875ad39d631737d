package natslog_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// benchLog starts an embedded server (fsync on every write or on the
// server's interval) and opens the log on it.
func benchLog(b *testing.B, syncAlways bool) (*natslog.Log, jetstream.JetStream) {
	b.Helper()
	dir := b.TempDir()
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: dir, Port: natslog.RandomPort, SyncAlways: syncAlways})
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
	b.Cleanup(l.Close)
	return l, js
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

// BenchmarkAppend measures the raw append rate of the adapter: one
// synchronous Append at a time, each with its actor's expected last
// sequence (1000 actors, round robin), as an actor does. Compare with
// DESIGN.md: ~15k/s on the interval sync, ~3.3k/s with fsync on every write.
func BenchmarkAppend(b *testing.B) {
	for _, syncAlways := range []bool{false, true} {
		b.Run(fmt.Sprintf("SyncAlways=%v", syncAlways), func(b *testing.B) {
			l, _ := benchLog(b, syncAlways)
			ctx := context.Background()
			const actors = 1000
			last := make([]uint64, actors)
			envs := make([]events.Envelope, actors)
			for i := range envs {
				envs[i] = benchEnvelope("a"+strconv.Itoa(i), i)
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				a := i % actors
				e := envs[a]
				e.ID = strconv.Itoa(i) // a fresh id: no duplicate
				seq, err := l.Append(ctx, events.Filter(events.KindAgent, "a"+strconv.Itoa(a)), last[a], e)
				if err != nil {
					b.Fatal(err)
				}
				last[a] = seq
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendParallel runs one writer per goroutine (GOMAXPROCS x 4),
// each on actors of its own: the rate of the log under many actors
// appending at once.
func BenchmarkAppendParallel(b *testing.B) {
	for _, syncAlways := range []bool{false, true} {
		b.Run(fmt.Sprintf("SyncAlways=%v", syncAlways), func(b *testing.B) {
			l, _ := benchLog(b, syncAlways)
			ctx := context.Background()
			var writer atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				w := writer.Add(1)
				var last uint64
				actor := "w" + strconv.FormatInt(w, 10)
				e := benchEnvelope(actor, int(w))
				filter := events.Filter(events.KindAgent, actor)
				for i := 0; pb.Next(); i++ {
					e.ID = actor + "-" + strconv.Itoa(i)
					seq, err := l.Append(ctx, filter, last, e)
					if err != nil {
						b.Error(err)
						return
					}
					last = seq
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkRead measures replay: b.N events are published beforehand (as
// fast as possible, without checks), then one Read of events.> decodes
// them all into envelopes and hands them to a callback that does nothing.
// Run with -benchtime=1000000x for the 1M figure.
func BenchmarkRead(b *testing.B) {
	l, js := benchLog(b, false)
	ctx := context.Background()
	e := benchEnvelope("r", 1)
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("event size %d bytes", len(data))
	for i := 0; i < b.N; i++ {
		if _, err := js.PublishAsync(e.Subject, data); err != nil {
			b.Fatal(err)
		}
		if i%10000 == 9999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	b.ResetTimer()
	start := time.Now()
	var n int
	if err := l.Read(ctx, "events.>", 0, func(events.Record) error { n++; return nil }); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if n != b.N {
		b.Fatalf("read %d events; want %d", n, b.N)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
}
