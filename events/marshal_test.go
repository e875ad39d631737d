package events

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
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
		if _, _, ok := parseEnvelope([]byte(inputs[name])); !ok {
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

// storedCases are envelopes as stored: what Marshal writes, and the same
// envelope spelled otherwise in every way parseEnvelope still reads by
// hand.
func storedCases(t testing.TB) (canonical []string, other []string) {
	env := Envelope{
		ID: "01jx0000000000000000000000", Type: "transfer_sent", Schema: 1,
		Subject: "events.agent.a1.transfer_sent", Time: time.Date(2026, 11, 25, 22, 0, 0, 123450000, time.UTC),
		CausationID: "c1", IdempotencyKey: "key-1", Prev: "0123456789abcdef0123456789abcdef",
		Data: json.RawMessage(`{"transfer_id":"t1","to_agent_id":"b","amount_micros":5,"memo":"a \"b\" c"}`),
	}
	b, err := Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	canonical = append(canonical, s,
		`{"id":"01J","type":"t","schema":-7,"subject":"s","time":"2026-11-25T23:00:00+01:00","data":[1,{"a":null}]}`,
		`{"id":"","type":"","schema":0,"subject":"events.agent.a.t","time":"0001-01-01T00:00:00Z","data":{}}`)
	swap := func(old, new string) string {
		if !strings.Contains(s, old) {
			t.Fatalf("%q is not in %s", old, s)
		}
		return strings.Replace(s, old, new, 1)
	}
	other = append(other,
		swap(`.12345Z"`, `.123450Z"`),                          // a trailing zero in the fraction
		swap(`22:00:00.12345Z"`, `22:00:00.12345+00:00"`),      // UTC as an offset
		swap(`"schema":1`, `"schema":01`),                      // a leading zero
		swap(`"c1"`, `"c1\u003c"`),                             // an escape (read by encoding/json)
		swap(`"c1"`, `"c<1"`),                                  // HTML, which Marshal escapes
		swap(`"c1"`, `"c1é"`),                                  // not ASCII
		swap(`"key-1"`, `"key\u007f"`),                         // DEL, which Marshal keeps but plain refuses
		swap(`"causation_id":"c1"`, `"causation_id":""`),       // an empty optional field
		swap(`"amount_micros":5`, `"amount_micros": 5`),        // space in the data
		swap(`"memo":"a`, `"memo":"<a`),                        // HTML in the data
		swap(`,"memo"`, "\n,\"memo\""),                         // a newline in the data
		swap(`"schema":1`, `"schema":-0`),                      // minus zero
		swap(`"time":"2026-11-25T22`, `"time":"2026-11-25t22`), // a lowercase t, if time.Parse takes it
	)
	return canonical, other
}

// A record carries its stored bytes (Record.Stored) exactly when they are
// what Marshal writes for its envelope: the chain hashes them in place of
// Marshal's, so a record spelled otherwise must not carry them.
func TestRecordStoredIsWhatMarshalWrites(t *testing.T) {
	canonical, other := storedCases(t)
	for _, s := range canonical {
		r := RecordOf(1, "", []byte(s))
		if r.Bad != nil || r.Stored == nil {
			t.Errorf("%s: stored %q, bad %v; want its bytes", s, r.Stored, r.Bad)
		}
		sameAsMarshal(t, []byte(s))
	}
	for _, s := range other {
		if r := RecordOf(1, "", []byte(s)); r.Stored != nil {
			t.Errorf("%s: stored bytes kept, but Marshal writes another spelling", s)
		}
		sameAsMarshal(t, []byte(s))
	}
	// A record stored under another subject than its envelope names is
	// bad, and carries nothing.
	if r := RecordOf(1, "events.agent.zz.transfer_sent", []byte(canonical[0])); r.Bad == nil || r.Stored != nil {
		t.Errorf("misfiled record: bad %v, stored %q", r.Bad, r.Stored)
	}
}

// sameAsMarshal fails when b reads as a record carrying stored bytes that
// Marshal would not write for its envelope.
func sameAsMarshal(t *testing.T, b []byte) {
	t.Helper()
	r := RecordOf(1, "", b)
	if r.Stored == nil {
		return
	}
	m, err := Marshal(r.Envelope)
	if err != nil || !bytes.Equal(m, r.Stored) {
		t.Fatalf("stored %s\nMarshal %s (%v)", r.Stored, m, err)
	}
}

func FuzzRecordStored(f *testing.F) {
	canonical, other := storedCases(f)
	for _, s := range append(canonical, other...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameAsMarshal(t, b) })
}

// BenchmarkRecordOf reads a transfer's envelope as the log hands it to
// every reader, its canonical spelling checked on the way.
func BenchmarkRecordOf(b *testing.B) {
	env, err := Encode(KindAgent, "a000001", TransferSent{TransferID: "01kb0f0f7xg6q0m6bq4y0x8y0z", ToAgentID: "a000002", AmountMicros: 501},
		Meta{Time: time.Date(2026, 12, 1, 0, 0, 0, 123456789, time.UTC), IdempotencyKey: "01kb0f0f7xg6q0m6bq4y0x8y0z",
			Prev: "0123456789abcdef0123456789abcdef"})
	if err != nil {
		b.Fatal(err)
	}
	data, err := Marshal(env)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := RecordOf(1, env.Subject, data); r.Bad != nil || r.Stored == nil {
			b.Fatal(r.Bad)
		}
	}
}
