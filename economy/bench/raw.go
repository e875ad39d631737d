package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	cfg := natslog.StreamConfig(natslog.StreamOptions{Name: rawStreamName})
	cfg.Subjects = []string{rawSubjectRoot + ".>"}
	cfg.Description = "agora bench: raw append rate (deleted after the measurement)"
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return rawFigure{}, fmt.Errorf("raw append: create stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = js.DeleteStream(dctx, rawStreamName)
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	started := time.Now()
	for i, id := range ids {
		n := count / len(ids)
		if i < count%len(ids) {
			n++
		}
		wg.Go(func() {
			if err := rawSubject(ctx, js, id, n, payload); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	if err := context.Cause(ctx); err != nil {
		return rawFigure{}, fmt.Errorf("raw append: %w", err)
	}
	return rawFigure{Count: count, Parties: len(ids), Concurrency: len(ids), Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed)}, nil
}

// rawSubject appends n messages to one subject, each after the previous
// one's acknowledgement, expecting the sequence that acknowledgement gave.
func rawSubject(ctx context.Context, js jetstream.JetStream, id string, n int, payload []byte) error {
	subject := rawSubjectRoot + ".agent." + id + "." + events.TransferSent{}.EventType()
	filter := rawSubjectRoot + ".agent." + id + ".>"
	var last uint64
	for range n {
		f, err := js.PublishAsync(subject, payload,
			jetstream.WithExpectStream(rawStreamName),
			jetstream.WithExpectLastSequenceForSubject(last, filter),
			jetstream.WithMsgID(events.NewID()))
		if err != nil {
			return err
		}
		select {
		case ack := <-f.Ok():
			last = ack.Sequence
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
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
	started := time.Now()
	err := parallel(ctx, count, workers, func(_ context.Context, _, i int) error {
		res, err := system.Root.RequestFuture(pids[rand.IntN(len(pids))], benchPing{i}, 30*time.Second).Result()
		if err != nil {
			return fmt.Errorf("raw actor request: %w", err)
		}
		if res != i {
			return errors.New("raw actor request: wrong answer")
		}
		return nil
	})
	elapsed := time.Since(started)
	if err != nil {
		return rawFigure{}, err
	}
	return rawFigure{Count: count, Parties: actors, Concurrency: workers, Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed)}, nil
}
