package natslog

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"

	"github.com/agora-econ/agora/events"
)

// source yields the raw records of one read in order, and io.EOF after the
// last: a direct get reader or an ordered consumer's backlog.
type source interface {
	next(ctx context.Context) (seq uint64, subject string, data []byte, err error)
}

// chunkSize is the number of records decoded as one unit of work during a
// replay.
const chunkSize = 256

// callbackError carries an error returned by the caller's function through
// replay, so that the reader returns it unchanged.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// chunk is a run of consecutive records of a replay, decoded by one worker.
type chunk struct {
	data     [][]byte
	seqs     []uint64
	subjects []string
	only     only
	// end is why the source stopped after this chunk (io.EOF at the end),
	// set before the chunk is handed to a worker.
	end error
	// recs and bad (a record that did not decode) are set by decode, which
	// closes done.
	recs []events.Record
	bad  error
	done chan struct{}
}

// fill reads up to size records from src into a new chunk, to be decoded
// as o says.
func fill(ctx context.Context, src source, size int, o only) *chunk {
	c := &chunk{
		data:     make([][]byte, 0, size),
		seqs:     make([]uint64, 0, size),
		subjects: make([]string, 0, size),
		only:     o,
		done:     make(chan struct{}),
	}
	for len(c.data) < size {
		seq, subject, data, err := src.next(ctx)
		if err != nil {
			c.end = err
			break
		}
		c.data = append(c.data, data)
		c.seqs = append(c.seqs, seq)
		c.subjects = append(c.subjects, subject)
	}
	return c
}

func (c *chunk) decode() {
	c.recs = make([]events.Record, 0, len(c.data))
	for i, data := range c.data {
		rec, err := c.only.decode(c.seqs[i], c.subjects[i], data)
		if err != nil {
			c.bad = err
			break
		}
		c.recs = append(c.recs, rec)
	}
	c.data, c.subjects = nil, nil
	close(c.done)
}

// only is the set of event types a follower reads; nil for every type.
// A record of another type is delivered unread (see decode).
type only map[string]bool

// decode reads the record at seq, stored under subject; one of a type o
// does not hold is delivered with its sequence alone (an empty envelope),
// when its type can be read without the rest (events.EnvelopeType).
func (o only) decode(seq uint64, subject string, data []byte) (events.Record, error) {
	if o != nil {
		if t, ok := events.EnvelopeType(data); ok && !o[string(t)] {
			return events.Record{Seq: seq}, nil
		}
	}
	return decode(seq, subject, data)
}

func decode(seq uint64, subject string, data []byte) (events.Record, error) {
	return events.RecordOf(seq, subject, data), nil
}

// deliver hands a decoded chunk to fn and reports how the replay goes on:
// done at the end of the source, or the error that stops it.
func (c *chunk) deliver(ctx context.Context, fn func(events.Record) error) (done bool, err error) {
	for _, rec := range c.recs {
		if err := ctx.Err(); err != nil {
			return true, err
		}
		if err := fn(rec); err != nil {
			return true, callbackError{err}
		}
	}
	switch {
	case c.bad != nil:
		return true, c.bad
	case errors.Is(c.end, io.EOF):
		return true, nil
	case c.end != nil:
		return true, c.end
	}
	return false, nil
}

// replay delivers every record of src to fn, in order. A read that fits in
// one chunk (an actor's tail) is decoded on the caller's goroutine. A longer
// one decodes on several cores, since decoding the JSON envelope is most of
// the cost: one goroutine fills chunks from src, workers decode them in
// parallel, and the caller's goroutine calls fn chunk by chunk in order.
// The records of a type o does not hold are delivered unread.
func replay(ctx context.Context, src source, o only, fn func(events.Record) error) error {
	first := fill(ctx, src, chunkSize, o)
	if first.end != nil {
		first.decode()
		_, err := first.deliver(ctx, fn)
		return err
	}
	return replayParallel(ctx, src, first, o, fn)
}

// replayInline delivers every record of src to fn, in order, each decoded
// on the caller's goroutine just before it is delivered: for a caller that
// overlaps its own work with the read on another goroutine, to which
// decoding workers would only add hand-offs.
func replayInline(ctx context.Context, src source, o only, fn func(events.Record) error) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		seq, subject, data, err := src.next(ctx)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rec, err := o.decode(seq, subject, data)
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return callbackError{err}
		}
	}
}

func replayParallel(ctx context.Context, src source, first *chunk, o only, fn func(events.Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	workers := min(max(runtime.GOMAXPROCS(0), 1), 4)
	work := make(chan *chunk, workers)
	order := make(chan *chunk, 4*workers)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range workers {
		wg.Go(func() {
			for c := range work {
				c.decode()
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(work)
		for c := first; ; c = fill(ctx, src, chunkSize, o) {
			// The worker is handed the chunk before the caller waits on
			// it, so the caller never waits for a chunk no worker has.
			select {
			case work <- c:
			case <-ctx.Done():
				return
			}
			select {
			case order <- c:
			case <-ctx.Done():
				return
			}
			if c.end != nil {
				return
			}
		}
	})
	for c := range order {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if done, err := c.deliver(ctx, fn); done {
			return err
		}
	}
	// The filler stops early only when ctx is done.
	return ctx.Err()
}
