package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Marshal must write exactly what encoding/json writes, on its hand-written
// path and on the fallback, or the log would hold two spellings of one
// envelope.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	base := Envelope{
		ID: "01JX0000000000000000000000", Type: "transfer_sent", Schema: 1,
		Subject: "events.agent.a1.transfer_sent", Time: time.Date(2026, 11, 25, 22, 0, 0, 123456789, time.UTC),
		Data: json.RawMessage(`{"transfer_id":"t1","to_agent_id":"b","amount_micros":5}`),
	}
	with := func(f func(*Envelope)) Envelope { e := base; f(&e); return e }
	cases := map[string]Envelope{
		"plain": base,
		"all optional": with(func(e *Envelope) {
			e.CausationID, e.CorrelationID, e.IdempotencyKey, e.Prev = "c1", "c2", "key-1", "0123456789abcdef0123456789abcdef"
		}),
		"prev only":         with(func(e *Envelope) { e.Prev = "0123456789abcdef0123456789abcdef" }),
		"quote in prev":     with(func(e *Envelope) { e.Prev = `a"b` }),
		"whole second":      with(func(e *Envelope) { e.Time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }),
		"zero time":         with(func(e *Envelope) { e.Time = time.Time{} }),
		"other zone":        with(func(e *Envelope) { e.Time = e.Time.In(time.FixedZone("x", 3600)) }),
		"quote in key":      with(func(e *Envelope) { e.IdempotencyKey = `a"b` }),
		"html in key":       with(func(e *Envelope) { e.IdempotencyKey = "a<b>&c" }),
		"unicode in key":    with(func(e *Envelope) { e.IdempotencyKey = "clé\u2028" }),
		"control in key":    with(func(e *Envelope) { e.CausationID = "a\nb" }),
		"spaced data":       with(func(e *Envelope) { e.Data = json.RawMessage(`{ "a" : [1, 2] }`) }),
		"html in data":      with(func(e *Envelope) { e.Data = json.RawMessage(`{"memo":"<b>"}`) }),
		"escaped data":      with(func(e *Envelope) { e.Data = json.RawMessage(`{"memo":"a\"b\\c \u00e9"}`) }),
		"unicode in data":   with(func(e *Envelope) { e.Data = json.RawMessage(`{"memo":"é"}`) }),
		"space in string":   with(func(e *Envelope) { e.Data = json.RawMessage(`{"memo":"a b"}`) }),
		"nil data":          with(func(e *Envelope) { e.Data = nil }),
		"scalar data":       with(func(e *Envelope) { e.Data = json.RawMessage(`42`) }),
		"year out of range": with(func(e *Envelope) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			want, wantErr := json.Marshal(env)
			got, gotErr := Marshal(env)
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("errors differ: encoding/json %v, Marshal %v", wantErr, gotErr)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal:\n%s\nencoding/json:\n%s", got, want)
			}
		})
	}
	// The common envelope takes the hand-written path.
	for _, name := range []string{"plain", "all optional", "prev only", "escaped data"} {
		if _, ok := appendEnvelope(nil, cases[name]); !ok {
			t.Errorf("%s envelope is not written by hand", name)
		}
	}
	// Invalid data is refused as encoding/json refuses it.
	if _, err := Marshal(with(func(e *Envelope) { e.Data = json.RawMessage(`{"a":`) })); err == nil {
		t.Fatal("Marshal accepted invalid data")
	}
}

// Unmarshal must read exactly what encoding/json reads, whichever path it
// takes, and refuse what encoding/json refuses.
func TestUnmarshalMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 22, 0, 0, 123456789, time.UTC)
	inputs := map[string]string{
		"written by Marshal": `{"id":"01J","type":"transfer_sent","schema":1,"subject":"events.agent.a.transfer_sent","time":"2026-11-25T22:00:00.123456789Z","data":{"a":1}}`,
		"all optional":       `{"id":"01J","type":"t","schema":2,"subject":"events.agent.a.t","time":"2026-11-25T22:00:00Z","causation_id":"c","correlation_id":"d","idempotency_key":"k","prev":"0123456789abcdef0123456789abcdef","data":{"a":"}"}}`,
		"prev only":          `{"id":"01J","type":"t","schema":1,"subject":"events.agent.a.t","time":"2026-11-25T22:00:00Z","prev":"0123456789abcdef0123456789abcdef","data":{}}`,
		"prev before key":    `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","prev":"p","idempotency_key":"k","data":{}}`,
		"escaped prev":       `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","prev":"a\u0062","data":{}}`,
		"braces in strings":  `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{"a":"{\"}","b":[1,{"c":"]"}]}}`,
		"array data":         `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":[1,2]}`,
		"other order":        `{"type":"t","id":"01J","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{"a":1}}`,
		"escaped id":         `{"id":"0\u0031J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{}}`,
		"spaces":             `{ "id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{} }`,
		"field after data":   `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{"a":1},"x":{"b":2}}`,
		"null data":          `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":null}`,
		"offset time":        `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T23:00:00+01:00","data":{}}`,
		"bad time":           `{"id":"01J","type":"t","schema":1,"subject":"s","time":"yesterday","data":{}}`,
		"truncated":          `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{"a":1}`,
		"unclosed data":      `{"id":"01J","type":"t","schema":1,"subject":"s","time":"2026-11-25T22:00:00Z","data":{"a":1}}}`,
		"not json":           `hello`,
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			var want Envelope
			wantErr := json.Unmarshal([]byte(in), &want)
			got, gotErr := Unmarshal([]byte(in))
			if (wantErr != nil) != (gotErr != nil) {
				t.Fatalf("errors differ: encoding/json %v, Unmarshal %v", wantErr, gotErr)
			}
			if wantErr != nil {
				return
			}
			if !got.Time.Equal(want.Time) || got.Time.Location().String() != want.Time.Location().String() {
				t.Fatalf("time %v, encoding/json %v", got.Time, want.Time)
			}
			got.Time, want.Time = at, at
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Unmarshal:\n%+v\nencoding/json:\n%+v", got, want)
			}
		})
	}
	for _, name := range []string{"written by Marshal", "all optional", "prev only", "braces in strings", "array data"} {
		if _, ok := parseEnvelope([]byte(inputs[name])); !ok {
			t.Errorf("%s is not read by hand", name)
		}
	}
}

// NewID is a lowercase ULID: 26 characters, subject-safe, increasing.
func TestNewIDIsALowercaseULID(t *testing.T) {
	prev := ""
	for range 1000 {
		id := NewID()
		if len(id) != 26 || ValidateID(id) != nil || id <= prev {
			t.Fatalf("NewID() = %q after %q", id, prev)
		}
		prev = id
	}
}
