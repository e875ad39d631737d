package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// benchLedger writes, as the actors and the transfer manager would, the log
// of `agora bench restart`: agents created with a grant, then transfers
// between them, each sent by one agent and received by the other, every
// event chained to its actor's previous one. It returns the stored
// messages in log order.
func benchLedger(tb testing.TB, agents, transfers int) []stored {
	tb.Helper()
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	prev := map[string]string{}
	var out []stored
	var seq uint64
	var last string // the id of the last event written
	write := func(id string, e events.Event, m events.Meta) {
		at = at.Add(time.Millisecond)
		m.Time, m.Prev = at, prev[id]
		env, err := events.Encode(events.KindAgent, id, e, m)
		if err != nil {
			tb.Fatal(err)
		}
		b, err := events.Marshal(env)
		if err != nil {
			tb.Fatal(err)
		}
		prev[id] = chain.Sum(b)
		last = env.ID
		seq++
		out = append(out, stored{subject: env.Subject, data: b})
	}
	ids := make([]string, agents)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%06d", i)
		write(ids[i], events.AgentCreated{AgentID: ids[i], GrantMicros: events.Credits(1000), Reason: "bench"},
			events.Meta{IdempotencyKey: events.NewID()})
	}
	for i := range transfers {
		from, to := ids[i%agents], ids[(i*7+1)%agents]
		if from == to {
			to = ids[(i+1)%agents]
		}
		tid := events.NewID()
		write(from, events.TransferSent{TransferID: tid, ToAgentID: to, AmountMicros: 1 + events.Micros(i%1000)},
			events.Meta{IdempotencyKey: tid})
		sent, cause := seq, last
		write(to, events.TransferReceived{TransferID: tid, FromAgentID: from, AmountMicros: 1 + events.Micros(i%1000),
			Trigger: events.Trigger{Manager: "transfers", Seq: sent}},
			events.Meta{CausationID: cause, IdempotencyKey: fmt.Sprintf("transfers/%d/0", sent)})
	}
	return out
}

// benchLog publishes msgs into the stream of a fresh embedded server and
// returns the log.
func benchLog(b *testing.B, msgs []stored) (*natslog.Log, jetstream.JetStream) {
	b.Helper()
	ctx := context.Background()
	_, js, _ := natstest.Start(b)
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(log.Close)
	for i, m := range msgs {
		if _, err := js.PublishAsync(m.subject, m.data); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	if last, err := log.LastSeq(ctx); err != nil || last != uint64(len(msgs)) {
		b.Fatalf("log holds %d records (%v); want %d", last, err, len(msgs))
	}
	return log, js
}

// auditBenchTransfers sizes BenchmarkAudit's log: two events a transfer,
// after 1,000 creations.
var auditBenchTransfers = flag.Int("audit.transfers", 200_000, "transfers in the log of BenchmarkAudit")

// rawReplay reads the whole log as the audit reads it (events.ScanLog) and
// decodes every event, folding nothing: the reference of the audit's speed
// (issue 13: the audit at least half as fast as this).
func rawReplay(ctx context.Context, log events.Log) (int, error) {
	n := 0
	err := events.ScanLog(ctx, log, events.SubjectRoot+".>", 1, func(r events.Record) error {
		if _, err := events.Decode(r.Envelope); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// decodedReplay is `agora bench restart`'s reference for the audit: the
// whole stream read through an ordered consumer, each record's envelope and
// event decoded on the reading goroutine, nothing folded.
func decodedReplay(ctx context.Context, js jetstream.JetStream, stream string) (int, error) {
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, err
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, err
	}
	defer it.Stop()
	for n := 1; ; n++ {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return n, err
		}
		meta, err := m.Metadata()
		if err != nil {
			return n, err
		}
		env, err := events.Unmarshal(m.Data())
		if err != nil {
			return n, err
		}
		if _, err := events.Decode(env); err != nil {
			return n, err
		}
		if meta.NumPending == 0 {
			return n, nil
		}
	}
}

// BenchmarkAudit measures `agora audit` against a raw replay with JSON
// decoding of the same log on the same embedded server: 1,000 agents and
// 200,000 transfers (401,000 events; -audit.transfers sets the number).
// Each iteration of ratio runs both,
// so the ratio audit/raw (target <= 2) is measured in one run; raw and
// audit alone give ns/op to compare with benchstat:
//
//	go test ./cmd/agora -run '^$' -bench Audit -benchtime 3x -count 5
func BenchmarkAudit(b *testing.B) {
	msgs := benchLedger(b, 1000, *auditBenchTransfers)
	log, js := benchLog(b, msgs)
	ctx := context.Background()
	events := float64(len(msgs))
	raw := func(b *testing.B) time.Duration {
		runtime.GC()
		started := time.Now()
		n, err := rawReplay(ctx, log)
		if err != nil || n != len(msgs) {
			b.Fatalf("raw replay read %d (%v); want %d", n, err, len(msgs))
		}
		return time.Since(started)
	}
	decoded := func(b *testing.B) time.Duration {
		runtime.GC()
		started := time.Now()
		n, err := decodedReplay(ctx, js, log.Stream())
		if err != nil || n != len(msgs) {
			b.Fatalf("decoded replay read %d (%v); want %d", n, err, len(msgs))
		}
		return time.Since(started)
	}
	auditOnce := func(b *testing.B) time.Duration {
		runtime.GC()
		started := time.Now()
		if err := audit(ctx, log, bound{}, io.Discard, false); err != nil {
			b.Fatal(err)
		}
		return time.Since(started)
	}
	b.Run("raw", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			d += raw(b)
		}
		b.ReportMetric(events*float64(b.N)/d.Seconds(), "events/s")
	})
	b.Run("audit", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			d += auditOnce(b)
		}
		b.ReportMetric(events*float64(b.N)/d.Seconds(), "events/s")
	})
	b.Run("decoded", func(b *testing.B) {
		var d time.Duration
		for b.Loop() {
			d += decoded(b)
		}
		b.ReportMetric(events*float64(b.N)/d.Seconds(), "events/s")
	})
	// The ratios are of the fastest run of each side: on a machine others
	// load, the least disturbed. Each iteration runs the sides in the
	// order raw, decoded, audit, audit, decoded, raw, so that no side gains
	// from its place. audit-rate/decoded is `agora bench restart`'s
	// ratio_audit_to_decoded_replay (target >= 0.5). The process's CPU
	// time (the embedded server's included) is reported beside the first:
	// others' load stretches it less than the wall clock.
	b.Run("ratio", func(b *testing.B) {
		r, d, a := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
		var rCPU, aCPU time.Duration
		rawTimed := func() {
			c := cpuTime(b)
			r = min(r, raw(b))
			rCPU += cpuTime(b) - c
		}
		auditTimed := func() {
			c := cpuTime(b)
			a = min(a, auditOnce(b))
			aCPU += cpuTime(b) - c
		}
		for b.Loop() {
			rawTimed()
			d = min(d, decoded(b))
			auditTimed()
			auditTimed()
			d = min(d, decoded(b))
			rawTimed()
		}
		b.ReportMetric(a.Seconds()/r.Seconds(), "audit/raw")
		b.ReportMetric(aCPU.Seconds()/rCPU.Seconds(), "cpu-audit/raw")
		b.ReportMetric(d.Seconds()/a.Seconds(), "audit-rate/decoded")
	})
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
