package events

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the version of the envelope layout. Each event type also
// carries its own schema version in Envelope.Schema.
const SchemaVersion = 1

// Envelope is the stable JSON wrapper of every event in the log. It is what
// `nats sub 'events.>'` prints, so field names are short and plain.
type Envelope struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Schema        int       `json:"schema"`
	Subject       string    `json:"subject"`
	Time          time.Time `json:"time"`
	CausationID   string    `json:"causation_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	// IdempotencyKey is the key of the command that produced this event. An
	// actor rebuilds its memory of applied commands from it, so a retried
	// command is answered with its first result even after a restart.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Prev is the hash of the event before this one in the same actor's
	// history (events/chain): each actor's events form a chain that an
	// audit checks, so a record edited, deleted or inserted in a copy of
	// the log shows as a broken link. Absent on an actor's first event, and
	// on every event written before chaining began.
	Prev string          `json:"prev,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Record is an envelope as stored: with the stream sequence the log gave it.
type Record struct {
	Seq      uint64
	Envelope Envelope
	// Bad is set, with Envelope holding the stored subject alone, when the
	// log could not read the record as an envelope (or it names another
	// subject than the one it was stored under). The log delivers it all
	// the same: its followers skip it (Check) rather than stop at it.
	Bad error
	// Stored is the record as stored, when it is byte for byte what
	// Marshal writes for Envelope; nil otherwise, and when the log did
	// not read the record from bytes. The hash chain (events/chain)
	// hashes it rather than marshal the envelope again. It shares its
	// bytes with Envelope.Data: a reader that changes the envelope must
	// set it to nil.
	Stored []byte
	// read, when set, holds what Read made of the record, for every copy
	// of it (see Shared).
	read *readOnce
}

// readOnce is the outcome of Read for one record, shared by its copies.
type readOnce struct {
	done bool
	e    Event
	err  error
}

// Shared returns r as a record whose copies share one Read: the first
// decodes the event, the others get that same event. It is for a record
// handed to several followers one after another on one goroutine (the read
// models of a group): each decoded the data again, and the decoding was
// the largest part of what following the log cost them. An event so shared
// must be read and never changed, which is what every evolve does already
// (an event in the log is a fact); Read must not be called on copies of
// one shared record from two goroutines at once.
func Shared(r Record) Record {
	r.read = &readOnce{}
	return r
}
