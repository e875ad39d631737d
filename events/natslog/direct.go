package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// directBatchMax is how many messages a direct get asks for at once. Each
// answer costs the server a count of the matches (see request), so large
// answers read a wildcard filter half again as fast as answers of 1000;
// readBatchBytesMax bounds them in bytes.
const directBatchMax = 10_000

// readBatchBytesMax bounds the bytes of one direct get answer: the server
// ends a batch early past it, and the reader asks for the rest. It keeps a
// batch of large events well under the client's pending limits.
const readBatchBytesMax = 4 << 20

// Headers of a direct get answer (nats-server server/stream.go, the dgb and
// eob formats of getDirectRequest).
const (
	numPendingHeader = "Nats-Num-Pending"
	statusHeader     = "Status"
	descrHeader      = "Description"
)

// directGetRequest is the part of nats-server's JSApiMsgGetRequest
// (server/jetstream_api.go) a reader uses: the next messages matching
// next_by_subj from seq, batch of them at most. Its up_to_seq field is
// honoured only with multi_last, so the end of a Read is a count instead
// (see directSource).
type directGetRequest struct {
	Seq      uint64 `json:"seq"`
	NextFor  string `json:"next_by_subj,omitempty"` // empty: any subject
	Batch    int    `json:"batch"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// readDirect delivers the records of filter from sequence from that exist
// when the server answers the first request, and returns the sequence of
// the last one delivered (0 when none). It creates nothing on the server:
// any number of actors can recover at once.
func (l *Log) readDirect(sctx, ctx context.Context, filter string, from uint64, o only, fn func(events.Record) error) (uint64, error) {
	subjects := filter
	if filter == l.everything {
		subjects = ""
	}
	src, err := newDirectSource(l.nc, &l.answers, l.directGet, subjects, from)
	if err != nil {
		return 0, fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	defer src.close()
	var last uint64
	err = replay(sctx, src, o, func(r events.Record) error {
		last = r.Seq
		return fn(r)
	})
	if err != nil {
		if cb, ok := err.(callbackError); ok {
			return last, cb.err
		}
		return last, fmt.Errorf("natslog: read %s: %w", filter, l.stopped(ctx, err))
	}
	return last, nil
}

// directSource reads with batched direct gets, one request at a time, the
// answers coming through the log's mux. Every answer is up to Batch messages, each with Nats-Sequence,
// Nats-Num-Pending (matching messages after it) and Nats-Last-Sequence
// (the previous message of this answer, 0 for the first), then a message
// with status 204 "EOB"; or a lone 404 when nothing matches from seq.
//
// The first message's Nats-Num-Pending + 1 is how many records the Read
// delivers. The log is append-only, so those are the same records however
// long the Read takes, and a direct get never sees part of an atomic batch
// (the stream's isolateMu covers the whole answer and the whole commit).
type directSource struct {
	nc      *nats.Conn
	api     string
	filter  string
	answers *queue
	seq     uint64 // where the next request starts
	left    uint64 // records still to deliver, once started
	started bool
	open    bool   // a request is being answered
	prev    uint64 // sequence of the last message of the current answer
}

func newDirectSource(nc *nats.Conn, answers *mux, api, filter string, from uint64) (*directSource, error) {
	q, err := answers.open(nc)
	if err != nil {
		return nil, err
	}
	return &directSource{nc: nc, api: api, filter: filter, answers: q, seq: max(from, 1)}, nil
}

func (s *directSource) close() { s.answers.close() }

// request asks for the next answer: directBatchMax messages, or no more than
// are left once the first answer said how many the Read delivers. The
// server's cost is in its file store, not in the protocol: every batched
// answer counts the matches from seq (fileStore.NumPending: with a wildcard
// filter and seq inside the stream, a walk of the rest of seq's block), and
// finding each next match walks the messages in between, so an actor whose
// events alternate with many others' costs a walk of the whole stream from
// seq. A tail of up to directBatchMax records is therefore read with a single
// request, and a filter matching the whole stream (everything) is sent as
// no filter, which the server counts at once.
func (s *directSource) request() error {
	batch := directBatchMax
	if s.started {
		batch = int(min(s.left, uint64(directBatchMax)))
	}
	body, err := json.Marshal(directGetRequest{Seq: s.seq, NextFor: s.filter, Batch: batch, MaxBytes: readBatchBytesMax})
	if err != nil {
		return err
	}
	s.answers.sent()
	if err := s.nc.PublishRequest(s.api, s.answers.reply, body); err != nil {
		return err
	}
	s.open, s.prev = true, 0
	return nil
}

// next implements source.
func (s *directSource) next(ctx context.Context) (uint64, string, []byte, error) {
	for {
		if s.started && s.left == 0 {
			return 0, "", nil, io.EOF
		}
		if !s.open {
			if err := s.request(); err != nil {
				return 0, "", nil, err
			}
		}
		m, err := s.answers.next(ctx)
		if err != nil {
			return 0, "", nil, err
		}
		switch status := m.Header.Get(statusHeader); status {
		case "":
			seq, err := s.accept(m)
			if err != nil {
				return 0, "", nil, err
			}
			return seq, m.Header.Get(jetstream.SubjectHeader), m.Data, nil
		case "204": // EOB: the answer is complete; ask for the rest.
			if last, err := headerUint(m, jetstream.LastSequenceHeader); err != nil || last != s.prev {
				return 0, "", nil, fmt.Errorf("direct get answer ended after %d (%v), last received %d: messages were lost", last, err, s.prev)
			}
			s.open = false
		case "404": // Nothing (more) matches from s.seq.
			return 0, "", nil, io.EOF
		case "503":
			return 0, "", nil, errors.New("no server answers direct gets on " + s.api)
		default:
			return 0, "", nil, fmt.Errorf("direct get on %s answered %s %s", s.api, status, m.Header.Get(descrHeader))
		}
	}
}

// accept checks one message of an answer and moves the reader past it.
func (s *directSource) accept(m *nats.Msg) (uint64, error) {
	seq, err := headerUint(m, jetstream.SequenceHeader)
	if err != nil {
		return 0, err
	}
	if prev, err := headerUint(m, jetstream.LastSequenceHeader); err != nil || prev != s.prev {
		return 0, fmt.Errorf("direct get message %d follows %d (%v), last received %d: messages were lost", seq, prev, err, s.prev)
	}
	if !s.started {
		pending, err := headerUint(m, numPendingHeader)
		if err != nil {
			return 0, err
		}
		s.started, s.left = true, pending+1
	}
	s.left--
	s.prev, s.seq = seq, seq+1
	return seq, nil
}

func headerUint(m *nats.Msg, key string) (uint64, error) {
	v, err := strconv.ParseUint(m.Header.Get(key), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("direct get message with a bad %s header: %w", key, err)
	}
	return v, nil
}
