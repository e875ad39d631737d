package events

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
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

// typeNames holds each registered type name, so that an envelope read from
// the log shares it rather than carrying a copy.
var typeNames = map[string]string{}

// schemas holds the schema version of each registered type: a record of a
// newer schema is skipped (Check).
var schemas = map[string]int{}

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
		typeNames[e.EventType()] = e.EventType()
		schemas[e.EventType()] = e.EventSchema()
		readers[t] = newDataReader(t)
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
	// Prev is the hash of the actor's previous event (Envelope.Prev).
	Prev string
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
		Prev:           m.Prev,
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
	if r := readers[t]; r != nil && r.read(p.Elem(), env.Data) {
		return p.Elem().Interface().(Event), nil
	}
	p = reflect.New(t) // what the hand reader set is dropped
	if err := json.Unmarshal(env.Data, p.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", env.Type, err)
	}
	return p.Elem().Interface().(Event), nil
}

// Marshal is the codec of the log: an envelope as JSON bytes, exactly as
// encoding/json writes it. Every event is marshalled once on its way to the
// log, so the common envelope (plain ASCII strings, data already valid
// JSON from Encode) is written by hand: encoding/json spent as long again
// re-validating and compacting the data it had just written.
func Marshal(env Envelope) ([]byte, error) {
	if b, ok := appendEnvelope(make([]byte, 0, envelopeOverhead+len(env.Data)+len(env.Subject)+len(env.IdempotencyKey)+len(env.Prev)), env); ok {
		return b, nil
	}
	return json.Marshal(env)
}

// envelopeOverhead is the size of an envelope's field names, id and time.
const envelopeOverhead = 192

// appendEnvelope writes env as encoding/json would, or reports false when
// env needs what only encoding/json does: escaping a string, formatting a
// time outside years 0-9999, compacting or rejecting the data.
func appendEnvelope(b []byte, env Envelope) ([]byte, bool) {
	if !plain(env.ID) || !plain(env.Type) || !plain(env.Subject) || !plain(env.CausationID) ||
		!plain(env.CorrelationID) || !plain(env.IdempotencyKey) || !plain(env.Prev) {
		return nil, false
	}
	if y := env.Time.Year(); y < 0 || y > 9999 {
		return nil, false
	}
	if !compactJSON(env.Data) {
		return nil, false
	}
	b = append(b, `{"id":"`...)
	b = append(b, env.ID...)
	b = append(b, `","type":"`...)
	b = append(b, env.Type...)
	b = append(b, `","schema":`...)
	b = strconv.AppendInt(b, int64(env.Schema), 10)
	b = append(b, `,"subject":"`...)
	b = append(b, env.Subject...)
	b = append(b, `","time":"`...)
	b = env.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if env.CausationID != "" {
		b = append(b, `,"causation_id":"`...)
		b = append(b, env.CausationID...)
		b = append(b, '"')
	}
	if env.CorrelationID != "" {
		b = append(b, `,"correlation_id":"`...)
		b = append(b, env.CorrelationID...)
		b = append(b, '"')
	}
	if env.IdempotencyKey != "" {
		b = append(b, `,"idempotency_key":"`...)
		b = append(b, env.IdempotencyKey...)
		b = append(b, '"')
	}
	if env.Prev != "" {
		b = append(b, `,"prev":"`...)
		b = append(b, env.Prev...)
		b = append(b, '"')
	}
	b = append(b, `,"data":`...)
	b = append(b, env.Data...)
	return append(b, '}'), true
}

// plain reports whether encoding/json writes s between quotes as it is:
// printable ASCII without '"', '\\' or the characters it escapes for HTML.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// compactJSON reports whether data is one valid JSON value that
// encoding/json would copy unchanged: no insignificant white space, no
// character it escapes for HTML, nothing outside printable ASCII. json.Marshal
// of a Go value writes such JSON (but for non-ASCII text); null stands for
// empty data, as encoding/json writes it. One pass checks it all: every
// append checks its data, and a scan for the characters followed by
// json.Valid was two passes on every event's path.
func compactJSON(data []byte) bool {
	c := compactChecker{b: data}
	return c.value(0) && c.i == len(data)
}

// compactDepthMax is encoding/json's limit of nested objects and arrays.
const compactDepthMax = 10000

// compactChecker reads one JSON value at b[i:] as compactJSON accepts it.
type compactChecker struct {
	b []byte
	i int
}

func (c *compactChecker) value(depth int) bool {
	if c.i >= len(c.b) {
		return false
	}
	switch ch := c.b[c.i]; {
	case ch == '{':
		return depth < compactDepthMax && c.object(depth+1)
	case ch == '[':
		return depth < compactDepthMax && c.array(depth+1)
	case ch == '"':
		return c.str()
	case ch == '-' || ch >= '0' && ch <= '9':
		return c.number()
	case ch == 't':
		return c.lit("true")
	case ch == 'f':
		return c.lit("false")
	case ch == 'n':
		return c.lit("null")
	}
	return false
}

func (c *compactChecker) object(depth int) bool {
	c.i++ // '{'
	if c.i < len(c.b) && c.b[c.i] == '}' {
		c.i++
		return true
	}
	for {
		if c.i >= len(c.b) || c.b[c.i] != '"' || !c.str() || c.i >= len(c.b) || c.b[c.i] != ':' {
			return false
		}
		c.i++
		if !c.value(depth) || c.i >= len(c.b) {
			return false
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case '}':
			c.i++
			return true
		default:
			return false
		}
	}
}

func (c *compactChecker) array(depth int) bool {
	c.i++ // '['
	if c.i < len(c.b) && c.b[c.i] == ']' {
		c.i++
		return true
	}
	for {
		if !c.value(depth) || c.i >= len(c.b) {
			return false
		}
		switch c.b[c.i] {
		case ',':
			c.i++
		case ']':
			c.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string: printable ASCII but for the characters
// encoding/json escapes for HTML, and valid escapes.
func (c *compactChecker) str() bool {
	c.i++ // '"'
	for c.i < len(c.b) {
		ch := c.b[c.i]
		c.i++
		switch {
		case ch == '"':
			return true
		case ch == '\\':
			if c.i >= len(c.b) {
				return false
			}
			e := c.b[c.i]
			c.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if c.i+4 > len(c.b) {
					return false
				}
				for _, h := range c.b[c.i : c.i+4] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				c.i += 4
			default:
				return false
			}
		case ch < 0x20 || ch >= 0x7f || ch == '<' || ch == '>' || ch == '&':
			return false
		}
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *compactChecker) number() bool {
	if c.b[c.i] == '-' {
		c.i++
	}
	switch {
	case c.i < len(c.b) && c.b[c.i] == '0':
		c.i++
	case c.digits() == 0:
		return false
	}
	if c.i < len(c.b) && c.b[c.i] == '.' {
		c.i++
		if c.digits() == 0 {
			return false
		}
	}
	if c.i < len(c.b) && (c.b[c.i] == 'e' || c.b[c.i] == 'E') {
		c.i++
		if c.i < len(c.b) && (c.b[c.i] == '+' || c.b[c.i] == '-') {
			c.i++
		}
		if c.digits() == 0 {
			return false
		}
	}
	return true
}

func (c *compactChecker) digits() int {
	start := c.i
	for c.i < len(c.b) && c.b[c.i] >= '0' && c.b[c.i] <= '9' {
		c.i++
	}
	return c.i - start
}

func (c *compactChecker) lit(s string) bool {
	if len(c.b)-c.i < len(s) || string(c.b[c.i:c.i+len(s)]) != s {
		return false
	}
	c.i += len(s)
	return true
}

// EnvelopeType returns the type of the envelope in b without reading the
// rest, when b begins as Marshal writes an envelope (an id and a type
// without escapes); ok is false otherwise. A follower that acts on a few
// types skips the others unread: reading every envelope whole was most of
// what following the log cost it.
func EnvelopeType(b []byte) (typ []byte, ok bool) {
	p := envelopeParser{b: b}
	if !p.lit(`{"id":`) {
		return nil, false
	}
	if _, ok := p.raw(); !ok || !p.lit(`,"type":`) {
		return nil, false
	}
	return p.raw()
}

// Unmarshal reads an envelope from JSON bytes. Every follower of the log
// reads every envelope, so the layout Marshal writes is read by hand;
// anything else (an envelope published by another tool, with escapes or
// fields in another order) goes through encoding/json. The data is kept
// as it is: its consumer decodes it (Decode) and refuses it if invalid.
func Unmarshal(b []byte) (Envelope, error) {
	env, _, err := unmarshal(b)
	return env, err
}

// unmarshal is Unmarshal that also reports whether b is canonical: exactly
// what Marshal writes for the envelope it reads.
func unmarshal(b []byte) (Envelope, bool, error) {
	if env, canonical, ok := parseEnvelope(b); ok {
		return env, canonical, nil
	}
	return unmarshalJSON(b)
}

// unmarshalJSON reads an envelope with encoding/json, apart so that the
// envelope it fills does not go to the heap on the common path.
func unmarshalJSON(b []byte) (Envelope, bool, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, false, fmt.Errorf("decode envelope: %w", err)
	}
	return env, false, nil
}

// parseEnvelope reads the layout appendEnvelope writes: fields in their
// order, strings without escapes, data last. It reports false for
// anything else, which the caller reads with encoding/json. Canonical is
// whether b is byte for byte what Marshal writes for env: it is found on
// the way (strings plain, the schema and the time as Marshal spells them,
// no empty optional field, compact data), so that a reader that needs
// the envelope's encoding (the hash chain, events/chain) can take b
// rather than marshal env again.
func parseEnvelope(b []byte) (env Envelope, canonical, ok bool) {
	p := envelopeParser{b: b}
	var at string
	ok = p.lit(`{"id":`) && p.str(&env.ID) &&
		p.lit(`,"type":`) && p.typ(&env.Type) &&
		p.lit(`,"schema":`) && p.num(&env.Schema) &&
		p.lit(`,"subject":`) && p.str(&env.Subject) &&
		p.lit(`,"time":`) && p.str(&at) &&
		p.opt(`,"causation_id":`, &env.CausationID) &&
		p.opt(`,"correlation_id":`, &env.CorrelationID) &&
		p.opt(`,"idempotency_key":`, &env.IdempotencyKey) &&
		p.opt(`,"prev":`, &env.Prev) &&
		p.lit(`,"data":`)
	if !ok || len(p.b) < 2 || p.b[len(p.b)-1] != '}' {
		return Envelope{}, false, false
	}
	data := p.b[:len(p.b)-1]
	// The data of an envelope is one object (or array); a trailing
	// field after it would end in '}' too, so check the data closes
	// where the envelope does. Compact data is one value that does; other
	// data is checked bracket by bracket.
	if (data[0] != '{' || data[len(data)-1] != '}') && (data[0] != '[' || data[len(data)-1] != ']') {
		return Envelope{}, false, false
	}
	compact := compactJSON(data)
	if !compact && !closesAtEnd(data) {
		return Envelope{}, false, false
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return Envelope{}, false, false
	}
	env.Time = t
	env.Data = json.RawMessage(data)
	canonical = compact && !p.odd && canonicalTime(t, at)
	return env, canonical, true
}

// canonicalTime reports whether at is t as Marshal writes it.
func canonicalTime(t time.Time, at string) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	var buf [64]byte
	return string(t.AppendFormat(buf[:0], time.RFC3339Nano)) == at
}

// closesAtEnd reports whether the bracket opening data closes at its last
// byte, counting brackets outside strings (strings may hold escapes).
func closesAtEnd(data []byte) bool {
	depth, inString, escaped := 0, false, false
	for i, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i == len(data)-1
			}
		}
	}
	return false
}

// envelopeParser reads an envelope from the front of b. Odd is set when
// what it read is not spelled as Marshal spells it: a string that is not
// plain, a number with a leading zero, an optional field present but empty.
type envelopeParser struct {
	b   []byte
	odd bool
}

func (p *envelopeParser) lit(s string) bool {
	if len(p.b) < len(s) || string(p.b[:len(s)]) != s {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// str reads a string without escapes.
func (p *envelopeParser) str(out *string) bool {
	b, ok := p.raw()
	if ok {
		*out = string(b)
	}
	return ok
}

// raw reads a string without escapes and returns its bytes.
func (p *envelopeParser) raw() ([]byte, bool) {
	if len(p.b) == 0 || p.b[0] != '"' {
		return nil, false
	}
	for i := 1; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			b := p.b[1:i]
			p.b = p.b[i+1:]
			return b, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x7f || c == '<' || c == '>' || c == '&':
			p.odd = true // read as it is, but written escaped
		}
	}
	return nil, false
}

// typ reads the event type: the name registered for it, when it is one,
// rather than a copy of its own (every follower reads every envelope).
func (p *envelopeParser) typ(out *string) bool {
	b, ok := p.raw()
	if !ok {
		return false
	}
	if name, known := typeNames[string(b)]; known {
		*out = name
	} else {
		*out = string(b)
	}
	return true
}

// num reads an int as strconv.Atoi reads it (an optional sign, digits).
func (p *envelopeParser) num(out *int) bool {
	i := 0
	for i < len(p.b) && (p.b[i] >= '0' && p.b[i] <= '9' || i == 0 && p.b[i] == '-') {
		i++
	}
	if i == 0 {
		return false
	}
	n, err := strconv.Atoi(string(p.b[:i]))
	if err != nil {
		return false
	}
	if d := p.b[:i]; d[0] == '-' && (i == 1 || d[1] == '0') || d[0] == '0' && i > 1 {
		p.odd = true // Marshal writes neither -0 nor leading zeros
	}
	*out, p.b = n, p.b[i:]
	return true
}

// opt reads an optional string field.
func (p *envelopeParser) opt(name string, out *string) bool {
	if len(p.b) < len(name) || string(p.b[:len(name)]) != name {
		return true
	}
	p.b = p.b[len(name):]
	if !p.str(out) {
		return false
	}
	if *out == "" {
		p.odd = true // Marshal omits an empty optional field
	}
	return true
}
