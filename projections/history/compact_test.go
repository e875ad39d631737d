package history

import (
	"reflect"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
)

// The history keeps a balance and transactions per agent, never a copy of
// the agent's account: the economy fold and the directory keep the
// accounts already, and a long run's dead agents would pay for a third
// (docs/decisions.md, "The history keeps a balance per agent, not an
// account").
func TestHistoryKeepsNoAccount(t *testing.T) {
	account := reflect.TypeFor[agent.Account]()
	for _, typ := range []reflect.Type{reflect.TypeFor[State](), reflect.TypeFor[agentHistory]()} {
		if path, found := holds(typ, account, map[reflect.Type]bool{}); found {
			t.Errorf("%s holds an agent.Account at %s", typ, path)
		}
	}
}

// holds reports whether typ holds a value of want, through fields,
// pointers, maps, slices and arrays, and where.
func holds(typ, want reflect.Type, seen map[reflect.Type]bool) (string, bool) {
	if typ == want {
		return "", true
	}
	if seen[typ] {
		return "", false
	}
	seen[typ] = true
	switch typ.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holds(typ.Elem(), want, seen)
	case reflect.Map:
		if p, ok := holds(typ.Key(), want, seen); ok {
			return "[key]" + p, true
		}
		if p, ok := holds(typ.Elem(), want, seen); ok {
			return "[value]" + p, true
		}
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if p, ok := holds(f.Type, want, seen); ok {
				return "." + f.Name + p, true
			}
		}
	}
	return "", false
}
