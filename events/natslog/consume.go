package natslog

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// ReadBatch is how many messages a follower's ordered consumer pulls at
// once: 1000 messages of ~300 bytes keep the client buffer small and the
// pipe full.
const ReadBatch = 1000

// cleanupTimeout bounds the deletion of a follower's consumer, which runs
// even when the follower's context is already done.
const cleanupTimeout = 2 * time.Second

// consume delivers the records of filter from sequence from through an
// ordered consumer: an ephemeral, unacknowledged, flow-controlled consumer
// that the client recreates from the last delivered sequence if it sees a
// gap, so records arrive exactly once and in order. Follow waits on it once
// caught up. With stopAtEnd it stops at the backlog the consumer counted
// when it was created: Read as it was before direct gets, kept for the
// benchmarks that compare the two (a consumer may deliver the first part
// of an atomic batch being committed; a direct get never does).
//
// sctx is the call's scope (ctx or Close); ctx is the caller's, to tell the
// two apart in errors.
// With inline, the backlog is decoded on the goroutine that reads it, one
// record after the other (Scan), rather than by workers.
func (l *Log) consume(sctx, ctx context.Context, filter string, from uint64, stopAtEnd, inline bool, o only, fn func(events.Record) error) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	}
	if from > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = from
	}
	cons, err := l.js.OrderedConsumer(sctx, l.name, cfg)
	if err != nil {
		return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	// The ordered consumer creates its server-side consumer now; it would
	// otherwise linger until its inactivity threshold (5 minutes).
	defer l.deleteConsumer(cons)

	// The backlog is what matched when the consumer was created: the end of
	// a Read, and what a Follow catches up on before it waits.
	info := cons.CachedInfo()
	if info == nil {
		return fmt.Errorf("natslog: read %s: consumer has no info", filter)
	}
	backlog := info.NumPending
	if stopAtEnd && backlog == 0 {
		return nil
	}

	it, err := cons.Messages(jetstream.PullMaxMessages(ReadBatch))
	if err != nil {
		return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	defer it.Stop()

	if backlog > 0 {
		src := &consumerSource{it: it, left: backlog}
		read := replay
		if inline {
			read = replayInline
		}
		if err := read(sctx, src, o, fn); err != nil {
			if cb, ok := err.(callbackError); ok {
				return cb.err
			}
			return fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
		}
		if stopAtEnd {
			return nil
		}
	}
	// Caught up: new records come one at a time, so deliver each at once.
	for {
		msg, err := it.Next(jetstream.NextContext(sctx))
		if err != nil {
			return fmt.Errorf("natslog: follow %s: %w", filter, l.stopped(ctx, err))
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("natslog: follow %s: %w", filter, err)
		}
		rec, err := o.decode(meta.Sequence.Stream, msg.Subject(), msg.Data())
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}

// consumerSource is the backlog of an ordered consumer as a replay source:
// left messages, or fewer if the server counts nothing pending after one
// (so that a replay cannot wait for a record that is gone).
type consumerSource struct {
	it   jetstream.MessagesContext
	left uint64
}

func (s *consumerSource) next(ctx context.Context) (uint64, string, []byte, error) {
	if s.left == 0 {
		return 0, "", nil, io.EOF
	}
	m, err := s.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return 0, "", nil, err
	}
	meta, err := m.Metadata()
	if err != nil {
		return 0, "", nil, err
	}
	s.left--
	if meta.NumPending == 0 {
		s.left = 0
	}
	return meta.Sequence.Stream, m.Subject(), m.Data(), nil
}

func (l *Log) deleteConsumer(cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	// Best effort: the server removes a forgotten consumer after its
	// inactivity threshold anyway.
	_ = l.js.DeleteConsumer(ctx, l.name, info.Name)
}
