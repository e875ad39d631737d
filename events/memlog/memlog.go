// Package memlog is the in-memory adapter of the event log and store ports.
// It keeps the same semantics as the JetStream adapter (sequences from 1,
// per-filter expected last sequence) so that deciders and shells can be
// exercised quickly; it passes the same contract suite.
package memlog

import (
	"context"
	"fmt"
	"sync"

	"github.com/agora-econ/agora/events"
)

var _ events.Log = (*Log)(nil)

// Log is an events.Log held in memory.
type Log struct {
	mu      sync.Mutex
	records []events.Record
	grown   chan struct{} // closed and replaced on every append
	closed  bool
}

// New returns an empty log.
func New() *Log { return &Log{grown: make(chan struct{})} }

// Close wakes every follower; later calls fail with ErrLogClosed.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.grown)
	}
}

// Append implements events.Log.
func (l *Log) Append(ctx context.Context, filter string, expectedLast uint64, envs ...events.Envelope) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := validateFilter(filter); err != nil {
		return 0, err
	}
	if len(envs) == 0 || len(envs) > events.AppendBatchMax {
		return 0, fmt.Errorf("%w: %d envelopes", events.ErrBatchSize, len(envs))
	}
	stored := make([]events.Envelope, len(envs))
	for i, env := range envs {
		if err := validateSubject(env.Subject, filter); err != nil {
			return 0, err
		}
		// Store the envelope as JetStream would return it: through the JSON
		// codec. This refuses data that is not JSON, as the real log does,
		// and keeps no reference to the caller's buffers.
		b, err := events.Marshal(env)
		if err != nil {
			return 0, fmt.Errorf("memlog: append %s: %w", env.Subject, err)
		}
		if stored[i], err = events.Unmarshal(b); err != nil {
			return 0, fmt.Errorf("memlog: append %s: %w", env.Subject, err)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, events.ErrLogClosed
	}
	var last uint64
	for i := len(l.records) - 1; i >= 0; i-- {
		if events.Match(filter, l.records[i].Envelope.Subject) {
			last = l.records[i].Seq
			break
		}
	}
	if last != expectedLast {
		return 0, events.ErrWrongLastSequence
	}
	for _, env := range stored {
		l.records = append(l.records, events.Record{Seq: uint64(len(l.records)) + 1, Envelope: env})
	}
	close(l.grown)
	l.grown = make(chan struct{})
	return uint64(len(l.records)), nil
}

// Read implements events.Log.
func (l *Log) Read(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateFilter(filter); err != nil {
		return err
	}
	l.mu.Lock()
	end, closed := uint64(len(l.records)), l.closed
	l.mu.Unlock()
	if closed {
		return events.ErrLogClosed
	}
	_, err := l.scan(ctx, filter, from, end, fn)
	return err
}

// Follow implements events.Log. With events.WithTypes, a record of
// another type is delivered as the JetStream adapter delivers it: its
// sequence alone, with an empty envelope. A record with no type at all (a
// stray one published as is) is delivered whole, as the JetStream adapter
// delivers one whose type it cannot tell.
func (l *Log) Follow(ctx context.Context, filter string, from uint64, fn func(events.Record) error, opts ...events.FollowOption) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateFilter(filter); err != nil {
		return err
	}
	if from == 0 {
		from = 1
	}
	if types := events.FollowOptionsOf(opts).Types; types != nil {
		whole := fn
		fn = func(r events.Record) error {
			if r.Envelope.Type != "" && !types[r.Envelope.Type] {
				return whole(events.Record{Seq: r.Seq})
			}
			return whole(r)
		}
	}
	for {
		l.mu.Lock()
		end, grown, closed := uint64(len(l.records)), l.grown, l.closed
		l.mu.Unlock()
		if closed {
			return events.ErrLogClosed
		}
		next, err := l.scan(ctx, filter, from, end, fn)
		if err != nil {
			return err
		}
		from = next
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-grown:
		}
	}
}

// Publish stores data under subject as is, with no check and no
// expectation, and returns its sequence: what any client of the NATS port
// can do to the real log (a stray or forged record). The followers must
// skip what it stores if it is not a sound event (events.Check); tests use
// it to prove they do.
func (l *Log) Publish(subject string, data []byte) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := uint64(len(l.records)) + 1
	l.records = append(l.records, events.RecordOf(seq, subject, data))
	if !l.closed {
		close(l.grown)
		l.grown = make(chan struct{})
	}
	return seq
}

// scan delivers matching records in [from, end] and returns end+1.
func (l *Log) scan(ctx context.Context, filter string, from, end uint64, fn func(events.Record) error) (uint64, error) {
	if from == 0 {
		from = 1
	}
	for seq := from; seq <= end; seq++ {
		if err := ctx.Err(); err != nil {
			return seq, err
		}
		l.mu.Lock()
		r := l.records[seq-1]
		l.mu.Unlock()
		if !events.Match(filter, r.Envelope.Subject) {
			continue
		}
		// The reader gets its own copy of the data, as from JetStream,
		// and no view of the log's own bytes.
		r.Envelope.Data = append([]byte(nil), r.Envelope.Data...)
		r.Stored = nil
		if err := fn(r); err != nil {
			return seq, err
		}
	}
	return end + 1, nil
}

// LastSeq implements events.Log.
func (l *Log) LastSeq(ctx context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, events.ErrLogClosed
	}
	return uint64(len(l.records)), nil
}

// Store is an events.Store held in memory.
type Store struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{m: map[string][]byte{}} }

// Get implements events.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := validateKey(key); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return append([]byte(nil), v...), ok, nil
}

// Put implements events.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if err := validateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = append([]byte(nil), value...)
	return nil
}

// The checks are shared with the JetStream adapter (package events), so
// that both refuse exactly the same input.

func validateFilter(filter string) error {
	if err := events.ValidateFilter(filter); err != nil {
		return fmt.Errorf("memlog: %w", err)
	}
	return nil
}

func validateSubject(subject, filter string) error {
	if err := events.ValidateAppendSubject(subject, filter); err != nil {
		return fmt.Errorf("memlog: %w", err)
	}
	return nil
}

func validateKey(key string) error { return events.ValidateKey(key) }

var _ events.GroupAppender = (*Log)(nil)

// AppendGroup implements events.GroupAppender: the calls are appended one
// after the other, each as Append would, which is what the JetStream
// adapter's group batch promises (an in-memory log has no disk sync to
// share).
func (l *Log) AppendGroup(ctx context.Context, calls []events.AppendCall) []events.AppendResult {
	results := make([]events.AppendResult, len(calls))
	for i, c := range calls {
		results[i].Last, results[i].Err = l.Append(ctx, c.Filter, c.ExpectedLast, c.Envs...)
	}
	return results
}
