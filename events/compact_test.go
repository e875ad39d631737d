package events

import (
	"encoding/json"
	"strings"
	"testing"
)

// compactJSONSlow is compactJSON as it was written first: a scan for the
// characters encoding/json would change, then json.Valid. The one-pass
// checker must agree with it on every input.
func compactJSONSlow(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case c == '<' || c == '>' || c == '&' || c >= 0x7f:
			return false
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return !inString && json.Valid(data)
}

var compactSeeds = []string{
	``, `null`, `true`, `false`, `nul`, `nulll`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`, `1e-`, `-1.5e-10`, `.5`,
	`""`, `"a"`, `"a b"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00G9"`, `"\u00e"`, `"\x"`, "\"\x01\"", `"é"`,
	`"<"`, `"&"`, `">"`, `"\u003c"`, `"a`, `"\`,
	`{}`, `[]`, `{"a":1}`, `{"a":1,}`, `{"a":1,"b":[1,2,{"c":null}]}`, `{ "a":1}`, `{"a" :1}`, `[1,2 ]`, `[1 ,2]`, "[1,\n2]",
	`{"a"}`, `{"a":}`, `{1:2}`, `[1,]`, `[,1]`, `[`, `]`, `{`, `}`, `[][]`, `{}x`, `1 `, ` 1`, `{"a":1}}`,
	`{"transfer_id":"01jabc","to_agent_id":"a000002","amount_micros":500,"memo":"bench"}`,
}

// deepSeeds are at and past encoding/json's nesting limit.
var deepSeeds = []string{
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 9999) + "1" + strings.Repeat("}", 9999),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestCompactJSONMatchesSlow(t *testing.T) {
	for _, s := range append(compactSeeds, deepSeeds...) {
		if got, want := compactJSON([]byte(s)), compactJSONSlow([]byte(s)); got != want {
			t.Errorf("compactJSON(%.40q) = %v, want %v", s, got, want)
		}
	}
}

func FuzzCompactJSON(f *testing.F) {
	for _, s := range compactSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := compactJSON(data), compactJSONSlow(data); got != want {
			t.Fatalf("compactJSON(%q) = %v, want %v", data, got, want)
		}
	})
}

func BenchmarkCompactJSON(b *testing.B) {
	data := []byte(`{"transfer_id":"01kb0f0f7xg6q0m6bq4y0x8y0z","to_agent_id":"a000002","amount_micros":501,"memo":"bench"}`)
	b.Run("one pass", func(b *testing.B) {
		for b.Loop() {
			compactJSON(data)
		}
	})
	b.Run("scan and json.Valid", func(b *testing.B) {
		for b.Loop() {
			compactJSONSlow(data)
		}
	})
}
