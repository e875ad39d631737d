// Package eventgen draws random events for property tests: every
// registered event type, with every field filled by reflection, from small
// domains (a few ids, a few amounts, a few instants) so that random
// sequences name the same agents, bids, executions and markets again and
// often make sense to the actors that fold them. A field added to an event
// is filled without a change here; a field of a kind it cannot fill, or an
// event type with no actor kind (Kinds), fails its tests.
package eventgen

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/events"
)

// IDs is the domain of every string of an event: ids of agents, bids,
// holds, executions, pools, markets and resources, and free text alike.
// Few values make coincidences common: a bid raised is often a bid listed.
var IDs = []string{"a", "b", "c"}

// T0 is the earliest instant drawn; the others are a few seconds later.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Kinds is the kind of actor on whose subjects each event type is written.
// An event type missing here fails TestEveryTypeHasAKind.
var Kinds = map[string]events.Kind{
	"agent_created": events.KindAgent, "transfer_sent": events.KindAgent, "transfer_received": events.KindAgent,
	"transfer_bounced": events.KindAgent, "transfer_returned": events.KindAgent, "hold_placed": events.KindAgent,
	"hold_increased": events.KindAgent, "hold_posted": events.KindAgent, "hold_voided": events.KindAgent,
	"credits_burned": events.KindAgent, "agent_died": events.KindAgent, "payment_refused": events.KindAgent,
	"credits_granted": events.KindAgent, "execution_started": events.KindAgent, "execution_ended": events.KindAgent,
	"execution_resumed": events.KindAgent,
	"child_spawned":     events.KindAgent,
	"market_configured": events.KindMarket, "market_cleared": events.KindMarket, "lease_released": events.KindMarket,
	"lease_granted":   events.KindMarket,
	"book_configured": events.KindClearing, "bid_listed": events.KindClearing, "bid_rejected": events.KindClearing,
	"bid_raised": events.KindClearing, "bid_withdrawn": events.KindClearing, "bids_cancelled": events.KindClearing,
	"cycle_cleared": events.KindClearing, "execution_released": events.KindClearing, "lease_renewed": events.KindClearing,
	"record_acknowledged": events.KindSystem,
	// Messages (events/message.go).
	"message_sent": events.KindAgent, "message_delivered": events.KindAgent, "message_bounced": events.KindAgent,
	"message_returned": events.KindAgent, "messages_read": events.KindAgent,
	// The attention slot (events/attention.go).
	"prompt_queued": events.KindAttention, "prompt_raised": events.KindAttention, "prompt_activated": events.KindAttention,
	"prompt_answered": events.KindAttention, "prompts_dropped": events.KindAttention, "human_rewarded": events.KindAgent,
}

// Types returns the Go type of every registered event, sorted by name.
func Types() []reflect.Type {
	names := events.Types()
	slices.Sort(names)
	out := make([]reflect.Type, 0, len(names))
	for _, name := range names {
		e, err := events.Decode(events.Envelope{Type: name, Data: json.RawMessage("{}")})
		if err != nil {
			panic(fmt.Sprintf("eventgen: registered type %s: %v", name, err))
		}
		out = append(out, reflect.TypeOf(e))
	}
	return out
}

// Draw returns an event of type typ with every field drawn.
func Draw(t *rapid.T, typ reflect.Type) events.Event {
	v := reflect.New(typ).Elem()
	Fill(t, v, typ.Name())
	return v.Interface().(events.Event)
}

// Any draws an event of any registered type.
func Any(t *rapid.T) events.Event {
	return Draw(t, rapid.SampledFrom(Types()).Draw(t, "type"))
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	microsType = reflect.TypeFor[events.Micros]()
	unitsType  = reflect.TypeFor[events.Units]()
)

// Fill draws a value for v and every field in it; path names it in
// rapid's log. It fails the test for a kind of value it cannot draw, so
// that an event given one is not silently left empty.
func Fill(t *rapid.T, v reflect.Value, path string) {
	typ := v.Type()
	switch {
	case typ == timeType:
		v.Set(reflect.ValueOf(T0.Add(time.Duration(rapid.IntRange(0, 5).Draw(t, path)) * time.Second)))
		return
	case typ == microsType || typ == unitsType:
		// Whole credits or units mostly, now and then a fraction, zero or
		// a negative: what Admit must refuse comes up too.
		n := rapid.Int64Range(-1, 6).Draw(t, path) * events.MicrosPerCredit
		if rapid.IntRange(0, 9).Draw(t, path+" fraction") == 0 {
			n += 500_000
		}
		v.SetInt(n)
		return
	}
	switch typ.Kind() {
	case reflect.String:
		v.SetString(rapid.SampledFrom(IDs).Draw(t, path))
	case reflect.Bool:
		v.SetBool(rapid.Bool().Draw(t, path))
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(rapid.Int64Range(-1, 4).Draw(t, path))
	case reflect.Uint64, reflect.Uint32, reflect.Uint:
		v.SetUint(rapid.Uint64Range(0, 4).Draw(t, path))
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if !f.IsExported() {
				t.Fatalf("eventgen: %s.%s is not exported: an event is its exported fields", path, f.Name)
			}
			Fill(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.Pointer:
		if rapid.IntRange(0, 4).Draw(t, path+" nil") == 0 {
			return
		}
		p := reflect.New(typ.Elem())
		Fill(t, p.Elem(), path)
		v.Set(p)
	case reflect.Slice:
		n := rapid.IntRange(0, 3).Draw(t, path+" length")
		s := reflect.MakeSlice(typ, n, n)
		for i := range n {
			Fill(t, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.Map:
		n := rapid.IntRange(0, 3).Draw(t, path+" length")
		m := reflect.MakeMapWithSize(typ, n)
		for i := range n {
			k := reflect.New(typ.Key()).Elem()
			Fill(t, k, fmt.Sprintf("%s key %d", path, i))
			e := reflect.New(typ.Elem()).Elem()
			Fill(t, e, fmt.Sprintf("%s[%v]", path, k))
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		t.Fatalf("eventgen: cannot draw %s of kind %s", path, typ.Kind())
	}
}

// Record encodes e as the log holds it at seq, on the subject of the actor
// (kind, id).
func Record(t *rapid.T, seq uint64, kind events.Kind, id string, e events.Event) events.Record {
	env, err := events.Encode(kind, id, e, events.Meta{ID: fmt.Sprintf("ev%d", seq), Time: T0.Add(time.Duration(seq) * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: seq, Envelope: env}
}
