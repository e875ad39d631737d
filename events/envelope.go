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
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Data           json.RawMessage `json:"data"`
}

// Record is an envelope as stored: with the stream sequence the log gave it.
type Record struct {
	Seq      uint64
	Envelope Envelope
}
