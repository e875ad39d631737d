package natslog

import (
	"context"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/events"
)

// SetBeforeCommit makes l call f with a batch's commit message before it
// sends it, with the rest of the batch already written.
func SetBeforeCommit(l *Log, f func(commit *nats.Msg)) { l.beforeCommit = f }

// ReadWithConsumer is Read through an ordered consumer, the path of streams
// without direct gets: benchmarks compare it with direct gets.
func ReadWithConsumer(l *Log, ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	if err := l.begin(ctx, filter); err != nil {
		return err
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	return l.consume(sctx, ctx, filter, from, true, false, nil, fn)
}

// ErrConnLost is what an append waiting for its answer gets when its
// connection is lost.
var ErrConnLost = errConnLost

// PublishWithAnswer publishes data on subject as an append does, and waits
// for the answer as an append does.
func PublishWithAnswer(l *Log, ctx context.Context, subject string, data []byte) (uint64, error) {
	return l.publish(ctx, subject, subject, 0, "", data)
}
