package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// The raw atomic batch is the ceiling of a log that commits many actors'
// appends together (issue 13, group commit): with the server's sync
// always, JetStream fsyncs each message published alone but each atomic
// batch once, so a batch of messages of many subjects is what one fsync
// can carry. It is measured here with code of its own rather than with
// events/natslog's, so that the ceiling does not move with the log it is
// the ceiling of.

// The headers of JetStream's atomic batch publish (nats-server
// server/stream.go, JSBatchId, JSBatchSeq, JSBatchCommit).
const (
	rawBatchIDHeader     = "Nats-Batch-Id"
	rawBatchSeqHeader    = "Nats-Batch-Sequence"
	rawBatchCommitHeader = "Nats-Batch-Commit"
)

// Shape of the raw atomic batch measurement: batches of rawBatchMessages
// messages (the server takes up to 1000), and by default
// RawBatchInFlightDefault batches sent at once, each by a sender that owns
// a share of the subjects, so that the server has the next batch queued
// while it stores one, as a log-wide group commit that pipelines its
// batches would. More in flight adds latency for little or no rate (the
// server stores one batch at a time); the flag lets a quiet machine find
// the best. rawBatchInFlightMax stays below the server's limit of atomic
// batches staged per stream (50).
const (
	rawBatchMessages    = 100
	rawBatchInFlightMax = 32
)

// RawBatchInFlightDefault is how many raw atomic batches are sent at once
// unless Common.RawBatchInFlight says otherwise.
const RawBatchInFlightDefault = 2

// measureRawBatch is the raw atomic batch an economy benchmark is compared
// with: count messages of payload in atomic batches over one subject per
// id, and the process's CPU time per message in microseconds.
func measureRawBatch(ctx context.Context, c Common, n *economy.Node, ids []string, count int, payload []byte) (rawFigure, float64, error) {
	progressf(c.Progress, "raw JetStream atomic batches: %d messages of %d bytes in batches of %d over %d subjects (sync %s)",
		count, len(payload), rawBatchMessages, len(ids), c.Sync)
	cpu := processCPU()
	inFlight := c.RawBatchInFlight
	if inFlight == 0 {
		inFlight = RawBatchInFlightDefault
	}
	f, err := rawAtomicBatch(ctx, n.Conn(), ids, count, rawBatchMessages, inFlight, payload)
	if err != nil {
		return f, 0, err
	}
	return f, perEvent(processCPU()-cpu, uint64(f.Count)), nil
}

// rawAtomicBatch measures JetStream's atomic batch publish alone: count
// messages of payload over one subject per id, in batches of batchSize
// messages, inFlight senders at once, each sending a batch after the
// previous one's commit is acknowledged. A sender owns every inFlight-th
// subject and fills a batch with its subjects in turn, so that a batch
// holds as many subjects as it can. Every message carries the headers an
// actor's append carries (the stream, a message id), and the first message
// of each subject in a batch the expected last sequence of the subject's
// filter, as a group commit's members do.
func rawAtomicBatch(ctx context.Context, nc *nats.Conn, ids []string, count, batchSize, inFlight int, payload []byte) (rawFigure, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return rawFigure{}, err
	}
	drop, err := createRawStream(ctx, js, "raw atomic batch rate")
	if err != nil {
		return rawFigure{}, fmt.Errorf("raw atomic batch: %w", err)
	}
	defer drop()
	inFlight = max(min(inFlight, len(ids), (count+batchSize-1)/batchSize), 1)
	senders := make([]*batchSender, inFlight)
	for w := range senders {
		s := &batchSender{nc: nc, payload: payload, last: map[string]uint64{}}
		for i := w; i < len(ids); i += inFlight {
			s.subjects = append(s.subjects, ids[i])
		}
		s.count = count / inFlight
		if w < count%inFlight {
			s.count++
		}
		if s.inbox, err = nc.SubscribeSync(nc.NewInbox()); err != nil {
			return rawFigure{}, fmt.Errorf("raw atomic batch: %w", err)
		}
		defer func() { _ = s.inbox.Unsubscribe() }()
		senders[w] = s
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var sendMu sync.Mutex
	var wg sync.WaitGroup
	started := time.Now()
	for _, s := range senders {
		wg.Go(func() {
			if err := s.run(ctx, &sendMu, batchSize); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	if err := context.Cause(ctx); err != nil {
		return rawFigure{}, fmt.Errorf("raw atomic batch: %w", err)
	}
	lat := make([][]time.Duration, len(senders))
	for i, s := range senders {
		lat[i] = s.latency
	}
	l := summarise(slices.Concat(lat...))
	return rawFigure{Count: count, Parties: len(ids), Concurrency: inFlight, Seconds: elapsed.Seconds(),
		RatePerSecond: rate(float64(count), elapsed), BatchMessages: batchSize, Latency: &l}, nil
}

// batchSender sends one share of the raw atomic batches.
type batchSender struct {
	nc       *nats.Conn
	payload  []byte
	subjects []string // agent ids
	count    int
	inbox    *nats.Subscription // the commits' answers
	last     map[string]uint64  // each subject's last sequence
	next     int                // the subject the next message goes to
	latency  []time.Duration    // of each batch, from its first message to its answer
}

// run sends s.count messages in batches of at most size, each after the
// previous one's answer. sendMu keeps the messages of one batch together on
// the connection, as the log does: the server stages as few batches at once
// as there are batches in flight.
func (s *batchSender) run(ctx context.Context, sendMu *sync.Mutex, size int) error {
	for sent := 0; sent < s.count; {
		n := min(size, s.count-sent)
		msgs, members := s.batch(n)
		began := time.Now()
		sendMu.Lock()
		var err error
		for _, m := range msgs {
			if err = s.nc.PublishMsg(m); err != nil {
				break
			}
		}
		sendMu.Unlock()
		if err != nil {
			return err
		}
		answer, err := s.inbox.NextMsgWithContext(ctx)
		if err != nil {
			return err
		}
		lastSeq, err := parseBatchAck(answer, msgs[0].Header.Get(rawBatchIDHeader), n)
		if err != nil {
			return err
		}
		s.latency = append(s.latency, time.Since(began))
		// The batch is stored consecutively: message i at lastSeq-n+1+i.
		for i, id := range members {
			s.last[id] = lastSeq - uint64(n-1-i)
		}
		sent += n
	}
	return nil
}

// batch builds the next batch of n messages over s's subjects in turn, and
// the subject (agent id) of each message.
func (s *batchSender) batch(n int) ([]*nats.Msg, []string) {
	batchID := events.NewID()
	msgs, members := make([]*nats.Msg, n), make([]string, n)
	inBatch := make(map[string]bool, min(n, len(s.subjects)))
	for i := range n {
		id := s.subjects[s.next]
		s.next = (s.next + 1) % len(s.subjects)
		subject, filter := rawSubjectOf(id)
		h := make(nats.Header, 7)
		h.Set(rawBatchIDHeader, batchID)
		h.Set(rawBatchSeqHeader, strconv.Itoa(i+1))
		h.Set(jetstream.ExpectedStreamHeader, rawStreamName)
		h.Set(jetstream.MsgIDHeader, events.NewID())
		// The server checks an expectation only on the first message of a
		// subject in a batch, and refuses one on a subject the batch has
		// already written.
		if !inBatch[id] {
			inBatch[id] = true
			h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(s.last[id], 10))
			h.Set(jetstream.ExpectedLastSubjSeqSubjHeader, filter)
		}
		m := &nats.Msg{Subject: subject, Data: s.payload, Header: h}
		if i == n-1 {
			h.Set(rawBatchCommitHeader, "1")
			m.Reply = s.inbox.Subject
		}
		msgs[i], members[i] = m, id
	}
	return msgs, members
}

// parseBatchAck reads the server's answer to the commit of batch id of n
// messages (nats-server JSPubAckResponse) and returns the sequence of its
// last message.
func parseBatchAck(m *nats.Msg, id string, n int) (uint64, error) {
	if len(m.Data) == 0 {
		return 0, fmt.Errorf("batch commit answered with status %q %q", m.Header.Get("Status"), m.Header.Get("Description"))
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error,omitempty"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
		Batch  string              `json:"batch"`
		Count  int                 `json:"count"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return 0, fmt.Errorf("batch commit answer %q: %w", m.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Stream != rawStreamName || ack.Batch != id || ack.Count != n || ack.Seq < uint64(n) {
		return 0, fmt.Errorf("batch commit answer %s does not acknowledge batch %s of %d messages", m.Data, id, n)
	}
	return ack.Seq, nil
}
