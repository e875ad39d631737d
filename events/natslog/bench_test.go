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

// BenchmarkAppendBatch measures atomic batches: one writer appends batches
// of the given size to 1000 actors in turn, each with its expectation.
func BenchmarkAppendBatch(b *testing.B) {
	for _, syncAlways := range []bool{false, true} {
		for _, size := range []int{2, 10, 100, 1000} {
			b.Run(fmt.Sprintf("SyncAlways=%v/size=%d", syncAlways, size), func(b *testing.B) {
				l, _ := benchLog(b, syncAlways)
				ctx := context.Background()
				const actors = 1000
				last := make([]uint64, actors)
				batch := make([]events.Envelope, size)
				b.ResetTimer()
				start := time.Now()
				for i := 0; b.Loop(); i++ {
					a := i % actors
					actor := "a" + strconv.Itoa(a)
					for j := range batch {
						batch[j] = benchEnvelope(actor, j)
					}
					seq, err := l.Append(ctx, events.Filter(events.KindAgent, actor), last[a], batch...)
					if err != nil {
						b.Fatal(err)
					}
					last[a] = seq
				}
				elapsed := time.Since(start)
				b.ReportMetric(float64(b.N*size)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
			})
		}
	}
}

// readFunc is one of the two ways the adapter reads: direct gets (Read)
// or an ordered consumer (the fallback for streams without direct gets).
type readFunc func(l *natslog.Log, ctx context.Context, filter string, from uint64, fn func(events.Record) error) error

var readPaths = []struct {
	name string
	read readFunc
}{
	{"direct", (*natslog.Log).Read},
	{"consumer", natslog.ReadWithConsumer},
}

// BenchmarkRead measures replay: b.N events are published beforehand (as
// fast as possible, without checks), then one Read of events.> decodes
// them all into envelopes and hands them to a callback that does nothing.
// Run with -benchtime=1000000x for the 1M figure.
func BenchmarkRead(b *testing.B) {
	for _, path := range readPaths {
		b.Run("path="+path.name, func(b *testing.B) {
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
				if i%2000 == 1999 {
					<-js.PublishAsyncComplete()
				}
			}
			<-js.PublishAsyncComplete()
			b.ResetTimer()
			start := time.Now()
			var n int
			if err := path.read(l, ctx, "events.>", 0, func(events.Record) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n != b.N {
				b.Fatalf("read %d events; want %d", n, b.N)
			}
			b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
		})
	}
}

// BenchmarkReadTails measures actor recovery: 1000 actors have 150 events
// each; one iteration reads every actor's tail of 100 events (from the
// sequence of its 51st event, as after a snapshot) with the given number of
// concurrent readers. Interleaved, the actors' events alternate in the
// stream, as when all are busy, and the server walks ~1000 messages to find
// each next event of an actor; grouped, each actor's events are together.
func BenchmarkReadTails(b *testing.B) {
	const actors, perActor, tail = 1000, 150, 100
	for _, path := range readPaths {
		for _, interleaved := range []bool{true, false} {
			for _, readers := range []int{1, 100, 1000} {
				if path.name == "consumer" && readers == 1000 {
					continue // the server's limit of 1000 consumers a stream
				}
				name := fmt.Sprintf("path=%s/interleaved=%v/readers=%d", path.name, interleaved, readers)
				b.Run(name, func(b *testing.B) {
					benchTails(b, path.read, actors, perActor, tail, interleaved, readers)
				})
			}
		}
	}
}

func benchTails(b *testing.B, read readFunc, actors, perActor, tail int, interleaved bool, readers int) {
	l, js := benchLog(b, false)
	ctx := context.Background()
	from := make([]uint64, actors)
	filters := make([]string, actors)
	data := make([][]byte, actors)
	subjects := make([]string, actors)
	for a := range actors {
		id := "t" + strconv.Itoa(a)
		filters[a] = events.Filter(events.KindAgent, id)
		e := benchEnvelope(id, a)
		subjects[a] = e.Subject
		var err error
		if data[a], err = json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
	futures := make([]jetstream.PubAckFuture, actors)
	publish := func(a, i int) {
		f, err := js.PublishAsync(subjects[a], data[a])
		if err != nil {
			b.Fatal(err)
		}
		if i == perActor-tail {
			futures[a] = f
		}
	}
	if interleaved {
		for i := range perActor {
			for a := range actors {
				publish(a, i)
			}
			<-js.PublishAsyncComplete()
		}
	} else {
		for a := range actors {
			for i := range perActor {
				publish(a, i)
			}
			<-js.PublishAsyncComplete()
		}
	}
	for a, f := range futures {
		select {
		case ack := <-f.Ok():
			from[a] = ack.Sequence
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var total atomic.Int64
	for b.Loop() {
		next := make(chan int, actors)
		for a := range actors {
			next <- a
		}
		close(next)
		errs := make(chan error, readers)
		for range readers {
			go func() {
				for a := range next {
					var n int
					err := read(l, ctx, filters[a], from[a], func(events.Record) error { n++; return nil })
					if err == nil && n != tail {
						err = fmt.Errorf("actor %d: read %d events; want %d", a, n, tail)
					}
					if err != nil {
						errs <- err
						return
					}
					total.Add(int64(n))
				}
				errs <- nil
			}()
		}
		for range readers {
			if err := <-errs; err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(total.Load())/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(total.Load()/int64(tail))/elapsed.Seconds(), "actors/s")
}
