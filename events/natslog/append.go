package natslog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// duplicateScanMax bounds the search for an earlier copy of an event after a
// wrong-last-sequence answer (see Append). A retried append finds its first
// copy among the next few records of its filter; past this bound the caller
// gets ErrWrongLastSequence and recovers from the log, which is also correct.
const duplicateScanMax = 100

// Append implements events.Log. The expectation is checked by the server
// (Nats-Expected-Last-Subject-Sequence with the filter in
// Nats-Expected-Last-Subject-Sequence-Subject), so two processes appending to
// one actor cannot interleave its history.
//
// One envelope is one publish whose message id is the envelope id: an
// append retried with the same envelope returns the sequence of the first
// copy instead of storing a second one. Several envelopes are one atomic
// batch (see appendBatch); JetStream refuses message ids inside a batch, so
// a retried batch is recognised only by its envelope ids after a conflict.
func (l *Log) Append(ctx context.Context, filter string, expectedLast uint64, envs ...events.Envelope) (uint64, error) {
	if err := l.begin(ctx, filter); err != nil {
		return 0, err
	}
	if len(envs) == 0 || len(envs) > events.AppendBatchMax {
		return 0, fmt.Errorf("%w: %d envelopes", events.ErrBatchSize, len(envs))
	}
	if len(envs) == 1 {
		return l.appendOne(ctx, filter, expectedLast, envs[0])
	}
	return l.appendBatch(ctx, filter, expectedLast, envs)
}

func (l *Log) appendOne(ctx context.Context, filter string, expectedLast uint64, env events.Envelope) (uint64, error) {
	if err := validateSubject(env.Subject, filter); err != nil {
		return 0, err
	}
	data, err := events.Marshal(env)
	if err != nil {
		return 0, fmt.Errorf("natslog: append %s: %w", env.Subject, err)
	}
	return l.appendOneData(ctx, filter, expectedLast, env, data)
}

// appendOneData is appendOne with env already encoded as data.
func (l *Log) appendOneData(ctx context.Context, filter string, expectedLast uint64, env events.Envelope, data []byte) (uint64, error) {
	seq, err := l.publish(ctx, env.Subject, filter, expectedLast, env.ID, data)
	for attempt := 1; errors.Is(err, jetstream.ErrNoStreamResponse) && attempt <= unansweredAttemptsMax; attempt++ {
		if !l.pause(ctx, unansweredRetryWait) {
			break
		}
		seq, err = l.publish(ctx, env.Subject, filter, expectedLast, env.ID, data)
	}
	for attempt := 1; err != nil && isUnchecked(err) && attempt < uncheckedAttemptsMax; attempt++ {
		if !l.pause(ctx, uncheckedRetryWait<<(attempt-1)) {
			break
		}
		seq, err = l.publish(ctx, env.Subject, filter, expectedLast, env.ID, data)
	}
	if err == nil {
		// A duplicate ack carries the sequence of the first copy, which is
		// the answer to a retried append.
		return seq, nil
	}
	if !isWrongLastSequence(err) {
		return 0, fmt.Errorf("natslog: append %s: %w", env.Subject, l.stopped(ctx, err))
	}
	// A single server checks the expected sequence before the message id, so
	// a retry of an append that did succeed (its ack was lost, or the caller
	// timed out) is refused as a wrong last sequence rather than
	// acknowledged as a duplicate. Look for the first copy after the
	// expected sequence before reporting a conflict.
	if env.ID != "" {
		sctx, cancel := l.scope(ctx)
		defer cancel()
		if seq, ok := l.findCopy(sctx, filter, expectedLast, env.ID); ok {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("%w: %s expected at %d: %w", events.ErrWrongLastSequence, filter, expectedLast, err)
}

// isWrongLastSequence reports the server's refusal of an expected last
// sequence. 10071 carries the actual last sequence; 10164 is the same
// conflict without it, answered by replicated streams and by batches whose
// expectation cannot be checked (the filter already has messages in flight
// from another batch, jetstream_batching.go checkMsgHeadersPreClusteredProposal).
func isWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// uncheckedAttemptsMax bounds how often an append refused as unchecked
// (isUnchecked) is sent again; the waits between attempts double from
// uncheckedRetryWait, about a quarter of a second in all. A refusal that
// lasts longer is a conflict: another writer's append to the filter is in
// flight, and the caller recovers from the log.
const (
	uncheckedAttemptsMax = 8
	uncheckedRetryWait   = time.Millisecond
)

// unansweredAttemptsMax and unansweredRetryWait are how often, and after
// how long, an append that no stream answered (a 503: no responders, so
// nothing was stored) is sent again: as jetstream.PublishMsg does with its
// default retry (DefaultPubRetryAttempts, DefaultPubRetryWait), which
// publish, reading its answers by hand, would otherwise skip. On a cluster
// the stream has no responder for a moment while it elects a leader or
// right after it was created.
const (
	unansweredAttemptsMax = jetstream.DefaultPubRetryAttempts
	unansweredRetryWait   = jetstream.DefaultPubRetryWait
)

// isUnchecked reports the refusal of an expectation the leader of a
// replicated stream could not check (10164, no actual sequence given): an
// append to the same filter is still in process. That append may be the
// caller's own previous one: the leader answers an append when it applies
// it and only then forgets that it was in process
// (nats-server jetstream_cluster.go applyStreamMsgOp, checkMsgHeadersPreClusteredProposal
// in jetstream_batching.go), so an actor's next append, sent at the
// answer, can be refused although its expectation is right. Nothing was
// stored; the same append sent again a moment later is checked.
func isUnchecked(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// pause waits d, or less if ctx or the log ends first; it reports whether
// the whole wait passed.
func (l *Log) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-l.done.Done():
		return false
	}
}

// findCopy looks for a message with id among the records of filter after
// expectedLast. Errors count as "not found": the caller then reports the
// conflict, which is always safe.
func (l *Log) findCopy(ctx context.Context, filter string, expectedLast uint64, id string) (uint64, bool) {
	seq := expectedLast + 1
	for range duplicateScanMax {
		m, err := l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if err != nil {
			return 0, false
		}
		// A copy stored by a group batch (group.go) has no message id
		// header, only the envelope's own id.
		if m.Header.Get(jetstream.MsgIDHeader) == id || envelopeID(m.Data) == id {
			return m.Sequence, true
		}
		seq = m.Sequence + 1
	}
	return 0, false
}
