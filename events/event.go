package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Event is one typed fact. Every event names its type (past tense,
// snake_case, the last token of its subject) and the schema version of its
// payload.
type Event interface {
	EventType() string
	EventSchema() int
}

// registry maps an event type name to its Go type; it is the closed set of
// events. Registration happens in init functions of this package only.
var registry = map[string]reflect.Type{}

func register(events ...Event) {
	for _, e := range events {
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if _, dup := registry[e.EventType()]; dup {
			panic("events: duplicate event type " + e.EventType())
		}
		registry[e.EventType()] = t
	}
}

// Types returns the names of every registered event type.
func Types() []string {
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	return out
}

// Meta is what the writer of an event knows besides the event itself.
type Meta struct {
	ID             string
	Time           time.Time
	CausationID    string
	CorrelationID  string
	IdempotencyKey string
}

// Encode wraps a typed event for the actor (kind, id) into an envelope.
func Encode(kind Kind, actorID string, e Event, m Meta) (Envelope, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	if m.ID == "" {
		m.ID = NewID()
	}
	return Envelope{
		ID:             m.ID,
		Type:           e.EventType(),
		Schema:         e.EventSchema(),
		Subject:        Subject(kind, actorID, e.EventType()),
		Time:           m.Time.UTC(),
		CausationID:    m.CausationID,
		CorrelationID:  m.CorrelationID,
		IdempotencyKey: m.IdempotencyKey,
		Data:           data,
	}, nil
}

// Decode turns an envelope back into its typed event (a value, not a
// pointer).
func Decode(env Envelope) (Event, error) {
	t, ok := registry[env.Type]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownEventType, env.Type)
	}
	p := reflect.New(t)
	if err := json.Unmarshal(env.Data, p.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	return p.Elem().Interface().(Event), nil
}

// Marshal is the codec of the log: an envelope as JSON bytes.
func Marshal(env Envelope) ([]byte, error) { return json.Marshal(env) }

// Unmarshal reads an envelope from JSON bytes.
func Unmarshal(b []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode envelope: %w", err)
	}
	return env, nil
}
