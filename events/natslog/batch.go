package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// The headers of JetStream's atomic batch publish (nats-server
// server/stream.go, JSBatchId, JSBatchSeq, JSBatchCommit).
const (
	batchIDHeader     = "Nats-Batch-Id"
	batchSeqHeader    = "Nats-Batch-Sequence"
	batchCommitHeader = "Nats-Batch-Commit"
)

// Answers of the server after which a batch is known not to be stored and
// may be sent again under a fresh id: messages of the batch were dropped
// before its commit (incomplete), the server stages too many batches
// already, or its ingest queue was full.
const (
	errCodeBatchIncomplete      jetstream.ErrorCode = 10176
	errCodeBatchTooManyInflight jetstream.ErrorCode = 10210
	errCodeStreamTooManyRequest jetstream.ErrorCode = 10167
)

// batchAttemptsMax bounds how often one Append sends its batch; the waits
// between attempts double from batchRetryWait. A batch refused for a reason
// that cannot pass is returned at once.
const (
	batchAttemptsMax = 4
	batchRetryWait   = 20 * time.Millisecond
)

// errNoResponders is the answer when nothing serves the stream's subjects
// (no stream, or no leader during an election): nothing was stored.
var errNoResponders = errors.New("natslog: no stream answered the batch commit")

// errCommitUnanswered is returned when the connection was lost after a
// batch commit was sent: the batch may or may not be stored, and the
// caller recovers from the log as after any failed append.
var errCommitUnanswered = errors.New("natslog: connection lost before the batch commit was answered")

// appendBatch stores envs as one JetStream atomic batch. Every message
// carries Nats-Batch-Id (fresh for each attempt) and Nats-Batch-Sequence
// (1..n); the first carries the expectations, which the server checks at
// the commit against the state before the batch; the last carries
// Nats-Batch-Commit. The messages before the commit are published without
// a reply, so a batch costs one round trip; if any of them is lost (the
// connection drops, the server's queue is full) the server answers the
// commit with "incomplete batch" and stores nothing, and the batch is sent
// again. A batch whose commit was never sent is dropped by the server after
// its batch timeout (10 s by default): nothing partial is ever stored.
//
// When ctx ends after the commit was sent, the outcome is unknown: the
// caller gets ctx's error, and recovers from the log as after any failed
// append. A retry with the same envelopes and the same expectation is
// answered with the sequence of the first copy (findBatchCopy).
func (l *Log) appendBatch(ctx context.Context, filter string, expectedLast uint64, envs []events.Envelope) (uint64, error) {
	subjects, data, _, err := marshalAll(filter, envs)
	if err != nil {
		return 0, err
	}
	return l.appendBatchData(ctx, filter, expectedLast, envs, subjects, data)
}

// marshalAll checks that envs may be appended under filter and encodes
// them; size is the sum of their encodings.
func marshalAll(filter string, envs []events.Envelope) (subjects []string, data [][]byte, size int, err error) {
	subjects = make([]string, len(envs))
	data = make([][]byte, len(envs))
	for i, env := range envs {
		if err := validateSubject(env.Subject, filter); err != nil {
			return nil, nil, 0, err
		}
		b, err := events.Marshal(env)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("natslog: append %s: %w", env.Subject, err)
		}
		subjects[i], data[i] = env.Subject, b
		size += len(b)
	}
	return subjects, data, size, nil
}

// appendBatchData is appendBatch with envs already encoded.
func (l *Log) appendBatchData(ctx context.Context, filter string, expectedLast uint64, envs []events.Envelope, subjects []string, data [][]byte) (uint64, error) {
	sctx, cancel := l.scope(ctx)
	defer cancel()
	expect := []expectation{{filter: filter, last: expectedLast}}
	for attempt := 1; ; attempt++ {
		last, err := l.publishBatch(sctx, expect, subjects, data)
		if err == nil {
			return last, nil
		}
		if isUnchecked(err) && attempt < uncheckedAttemptsMax {
			// Nothing was stored: send it again once the append in
			// process (maybe this caller's previous one) is applied.
			if l.pause(sctx, uncheckedRetryWait<<(attempt-1)) {
				continue
			}
		}
		if isWrongLastSequence(err) {
			if seq, ok := l.findBatchCopy(sctx, filter, expectedLast, envs); ok {
				return seq, nil
			}
			return 0, fmt.Errorf("%w: %s expected at %d: %w", events.ErrWrongLastSequence, filter, expectedLast, err)
		}
		if !batchRetryable(err) || attempt == batchAttemptsMax {
			return 0, fmt.Errorf("natslog: append batch of %d to %s: %w", len(envs), filter, l.stopped(ctx, err))
		}
		select {
		case <-time.After(batchRetryWait << (attempt - 1)):
		case <-sctx.Done():
			return 0, fmt.Errorf("natslog: append batch of %d to %s: %w", len(envs), filter, l.stopped(ctx, err))
		}
	}
}

func batchRetryable(err error) bool {
	if errors.Is(err, errNoResponders) {
		return true
	}
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case errCodeBatchIncomplete, errCodeBatchTooManyInflight, errCodeStreamTooManyRequest:
		return true
	}
	return false
}

// expectation is the expected last sequence of filter, carried by the
// message at index at of a batch: the first message of each writer's part.
type expectation struct {
	at     int
	filter string
	last   uint64
}

// publishBatch sends one attempt of a batch and waits for the commit's
// answer. expect is in the order of the messages.
func (l *Log) publishBatch(ctx context.Context, expect []expectation, subjects []string, data [][]byte) (uint64, error) {
	id := events.NewID()
	answer, err := l.answers.open(l.nc)
	if err != nil {
		return 0, err
	}
	defer answer.close()
	n := len(subjects)
	msgs := make([]*nats.Msg, n)
	idv := []string{id}
	for i := range msgs {
		h := make(nats.Header, 6)
		h[batchIDHeader] = idv
		h[batchSeqHeader] = []string{strconv.Itoa(i + 1)}
		if len(expect) > 0 && expect[0].at == i {
			// On the first message of each writer's part only: the
			// server refuses a repeated expectation on a filter the
			// batch already writes to (checkMsgHeadersPreClusteredProposal),
			// and the first one guards the whole part since the batch
			// commits as one.
			h[jetstream.ExpectedStreamHeader] = []string{l.name}
			h[jetstream.ExpectedLastSubjSeqHeader] = []string{strconv.FormatUint(expect[0].last, 10)}
			h[jetstream.ExpectedLastSubjSeqSubjHeader] = []string{expect[0].filter}
			expect = expect[1:]
		}
		m := &nats.Msg{Subject: subjects[i], Data: data[i], Header: h}
		if i == n-1 {
			h.Set(batchCommitHeader, "1")
			m.Reply = answer.reply
		}
		msgs[i] = m
	}
	answer.sent()
	if err := l.sendBatch(ctx, msgs); err != nil {
		return 0, err
	}
	// Like a JetStream publish, wait for the answer no longer than the
	// client's default timeout when ctx has no deadline.
	if _, ok := ctx.Deadline(); !ok {
		if d := l.js.Options().DefaultTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	m, err := answer.next(ctx)
	if errors.Is(err, errConnLost) {
		return 0, errCommitUnanswered
	}
	if err != nil {
		return 0, err
	}
	return parseCommitAck(m, l.name, id, n)
}

// sendBatch writes the messages of a batch to the connection as one run:
// messages of concurrent batches would otherwise interleave, and the server
// would stage as many batches at once as there are writers.
func (l *Log) sendBatch(ctx context.Context, msgs []*nats.Msg) error {
	l.batchMu.Lock()
	defer l.batchMu.Unlock()
	for i, m := range msgs {
		if i == len(msgs)-1 {
			if l.beforeCommit != nil {
				l.beforeCommit(m)
			}
			// The last moment to give up without an unknown outcome:
			// nothing is stored before the commit.
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := l.nc.PublishMsg(m); err != nil {
			return err
		}
	}
	return nil
}

// commitAck is the server's answer to a batch commit (nats-server
// JSPubAckResponse: an error, or a PubAck with the batch id and size).
type commitAck struct {
	Error  *jetstream.APIError `json:"error,omitempty"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Batch  string              `json:"batch"`
	Count  int                 `json:"count"`
}

func parseCommitAck(m *nats.Msg, stream, id string, n int) (uint64, error) {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return 0, errNoResponders
		}
		return 0, fmt.Errorf("natslog: batch commit answered with status %q %q", m.Header.Get("Status"), m.Header.Get("Description"))
	}
	var ack commitAck
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return 0, fmt.Errorf("natslog: batch commit answer %q: %w", m.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Stream != stream || ack.Batch != id || ack.Count != n || ack.Seq < uint64(n) {
		return 0, fmt.Errorf("natslog: batch commit answer %s does not acknowledge batch %s of %d messages in %s", m.Data, id, n, stream)
	}
	return ack.Seq, nil
}

// findBatchCopy reports whether envs are already stored right after
// expectedLast, as when a batch whose answer was lost is sent again: a
// batch is stored consecutively, so its first and last envelope ids at the
// right distance identify it. Errors count as "not found".
func (l *Log) findBatchCopy(ctx context.Context, filter string, expectedLast uint64, envs []events.Envelope) (uint64, bool) {
	first, last := envs[0].ID, envs[len(envs)-1].ID
	if first == "" || last == "" {
		return 0, false
	}
	m, err := l.stream.GetMsg(ctx, expectedLast+1, jetstream.WithGetMsgSubject(filter))
	if err != nil || envelopeID(m.Data) != first {
		return 0, false
	}
	end := m.Sequence + uint64(len(envs)) - 1
	if m, err = l.stream.GetMsg(ctx, end); err != nil || envelopeID(m.Data) != last {
		return 0, false
	}
	return end, true
}

func envelopeID(data []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &e)
	return e.ID
}
