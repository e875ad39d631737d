package events

import "errors"

// ErrInvalidID is returned for an id that cannot be a subject token; it is
// checked at the edge so that no command with such an id reaches an actor.
var ErrInvalidID = errors.New("invalid id")

// ErrWrongLastSequence is returned by Log.Append when another writer has
// appended to the actor's subjects since the expected sequence. The writer
// must not guess: it recovers from the log and decides again.
var ErrWrongLastSequence = errors.New("wrong last sequence")

// ErrUnknownEventType is returned when decoding an envelope whose type is not
// in the closed set of events; an audit stops on it rather than skip money.
var ErrUnknownEventType = errors.New("unknown event type")

// ErrInvalidAmount is returned for a money amount that is not positive, is
// above AmountMax, or has more than six decimals.
var ErrInvalidAmount = errors.New("invalid amount")

// ErrLogClosed is returned by a log adapter after Close.
var ErrLogClosed = errors.New("event log closed")

// ErrInvalidKey is returned by a Store for a key that the JetStream
// key-value store cannot hold: empty, a character outside [-/_=.a-zA-Z0-9],
// a leading or trailing dot, or an empty token (".."). The in-memory store
// refuses the same keys, so that a key that works in tests works in
// production.
var ErrInvalidKey = errors.New("invalid store key")

// ErrBatchSize is returned by Log.Append for no envelope or more than
// AppendBatchMax.
var ErrBatchSize = errors.New("append batch size out of range")
