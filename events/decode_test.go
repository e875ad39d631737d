package events

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// decodeJSON is Decode through encoding/json alone: what the hand reader
// must agree with.
func decodeJSON(t reflect.Type, data []byte) (any, error) {
	p := reflect.New(t)
	err := json.Unmarshal(data, p.Interface())
	return p.Elem().Interface(), err
}

// sameDecode checks that Decode reads data of type name as encoding/json
// does, or refuses it as encoding/json does.
func sameDecode(t *testing.T, name string, data []byte) {
	t.Helper()
	typ := registry[name]
	want, wantErr := decodeJSON(typ, data)
	got, gotErr := Decode(Envelope{Type: name, Data: data})
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%s %q: errors differ: encoding/json %v, Decode %v", name, data, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\nDecode        %#v\nencoding/json %#v", name, data, got, want)
	}
}

// randomValue fills v with random values, strings among them with the
// characters encoding/json escapes or cannot keep.
func randomValue(r *rand.Rand, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		words := []string{"", "a", "bench", "a b", `q"uote`, `back\slash`, "<b>&", "é", "\u2028", "\n", "\x00", "\xff", "01jabcdefghjkmnpqrstvwxyz0"}
		v.SetString(words[r.IntN(len(words))] + words[r.IntN(len(words))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		edges := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 1_000_000}
		i := edges[r.IntN(len(edges))] + r.Int64N(1000) - 500
		v.SetInt(i)
		if v.Int() != i { // the field is narrower: keep what fits
			v.SetInt(int64(r.IntN(100)))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		edges := []uint64{0, 1, math.MaxUint64, 1 << 40}
		u := edges[r.IntN(len(edges))] - uint64(r.IntN(10))
		v.SetUint(u)
		if v.Uint() != u {
			v.SetUint(uint64(r.IntN(100)))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && r.IntN(5) > 0 {
				randomValue(r, v.Field(i))
			}
		}
	case reflect.Slice:
		n := r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			randomValue(r, s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			randomValue(r, k)
			randomValue(r, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Pointer:
		if r.IntN(2) == 0 {
			p := reflect.New(v.Type().Elem())
			randomValue(r, p.Elem())
			v.Set(p)
		}
	}
}

// Every event type, with random values, reads back as encoding/json reads
// it, whichever path Decode takes.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for name, typ := range registry {
		for range 300 {
			v := reflect.New(typ)
			randomValue(r, v.Elem())
			data, err := json.Marshal(v.Interface())
			if err != nil {
				t.Fatal(err)
			}
			sameDecode(t, name, data)
		}
	}
	// The hot events are read by hand.
	for _, e := range []Event{TransferSent{}, TransferReceived{}, TransferBounced{}, TransferReturned{}, HoldPosted{}} {
		if readers[reflect.TypeOf(e)] == nil {
			t.Errorf("%s has no hand reader", e.EventType())
		}
	}
}

// decodeSeeds are data of a transfer_received (a nested struct, an unsigned
// integer) that the hand reader must read as encoding/json does, or leave
// to it.
var decodeSeeds = []string{
	`{"transfer_id":"t","from_agent_id":"a","amount_micros":5,"trigger":{"manager":"m","seq":7}}`,
	`{"transfer_id":"t","amount_micros":5}`,
	`{}`, `null`, `[]`, ``, `{`, `{"transfer_id":"t"`, `{"transfer_id":"t"}x`, `{"transfer_id":"t"} `,
	`{"transfer_id":"t","transfer_id":"u"}`,
	`{"amount_micros":5,"transfer_id":"t"}`,
	`{"Transfer_ID":"t"}`, `{"TRANSFER_ID":"t","transfer_id":"u"}`,
	`{"unknown":1,"transfer_id":"t"}`,
	`{"transfer_id":"t\"u"}`, `{"transfer_id":"t\u0041"}`, `{"transfer_id":"é"}`, "{\"transfer_id\":\"\xff\"}", "{\"transfer_id\":\"a\x01\"}",
	`{"transfer_id":null}`, `{"trigger":null}`, `{"amount_micros":null}`,
	`{"amount_micros":01}`, `{"amount_micros":-0}`, `{"amount_micros":1.0}`, `{"amount_micros":1e3}`, `{"amount_micros":-}`,
	`{"amount_micros":9223372036854775807}`, `{"amount_micros":9223372036854775808}`, `{"amount_micros":-9223372036854775808}`,
	`{"amount_micros":"5"}`, `{"transfer_id":5}`,
	`{"trigger":{"seq":-1}}`, `{"trigger":{"seq":18446744073709551615}}`, `{"trigger":{"seq":18446744073709551616}}`,
	`{"trigger":{"index":4294967296}}`, `{"trigger":{"manager":"m","seq":7,}}`, `{"trigger":{}}`, `{"trigger":[]}`,
	`{ "transfer_id":"t"}`, `{"transfer_id" :"t"}`, `{"transfer_id":"t" }`,
}

func TestDecodeTricky(t *testing.T) {
	for _, s := range decodeSeeds {
		sameDecode(t, TransferReceived{}.EventType(), []byte(s))
	}
	sameDecode(t, TransferSent{}.EventType(), []byte(`{"transfer_id":"t","to_agent_id":"b","amount_micros":5,"memo":"`+strings.Repeat("m", 1000)+`"}`))
}

func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameDecode(t, TransferReceived{}.EventType(), data)
		sameDecode(t, TransferSent{}.EventType(), data)
	})
}
