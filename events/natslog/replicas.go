package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// Reads on a replicated stream. Direct gets are answered by any replica
// that is current, and a current follower may still lack the last few
// writes the leader acknowledged: a Read answered by it would end early,
// and miss records that were in the log when it was called (an actor
// recovering would miss its own last event, an audit the log's tail). So
// on a stream of more than one replica a Read first asks the leader, which
// has every acknowledged record, for the last sequence of its filter, and
// reads with direct gets until it has delivered that far.

// readCatchUpMax bounds how often a Read reads on after a replica behind
// the leader ended it early; the waits between attempts double from
// uncheckedRetryWait, about four seconds in all. A current replica is
// behind by the writes in flight, which it applies within milliseconds.
const readCatchUpMax = 12

// errLeaderAnswer is the leader's answer that is neither a record nor a
// refusal.
var errLeaderAnswer = errors.New("natslog: unexpected answer to a stream message get")

// errPastFloor stops a catch-up read at the end the leader gave.
var errPastFloor = errors.New("past the leader's last record")

// leaderLast asks the stream's leader for the sequence of the last record
// matching filter (0 when none): a stream message get, which only the
// leader answers, unlike a direct get.
func (l *Log) leaderLast(ctx context.Context, filter string) (uint64, error) {
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{filter})
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
	m, err := l.nc.RequestWithContext(ctx, apiPrefix(l.js)+"STREAM.MSG.GET."+l.name, req)
	if err != nil {
		return 0, err
	}
	var resp struct {
		Error   *jetstream.APIError `json:"error,omitempty"`
		Message *struct {
			Seq uint64 `json:"seq"`
		} `json:"message,omitempty"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return 0, fmt.Errorf("%w: %q: %w", errLeaderAnswer, m.Data, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return 0, nil
	case resp.Error != nil:
		return 0, resp.Error
	case resp.Message == nil:
		return 0, fmt.Errorf("%w: %q", errLeaderAnswer, m.Data)
	}
	return resp.Message.Seq, nil
}

// readReplicated is readDirect on a replicated stream: it delivers the
// records of filter from 'from' up to the last the leader has, reading on
// while a replica behind the leader ends a read early. It returns the
// sequence of the last record delivered (0 when none).
func (l *Log) readReplicated(sctx, ctx context.Context, filter string, from uint64, o only, fn func(events.Record) error) (uint64, error) {
	floor, err := l.leaderLast(sctx, filter)
	if err != nil {
		return 0, fmt.Errorf("natslog: read %s: the leader's last record: %w", filter, l.stopped(ctx, err))
	}
	if floor < from {
		return 0, nil
	}
	var last uint64
	upToFloor := func(r events.Record) error {
		if r.Seq > floor {
			return errPastFloor
		}
		last = r.Seq
		return fn(r)
	}
	for attempt := 1; ; attempt++ {
		start := from
		if last >= from {
			start = last + 1
		}
		_, err := l.readDirect(sctx, ctx, filter, start, o, upToFloor)
		if err != nil && !errors.Is(err, errPastFloor) {
			return last, err
		}
		if last >= floor || errors.Is(err, errPastFloor) {
			return last, nil
		}
		if attempt == readCatchUpMax || !l.pause(sctx, uncheckedRetryWait<<(attempt-1)) {
			return last, fmt.Errorf("natslog: read %s: the replicas answered up to %d, the leader has %d: %w",
				filter, last, floor, l.stopped(ctx, errReplicaBehind))
		}
	}
}

// errReplicaBehind is a Read that the replicas could not bring to the
// leader's last record.
var errReplicaBehind = errors.New("replicas behind the leader")
