package events

import (
	"reflect"
	"testing"
)

// TestTriggeredEvents: every event that has a trigger says so through
// Triggered, and returns that very trigger. An event that kept its trigger
// to itself would never move its actor's marks, and a redelivery of the
// command it records would apply again.
func TestTriggeredEvents(t *testing.T) {
	triggerType := reflect.TypeOf(Trigger{})
	n := 0
	for name, typ := range registry {
		f, has := typ.FieldByName("Trigger")
		v := reflect.New(typ).Elem()
		_, triggered := v.Interface().(Triggered)
		switch {
		case has && f.Type != triggerType:
			t.Fatalf("%s: field Trigger is a %s", name, f.Type)
		case has && !triggered:
			t.Fatalf("%s has a trigger and does not implement Triggered", name)
		case !has && triggered:
			t.Fatalf("%s implements Triggered without a trigger", name)
		case !has:
			continue
		}
		want := Trigger{Manager: "m", Seq: 7, Index: 2}
		v.FieldByIndex(f.Index).Set(reflect.ValueOf(want))
		if got := v.Interface().(Triggered).Triggered(); got != want {
			t.Fatalf("%s.Triggered() = %+v, want %+v", name, got, want)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no event carries a trigger")
	}
}
