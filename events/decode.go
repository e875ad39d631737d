package events

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// The data of an event is read by hand when it is in the layout
// json.Marshal writes for a flat event (fields in order, strings without
// escapes, integers): every manager, projection and recovery decodes the
// events it reads, and encoding/json scans the whole input once to
// validate it and again to decode it, with allocations to match
// (docs/decisions.md, "The hot path"). Anything else, or anything the hand reader
// is unsure of, goes through encoding/json, so both read exactly the same
// values and refuse the same input (decode_test.go holds them to it).

// dataReader reads the data of one event type by hand; nil for a type with
// a field it does not know (a slice, a map, a pointer, a time, a type with
// its own decoding).
type dataReader struct {
	fields []fieldReader
}

// fieldReader reads one field of a struct.
type fieldReader struct {
	name  string // the JSON key
	index int
	kind  reflect.Kind
	sub   *dataReader // for a struct field
}

// readers holds the reader of each registered event type; it is filled by
// register, in init functions, and only read afterwards.
var readers = map[reflect.Type]*dataReader{}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// newDataReader returns the reader of struct type t, or nil if t has a
// field that only encoding/json reads.
func newDataReader(t reflect.Type) *dataReader {
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) ||
		reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil
	}
	r := &dataReader{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous {
			return nil
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if strings.Contains(opts, "string") {
			return nil
		}
		if name == "" {
			name = f.Name
		}
		ft := f.Type
		if reflect.PointerTo(ft).Implements(unmarshalerType) || reflect.PointerTo(ft).Implements(textUnmarshalerType) {
			return nil
		}
		fr := fieldReader{name: name, index: i, kind: ft.Kind()}
		switch ft.Kind() {
		case reflect.String, reflect.Bool,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		case reflect.Struct:
			if fr.sub = newDataReader(ft); fr.sub == nil {
				return nil
			}
		default:
			return nil
		}
		r.fields = append(r.fields, fr)
	}
	return r
}

// read sets v (a zero struct) from data, or reports false, having perhaps
// set some fields, when data is not in the layout it reads.
func (r *dataReader) read(v reflect.Value, data []byte) bool {
	p := dataParser{b: data}
	return r.object(&p, v) && len(p.b) == 0
}

func (r *dataReader) object(p *dataParser, v reflect.Value) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	next := 0 // fields come in order; omitted ones are skipped
	for {
		key, ok := p.plainString()
		if !ok || !p.byte(':') {
			return false
		}
		for next < len(r.fields) && r.fields[next].name != string(key) {
			next++
		}
		if next == len(r.fields) {
			return false // unknown, repeated or out of order
		}
		if !r.fields[next].value(p, v.Field(r.fields[next].index)) {
			return false
		}
		next++
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

func (f *fieldReader) value(p *dataParser, v reflect.Value) bool {
	switch f.kind {
	case reflect.String:
		s, ok := p.plainString()
		if ok {
			v.SetString(string(s))
		}
		return ok
	case reflect.Bool:
		switch {
		case p.literal("true"):
			v.SetBool(true)
		case p.literal("false"):
		default:
			return false
		}
		return true
	case reflect.Struct:
		return f.sub.object(p, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := p.integer()
		if !ok || n[0] == '-' {
			return false
		}
		u, err := strconv.ParseUint(string(n), 10, v.Type().Bits())
		if err == nil {
			v.SetUint(u)
		}
		return err == nil
	default: // the signed integers
		n, ok := p.integer()
		if !ok {
			return false
		}
		i, err := strconv.ParseInt(string(n), 10, v.Type().Bits())
		if err == nil {
			v.SetInt(i)
		}
		return err == nil
	}
}

// dataParser reads compact JSON from the front of b.
type dataParser struct{ b []byte }

func (p *dataParser) byte(c byte) bool {
	if len(p.b) == 0 || p.b[0] != c {
		return false
	}
	p.b = p.b[1:]
	return true
}

func (p *dataParser) literal(s string) bool {
	if len(p.b) < len(s) || string(p.b[:len(s)]) != s {
		return false
	}
	p.b = p.b[len(s):]
	return true
}

// plainString reads a string of printable ASCII without escapes, which
// encoding/json reads as it is.
func (p *dataParser) plainString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	for i, c := range p.b {
		switch {
		case c == '"':
			s := p.b[:i]
			p.b = p.b[i+1:]
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, false
		}
	}
	return nil, false
}

// integer reads a JSON number that is an integer: -?(0|[1-9][0-9]*),
// not followed by a fraction or an exponent.
func (p *dataParser) integer() ([]byte, bool) {
	i := 0
	if i < len(p.b) && p.b[i] == '-' {
		i++
	}
	start := i
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
		i++
	}
	if i == start || (p.b[start] == '0' && i > start+1) {
		return nil, false
	}
	if i < len(p.b) && (p.b[i] == '.' || p.b[i] == 'e' || p.b[i] == 'E') {
		return nil, false
	}
	n := p.b[:i]
	p.b = p.b[i:]
	return n, true
}
