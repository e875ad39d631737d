package natslog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// groupBytesMax bounds the encoded envelopes of one group batch. The server
// stages a batch whole before it commits it, and the connection writes it
// in one run while other appends wait: a few megabytes keep both short,
// and are far above what a thousand events of this economy weigh.
const groupBytesMax = 4 << 20

// headerBytesMax is what the headers of a batch message may add to its
// envelope: a message above the server's maximum payload would be refused
// mid-batch, leaving the batch to time out on the server.
const headerBytesMax = 512

var _ events.GroupAppender = (*Log)(nil)

// groupMember is one call of AppendGroup, encoded.
type groupMember struct {
	i        int // index of the call and of its result
	filter   string
	last     uint64
	envs     []events.Envelope
	subjects []string
	data     [][]byte
	size     int
}

// AppendGroup implements events.GroupAppender: the calls go to the server
// as one JetStream atomic batch, so that they share one round trip and,
// with fsync on every write, one disk sync. Each call's envelopes are
// consecutive in the batch and the first of them carries the call's own
// expectation (Nats-Expected-Last-Subject-Sequence with its filter in
// Nats-Expected-Last-Subject-Sequence-Subject); the server checks each
// against the stream as it was before the batch
// (jetstream_batching.go checkMsgHeadersPreClusteredProposal).
//
// Calls whose filters may match a common subject never share a batch: the
// server would check the second against the stream without the first's
// messages, and let it interleave. Such a call, and calls beyond the
// batch's bounds (AppendBatchMax messages, groupBytesMax bytes), go in a
// later batch, in order.
//
// The server answers a batch with one error for all its calls. When a call's
// expectation fails, the batch is split in halves that are sent again,
// down to the call that conflicts, which is then appended alone as Append
// does (so a call whose copy is already stored after its expectation, its
// answer lost, is answered with that copy); the other calls are stored.
// A lone call is Append itself: one envelope a publish with its message id.
func (l *Log) AppendGroup(ctx context.Context, calls []events.AppendCall) []events.AppendResult {
	results := make([]events.AppendResult, len(calls))
	err := ctx.Err()
	if l.closed.Load() {
		err = events.ErrLogClosed
	}
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	members := make([]*groupMember, 0, len(calls))
	for i, c := range calls {
		m, err := l.groupMember(i, c)
		if err != nil {
			results[i].Err = err
			continue
		}
		members = append(members, m)
	}
	for len(members) > 0 {
		var batch []*groupMember
		batch, members = nextGroup(members)
		l.storeGroup(ctx, batch, results)
	}
	return results
}

// groupMember checks and encodes call i.
func (l *Log) groupMember(i int, c events.AppendCall) (*groupMember, error) {
	if err := validateFilter(c.Filter); err != nil {
		return nil, err
	}
	if len(c.Envs) == 0 || len(c.Envs) > events.AppendBatchMax {
		return nil, fmt.Errorf("%w: %d envelopes", events.ErrBatchSize, len(c.Envs))
	}
	subjects, data, size, err := marshalAll(c.Filter, c.Envs)
	if err != nil {
		return nil, err
	}
	for j, b := range data {
		if int64(len(b)+len(subjects[j])+headerBytesMax) > l.nc.MaxPayload() {
			return nil, fmt.Errorf("natslog: append %s: %w", subjects[j], nats.ErrMaxPayload)
		}
	}
	return &groupMember{i: i, filter: c.Filter, last: c.ExpectedLast, envs: c.Envs, subjects: subjects, data: data, size: size}, nil
}

// nextGroup takes the members that may share the next batch, in order, and
// returns the rest in order. A member is left for later when it may overlap
// the filter of any member before it (taken or not, so that two writers on
// one filter keep their order), or when it would cross the batch's bounds;
// the first member is always taken.
func nextGroup(members []*groupMember) (batch, rest []*groupMember) {
	var claims filterClaims
	msgs, size := 0, 0
	full := false
	for _, m := range members {
		overlaps := claims.overlaps(m.filter)
		claims.claim(m.filter)
		if len(batch) > 0 && (full || overlaps || msgs+len(m.envs) > events.AppendBatchMax || size+m.size > groupBytesMax) {
			// Once one member is left for its size, every later one is:
			// the next batch starts where this one ended.
			full = full || !overlaps
			rest = append(rest, m)
			continue
		}
		batch = append(batch, m)
		msgs += len(m.envs)
		size += m.size
	}
	return batch, rest
}

// filterClaims tells whether a filter may match a subject that a filter
// claimed before it may match. It is conservative: a filter is reduced to
// its literal tokens before the first wildcard, and two filters overlap
// when one of these is a prefix (in whole tokens) of the other. The
// actors' filters (events.<kind>.<id>.>) differ in their literal part, so
// they never overlap.
type filterClaims struct {
	ends     map[string]bool // the literal parts of the filters claimed
	prefixes map[string]bool // every prefix of those, themselves included
}

// literal is the part of filter before its first wildcard token, without
// the dot.
func literal(filter string) string {
	if filter == "*" || filter == ">" || strings.HasPrefix(filter, "*.") || strings.HasPrefix(filter, ">.") {
		return ""
	}
	if i := strings.Index(filter, ".*"); i >= 0 {
		filter = filter[:i]
	}
	if i := strings.Index(filter, ".>"); i >= 0 {
		filter = filter[:i]
	}
	return filter
}

func (c *filterClaims) overlaps(filter string) bool {
	if c.ends == nil {
		return false
	}
	lit := literal(filter)
	if c.prefixes[lit] {
		return true
	}
	for p := lit; ; {
		if c.ends[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return c.ends[""]
		}
		p = p[:i]
	}
}

func (c *filterClaims) claim(filter string) {
	if c.ends == nil {
		c.ends, c.prefixes = map[string]bool{}, map[string]bool{"": true}
	}
	lit := literal(filter)
	c.ends[lit] = true
	for p := lit; p != ""; {
		c.prefixes[p] = true
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
}

// storeGroup stores members, which share a batch, and writes each one's
// answer to results.
func (l *Log) storeGroup(ctx context.Context, members []*groupMember, results []events.AppendResult) {
	if len(members) == 1 {
		m := members[0]
		var r events.AppendResult
		if len(m.envs) == 1 {
			r.Last, r.Err = l.appendOneData(ctx, m.filter, m.last, m.envs[0], m.data[0])
		} else {
			r.Last, r.Err = l.appendBatchData(ctx, m.filter, m.last, m.envs, m.subjects, m.data)
		}
		results[m.i] = r
		return
	}
	n := 0
	for _, m := range members {
		n += len(m.envs)
	}
	subjects := make([]string, 0, n)
	data := make([][]byte, 0, n)
	expect := make([]expectation, len(members))
	for k, m := range members {
		expect[k] = expectation{at: len(subjects), filter: m.filter, last: m.last}
		subjects = append(subjects, m.subjects...)
		data = append(data, m.data...)
	}
	sctx, cancel := l.scope(ctx)
	defer cancel()
	var err error
	for attempt := 1; ; attempt++ {
		var last uint64
		if last, err = l.publishBatch(sctx, expect, subjects, data); err == nil {
			// The batch is stored consecutively, members in order.
			seq := last - uint64(n)
			for _, m := range members {
				seq += uint64(len(m.envs))
				results[m.i].Last = seq
			}
			return
		}
		if groupSplittable(err) {
			l.splitGroup(ctx, members, results)
			return
		}
		if !batchRetryable(err) || attempt == batchAttemptsMax {
			break
		}
		select {
		case <-time.After(batchRetryWait << (attempt - 1)):
			continue
		case <-sctx.Done():
		}
		break
	}
	err = fmt.Errorf("natslog: append group of %d to %d filters: %w", n, len(members), l.stopped(ctx, err))
	for _, m := range members {
		results[m.i].Err = err
	}
}

// groupSplittable reports an answer that may concern one member of a batch
// alone: a failed expectation (whose member the server does not name), or
// another refusal of the server that a retry of the same batch would meet
// again (a message it will not take). Splitting finds the member.
func groupSplittable(err error) bool {
	if isWrongLastSequence(err) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && !batchRetryable(err)
}

// splitGroup stores the two halves of members as batches of their own, at
// once: their filters do not overlap, so their order does not matter.
func (l *Log) splitGroup(ctx context.Context, members []*groupMember, results []events.AppendResult) {
	half := len(members) / 2
	var wg sync.WaitGroup
	wg.Go(func() { l.storeGroup(ctx, members[:half], results) })
	l.storeGroup(ctx, members[half:], results)
	wg.Wait()
}
