package natslog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// publish stores one message with the expectations of an append and
// returns its stream sequence. It is what jetstream.PublishMsg does, on the
// log's answer mux rather than on a request of its own, and with the
// acknowledgement read by hand: an append is the hottest path of the
// system, and the client's request (a context per call, a JSON decode of
// every ack) costs a large share of it (docs/decisions.md, "The hot
// path").
//
// The answer is waited for no longer than ctx allows, or the client's
// default timeout when ctx has no deadline, never after Close, and not
// past the loss of the connection (a cluster node that died with the
// answer). The actor then recovers from the log, as after any failed
// append.
func (l *Log) publish(ctx context.Context, subject, filter string, expectedLast uint64, id string, data []byte) (uint64, error) {
	token, reply, answer, lost, err := l.answers.expect(l.nc)
	if err != nil {
		return 0, err
	}
	defer l.answers.forget(token, answer)
	p := publishPool.Get().(*publishMsg)
	p.set(l.name, filter, strconv.FormatUint(expectedLast, 10), id)
	p.msg.Subject, p.msg.Reply, p.msg.Data = subject, reply, data
	err = l.nc.PublishMsg(&p.msg)
	p.msg.Data = nil
	publishPool.Put(p)
	if err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		if d := l.js.Options().DefaultTimeout; d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	var m *nats.Msg
	select {
	case m = <-answer:
		if m == nil {
			return 0, events.ErrLogClosed // see mux.close
		}
	case <-lost:
		return 0, errConnLost
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return parsePubAck(m, l.name)
}

// publishMsg is a message of publish with its headers, reused: the client
// writes a message out before PublishMsg returns, and a header map with its
// four slices and the message cost five allocations of every append.
type publishMsg struct {
	msg                  nats.Msg
	stream, last, filter []string
	id                   []string
}

var publishPool = sync.Pool{New: func() any {
	p := &publishMsg{stream: make([]string, 1), last: make([]string, 1), filter: make([]string, 1), id: make([]string, 1)}
	p.msg.Header = make(nats.Header, 4)
	return p
}}

// set gives the message the expectations of an append, and the message id
// when id is set.
func (p *publishMsg) set(stream, filter, expectedLast, id string) {
	h := p.msg.Header
	p.stream[0], p.last[0], p.filter[0] = stream, expectedLast, filter
	h[jetstream.ExpectedStreamHeader] = p.stream
	h[jetstream.ExpectedLastSubjSeqHeader] = p.last
	h[jetstream.ExpectedLastSubjSeqSubjHeader] = p.filter
	if id == "" {
		delete(h, jetstream.MsgIDHeader)
		return
	}
	p.id[0] = id
	h[jetstream.MsgIDHeader] = p.id
}

// pubAckSeq is the prefix of a successful acknowledgement; nats-server
// writes the stream first and the sequence second (JSPubAckResponse).
var (
	pubAckStream = []byte(`{"stream":"`)
	pubAckSeq    = []byte(`","seq":`)
)

// parsePubAck reads the server's answer to a publish: a PubAck, an API
// error, or a status without a body (503: nothing serves the subject). The
// common success is read by hand; anything else goes through encoding/json.
func parsePubAck(m *nats.Msg, stream string) (uint64, error) {
	if len(m.Data) == 0 {
		if m.Header.Get("Status") == "503" {
			return 0, jetstream.ErrNoStreamResponse
		}
		return 0, fmt.Errorf("natslog: publish answered with status %q %q", m.Header.Get("Status"), m.Header.Get("Description"))
	}
	if seq, ok := fastPubAck(m.Data, stream); ok {
		return seq, nil
	}
	var ack struct {
		Error  *jetstream.APIError `json:"error,omitempty"`
		Stream string              `json:"stream"`
		Seq    uint64              `json:"seq"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return 0, fmt.Errorf("natslog: publish answer %q: %w", m.Data, err)
	}
	if ack.Error != nil {
		return 0, ack.Error
	}
	if ack.Stream != stream || ack.Seq == 0 {
		return 0, fmt.Errorf("natslog: publish answer %s is not an acknowledgement from stream %s", m.Data, stream)
	}
	return ack.Seq, nil
}

// fastPubAck reads `{"stream":"<stream>","seq":N` followed by `,` or `}`.
func fastPubAck(data []byte, stream string) (uint64, bool) {
	rest, ok := bytes.CutPrefix(data, pubAckStream)
	if !ok || len(rest) < len(stream) || string(rest[:len(stream)]) != stream {
		return 0, false
	}
	if rest, ok = bytes.CutPrefix(rest[len(stream):], pubAckSeq); !ok {
		return 0, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n == 0 || n == len(rest) || (rest[n] != ',' && rest[n] != '}') {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}
