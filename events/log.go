package events

import "context"

// AppendBatchMax is the most envelopes one Append may carry: JetStream's
// limit for an atomic batch.
const AppendBatchMax = 1000

// Log is the port to the append-only event log. It is owned by the actors
// and projections that use it; the JetStream adapter is the production
// implementation, the in-memory one serves deciders' integration tests. Both
// pass the contract suite in events/logtest.
type Log interface {
	// Append stores envs, atomically (all or none) and consecutively, if
	// the last record matching filter has stream sequence expectedLast (0:
	// no record matches yet). Every envelope's subject must match filter;
	// at most AppendBatchMax at once. It returns the sequence of the last
	// record once all are durable (the first is last-len(envs)+1), or
	// ErrWrongLastSequence when another writer got there first.
	Append(ctx context.Context, filter string, expectedLast uint64, envs ...Envelope) (uint64, error)
	// Read calls fn for every record matching filter with sequence >= from,
	// in order, up to the last record present when Read was called.
	Read(ctx context.Context, filter string, from uint64, fn func(Record) error) error
	// Follow is Read that does not stop at the end: it waits for new records
	// until ctx is done or fn returns an error. With WithTypes, a record of
	// another type is delivered with its sequence alone (an empty envelope),
	// unread, so that the follower still knows how far the log has gone.
	Follow(ctx context.Context, filter string, from uint64, fn func(Record) error, opts ...FollowOption) error
	// LastSeq is the sequence of the last record in the log (0 when empty).
	LastSeq(ctx context.Context) (uint64, error)
}

// Scanner is a Log with a faster way to read a long run of records once,
// from start to end, at the cost of something Read avoids (the JetStream
// adapter creates a consumer for the call). Scan delivers what Read would,
// except that it may stop inside an atomic batch being committed, having
// delivered its first part: a prefix of the log. A whole-log reader that
// checks every prefix (an audit) uses it through ScanLog.
type Scanner interface {
	Scan(ctx context.Context, filter string, from uint64, fn func(Record) error) error
}

// ScanLog reads with log's Scan when it has one, else with its Read.
func ScanLog(ctx context.Context, log Log, filter string, from uint64, fn func(Record) error) error {
	if s, ok := log.(Scanner); ok {
		return s.Scan(ctx, filter, from, fn)
	}
	return log.Read(ctx, filter, from, fn)
}

// Store is a small key-value port for what is not an event: actor snapshots
// and the cursors of process managers and projections. Losing it loses only
// time (recovery reads more of the log), never facts.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Put(ctx context.Context, key string, value []byte) error
}

// FollowOption tunes a Follow.
type FollowOption func(*FollowOptions)

// FollowOptions are the options of a Follow, as an adapter reads them
// (FollowOptionsOf).
type FollowOptions struct {
	// Types are the event types the follower reads whole; nil: every type.
	Types map[string]bool
}

// WithTypes makes a Follow read whole only the records of types: a
// follower that acts on a few types (a process manager) is spared the
// reading of every other envelope, which was most of what its follow cost.
// A record of another type is delivered with its sequence and an empty
// envelope; one whose type an adapter cannot tell without reading it whole
// is delivered whole. No type at all means every type.
func WithTypes(types ...string) FollowOption {
	return func(o *FollowOptions) {
		if len(types) == 0 {
			return
		}
		if o.Types == nil {
			o.Types = make(map[string]bool, len(types))
		}
		for _, t := range types {
			o.Types[t] = true
		}
	}
}

// FollowOptionsOf applies opts, for an adapter.
func FollowOptionsOf(opts []FollowOption) FollowOptions {
	var o FollowOptions
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}

// AppendCall is one Append among several that an adapter stores together
// (GroupAppender): the arguments of an Append.
type AppendCall struct {
	Filter       string
	ExpectedLast uint64
	Envs         []Envelope
}

// AppendResult is the answer to one AppendCall: what Append would have
// returned for it.
type AppendResult struct {
	Last uint64
	Err  error
}

// GroupAppender is a Log that can store the appends of many writers in one
// write to its server, so that they share its round trip and its disk sync
// (events/groupcommit gathers them). Each call is checked against its own
// expectation as if it were appended alone, in the order given: a call that
// conflicts fails alone, with ErrWrongLastSequence, and the others are
// stored. results[i] answers calls[i].
type GroupAppender interface {
	Log
	AppendGroup(ctx context.Context, calls []AppendCall) (results []AppendResult)
}
