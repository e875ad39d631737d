package main

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy/bench"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/markets"
)

// TestJSONKeysAreSnakeCase: every key any --json output can hold is
// snake_case. It walks the types the commands print (not one sample
// output, where empty fields would hide): every exported field of every
// struct reachable from them must have a json tag naming it in
// snake_case (or "-"), unless its type writes its own JSON.
func TestJSONKeysAreSnakeCase(t *testing.T) {
	printed := map[string]any{
		"audit":              auditReport{},
		"replay":             economyView{},
		"status":             economyView{}.Summary,
		"history":            []history.Transaction{},
		"agents":             []operator.AgentSummary{},
		"agents --tree":      []*familyNode{},
		"agent":              operator.AgentRecord{},
		"markets":            markets.MarketsState{},
		"markets --resource": markets.MarketState{},
		"bids":               bidsPage{},
		"bench ledger":       bench.LedgerReport{},
		"bench restart":      bench.RestartReport{},
		"bench clearing":     bench.ClearingReport{},
		"bench exec":         bench.ExecReport{},
		"agent fund":         operator.FundAgentOutput{}.Body,
		"agent bid":          operator.AgentBidOutput{}.Body,
		"agent kill":         operator.KillAgentOutput{}.Body,
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	marshaler := reflect.TypeFor[json.Marshaler]()
	textMarshaler := reflect.TypeFor[encoding.TextMarshaler]()
	for cmd, v := range printed {
		seen := map[reflect.Type]bool{}
		var walk func(path string, typ reflect.Type)
		walk = func(path string, typ reflect.Type) {
			if seen[typ] || typ.Implements(marshaler) || reflect.PointerTo(typ).Implements(marshaler) ||
				typ.Implements(textMarshaler) || reflect.PointerTo(typ).Implements(textMarshaler) {
				return
			}
			seen[typ] = true
			switch typ.Kind() {
			case reflect.Pointer, reflect.Slice, reflect.Array:
				walk(path, typ.Elem())
			case reflect.Map:
				walk(path+"[]", typ.Elem())
			case reflect.Struct:
				for i := range typ.NumField() {
					f := typ.Field(i)
					if !f.IsExported() {
						continue
					}
					name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
					if name == "-" {
						continue
					}
					if f.Anonymous && name == "" {
						walk(path, f.Type) // its fields are the struct's own
						continue
					}
					if !snake.MatchString(name) {
						t.Errorf("agora %s --json: %s.%s has the key %q; want a snake_case json tag", cmd, path, f.Name, jsonKey(name, f.Name))
					}
					walk(path+"."+f.Name, f.Type)
				}
			}
		}
		walk(reflect.TypeOf(v).String(), reflect.TypeOf(v))
	}
}

// jsonKey is the key encoding/json writes for a field: its tag's name, else
// the field's own.
func jsonKey(tag, field string) string {
	if tag != "" {
		return tag
	}
	return field
}
