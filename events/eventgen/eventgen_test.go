package eventgen_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/eventgen"
)

// TestEveryTypeHasAKind fails when an event type is registered that the
// generator cannot place on an actor's subjects.
func TestEveryTypeHasAKind(t *testing.T) {
	types := eventgen.Types()
	if len(types) != len(events.Types()) || len(types) == 0 {
		t.Fatalf("%d types drawn, %d registered", len(types), len(events.Types()))
	}
	for _, typ := range types {
		e := reflect.Zero(typ).Interface().(events.Event)
		if _, ok := eventgen.Kinds[e.EventType()]; !ok {
			t.Errorf("event type %s has no kind in eventgen.Kinds", e.EventType())
		}
	}
	for name := range eventgen.Kinds {
		if !slices.Contains(events.Types(), name) {
			t.Errorf("eventgen.Kinds names %s, which is not registered", name)
		}
	}
}

// TestEveryFieldIsDrawn draws events of every type and checks that every
// field of every event type, nested ones included, was drawn non-zero at
// least once, and that every event survives the codec: a field the
// generator leaves empty would be a field no property test exercises.
func TestEveryFieldIsDrawn(t *testing.T) {
	seen := map[string]bool{}
	for _, typ := range eventgen.Types() {
		for _, p := range fieldPaths(typ, typ.Name()) {
			seen[p] = false
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		for _, typ := range eventgen.Types() {
			e := eventgen.Draw(t, typ)
			mark(seen, reflect.ValueOf(e), typ.Name())
			rec := eventgen.Record(t, 1, eventgen.Kinds[e.EventType()], "a", e)
			back, err := events.Read(rec)
			if err != nil {
				t.Fatalf("%s does not read back: %v", typ.Name(), err)
			}
			if !reflect.DeepEqual(normal(back), normal(e)) {
				t.Fatalf("%s reads back as\n%#v\nwant\n%#v", typ.Name(), back, e)
			}
		}
	})
	var never []string
	for p, ok := range seen {
		if !ok {
			never = append(never, p)
		}
	}
	slices.Sort(never)
	if len(never) > 0 {
		t.Fatalf("fields never drawn non-zero:\n%s", strings.Join(never, "\n"))
	}
}

// normal is e with empty slices and maps as nil, as JSON with omitempty
// gives them back.
func normal(e events.Event) any {
	v := reflect.New(reflect.TypeOf(e)).Elem()
	v.Set(reflect.ValueOf(e))
	normalize(v)
	return v.Interface()
}

func normalize(v reflect.Value) {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				normalize(v.Index(i))
			}
			return
		}
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			normalize(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalize(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[struct{}]() {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalize(v.Field(i))
			}
		}
	}
}

// fieldPaths lists the paths of every field under typ; slices, maps and
// pointers are looked through.
func fieldPaths(typ reflect.Type, path string) []string {
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice:
		return fieldPaths(typ.Elem(), path)
	case reflect.Map:
		return fieldPaths(typ.Elem(), path)
	case reflect.Struct:
		if typ == reflect.TypeFor[time.Time]() {
			return nil
		}
		var out []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			p := path + "." + f.Name
			out = append(out, p)
			out = append(out, fieldPaths(f.Type, p)...)
		}
		return out
	}
	return nil
}

// mark records which field paths hold a non-zero value in v.
func mark(seen map[string]bool, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mark(seen, v.Elem(), path)
		}
	case reflect.Slice:
		for i := range v.Len() {
			mark(seen, v.Index(i), path)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			mark(seen, v.MapIndex(k), path)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			p := path + "." + v.Type().Field(i).Name
			if !f.IsZero() {
				seen[p] = true
			}
			mark(seen, f, p)
		}
	}
}
