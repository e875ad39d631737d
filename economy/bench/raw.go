package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/natslog"
)

// rawFigure is one raw limit measured in the run.
type rawFigure struct {
	Count         int     `json:"count"`
	Parties       int     `json:"parties"` // subjects or actors
	Concurrency   int     `json:"concurrency"`
	Seconds       float64 `json:"seconds"`
	RatePerSecond float64 `json:"rate_per_second"`
	// BatchMessages is the size of each atomic batch, for the raw batch
	// figure only.
	BatchMessages int `json:"batch_messages,omitempty"`
	// Latency is that of each acknowledged operation: an append, a
	// request, or a whole batch's commit.
	Latency *latencies `json:"latency,omitempty"`
}

// ledgerEventBytes is a real TransferSent envelope as the log stores it: the
// size of the raw messages.
func ledgerEventBytes() ([]byte, error) {
	id := events.NewID()
	env, err := events.Encode(events.KindAgent, "a000001", events.TransferSent{
		TransferID: id, ToAgentID: "a000002", AmountMicros: 1 + transferAmountMax/2, Memo: "bench",
	}, events.Meta{Time: time.Now(), IdempotencyKey: id, Prev: samplePrev})
	if err != nil {
		return nil, err
	}
	return events.Marshal(env)
}

// samplePrev stands for the hash of the previous event, which every event
// but an actor's first carries (events/chain): the raw messages are as
// large as the events they are compared with.
var samplePrev = strings.Repeat("0", chain.Len)

// The raw appends go to a stream of their own, configured as the event log
// but on other subjects, deleted after the measurement.
const (
	rawStreamName  = "AGORA_BENCH_RAW"
	rawSubjectRoot = "bench"
)

// rawAppend measures JetStream alone: count messages of payload, published
// with PublishAsync and the headers an actor's append carries (the stream,
// the expected last sequence of the subject's filter, a message id), one in
// flight per subject, over one subject per id. It is the ceiling of the
// ledger, which appends the same way one event at a time per actor.
func rawAppend(ctx context.Context, nc *nats.Conn, ids []string, count int, payload []byte) (rawFigure, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(max(4000, 2*len(ids))))
	if err != nil {
		return rawFigure{}, err
	}
	drop, err := createRawStream(ctx, js, "raw append rate")
	if err != nil {
		return rawFigure{}, fmt.Errorf("raw append: %w", err)
	}
	defer drop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	lat := make([][]time.Duration, len(ids))
	started := time.Now()
	for i, id := range ids {
		n := count / len(ids)
		if i < count%len(ids) {
			n++
		}
		wg.Go(func() {
			var err error
			if lat[i], err = rawSubject(ctx, js, id, n, payload); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	if err := context.Cause(ctx); err != nil {
		return rawFigure{}, fmt.Errorf("raw append: %w", err)
	}
	l := summarise(slices.Concat(lat...))
	return rawFigure{Count: count, Parties: len(ids), Concurrency: len(ids), Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed), Latency: &l}, nil
}

// createRawStream creates the stream of a raw measurement, what it is for
// in its description; drop deletes it.
func createRawStream(ctx context.Context, js jetstream.JetStream, what string) (drop func(), err error) {
	cfg := natslog.StreamConfig(natslog.StreamOptions{Name: rawStreamName})
	cfg.Subjects = []string{rawSubjectRoot + ".>"}
	cfg.Description = "agora bench: " + what + " (deleted after the measurement)"
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("create stream: %w", err)
	}
	return func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = js.DeleteStream(dctx, rawStreamName)
	}, nil
}

// rawSubjectOf is the subject of agent id's raw messages and the filter
// of its expectations, as an actor's append has them.
func rawSubjectOf(id string) (subject, filter string) {
	return rawSubjectRoot + ".agent." + id + "." + events.TransferSent{}.EventType(), rawSubjectRoot + ".agent." + id + ".>"
}

// rawSubject appends n messages to one subject, each after the previous
// one's acknowledgement, expecting the sequence that acknowledgement gave,
// and returns the latency of each.
func rawSubject(ctx context.Context, js jetstream.JetStream, id string, n int, payload []byte) ([]time.Duration, error) {
	subject, filter := rawSubjectOf(id)
	lat := make([]time.Duration, 0, n)
	var last uint64
	for range n {
		began := time.Now()
		f, err := js.PublishAsync(subject, payload,
			jetstream.WithExpectStream(rawStreamName),
			jetstream.WithExpectLastSequenceForSubject(last, filter),
			jetstream.WithMsgID(events.NewID()))
		if err != nil {
			return lat, err
		}
		select {
		case ack := <-f.Ok():
			last = ack.Sequence
			lat = append(lat, time.Since(began))
		case err := <-f.Err():
			return lat, err
		case <-ctx.Done():
			return lat, ctx.Err()
		}
	}
	return lat, nil
}

// benchPing is the request of the raw actor measurement.
type benchPing struct{ n int }

// rawActor measures protoactor alone: count request/response round trips
// (RequestFuture.Result, as runtime.Host asks) to actors that only answer,
// with workers callers at once, each request to a random actor.
func rawActor(ctx context.Context, actors, workers, count int) (rawFigure, error) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer system.Shutdown()
	props := actor.PropsFromFunc(func(c actor.Context) {
		if p, ok := c.Message().(benchPing); ok {
			c.Respond(p.n)
		}
	})
	pids := make([]*actor.PID, actors)
	for i := range pids {
		pids[i] = system.Root.Spawn(props)
	}
	defer func() {
		for _, pid := range pids {
			system.Root.Stop(pid)
		}
	}()
	workers = max(min(workers, count), 1)
	lat := make([][]time.Duration, workers)
	started := time.Now()
	err := parallel(ctx, count, workers, func(_ context.Context, w, i int) error {
		began := time.Now()
		res, err := system.Root.RequestFuture(pids[rand.IntN(len(pids))], benchPing{i}, 30*time.Second).Result()
		if err != nil {
			return fmt.Errorf("raw actor request: %w", err)
		}
		if res != i {
			return errors.New("raw actor request: wrong answer")
		}
		lat[w] = append(lat[w], time.Since(began))
		return nil
	})
	elapsed := time.Since(started)
	if err != nil {
		return rawFigure{}, err
	}
	l := summarise(slices.Concat(lat...))
	return rawFigure{Count: count, Parties: actors, Concurrency: workers, Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed), Latency: &l}, nil
}
