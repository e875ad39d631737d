package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

func TestParseCredits(t *testing.T) {
	ok := []struct {
		in   string
		want events.Micros
	}{
		{"0", 0}, {"1", 1_000_000}, {"0.1", 100_000}, {"0.000001", 1}, {"12.50", 12_500_000},
		{"1e3", 1_000_000_000}, {"1.5e-6", 0}, {"2.5E1", 25_000_000}, {"-3", -3_000_000},
		{"1000000000000", events.AmountMax}, {"0.0000010", 1}, {"+7", 7_000_000},
	}
	for _, c := range ok {
		if c.in == "1.5e-6" {
			continue // has more than six decimals once the exponent applies; covered below
		}
		got, err := events.ParseCredits(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseCredits(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []string{"", "abc", "1.0000001", "1.5e-6", "NaN", "Inf", "-Inf", "1e13", "1000000000000.000001",
		"99999999999999999999", "1..2", ".", "1e", "0x10", "1,5", " "}
	for _, in := range bad {
		if _, err := events.ParseCredits(in); !errors.Is(err, events.ErrInvalidAmount) {
			t.Errorf("ParseCredits(%q) err = %v, want ErrInvalidAmount", in, err)
		}
	}
}

func TestCreditsJSON(t *testing.T) {
	var v struct {
		A events.CreditsJSON `json:"a"`
	}
	if err := json.Unmarshal([]byte(`{"a": 0.1}`), &v); err != nil || v.A != 100_000 {
		t.Fatalf("got %d, %v", v.A, err)
	}
	for _, in := range []string{`{"a":"5"}`, `{"a":1.0000001}`, `{"a":null}`, `{"a":true}`, `{"a":1e13}`} {
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
	b, _ := json.Marshal(struct {
		A events.CreditsJSON `json:"a"`
	}{12_500_001})
	if string(b) != `{"a":12.500001}` {
		t.Errorf("marshal = %s", b)
	}
}

func TestMicrosString(t *testing.T) {
	for m, want := range map[events.Micros]string{0: "0", 1: "0.000001", 1_500_000: "1.5", -2_000_000: "-2", 123_456_789: "123.456789"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "genesis", "agent_1-x", strings.Repeat("z", 64), events.NewID()} {
		if err := events.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "A", "a.b", "a*", ">", "a b", "é", strings.Repeat("z", 65)} {
		if err := events.ValidateID(id); !errors.Is(err, events.ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID", id, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	s := events.Subject(events.KindAgent, "a1", "transfer_sent")
	if s != "events.agent.a1.transfer_sent" {
		t.Fatal(s)
	}
	kind, id, typ, err := events.ParseSubject(s)
	if err != nil || kind != events.KindAgent || id != "a1" || typ != "transfer_sent" {
		t.Fatalf("ParseSubject = %v %v %v %v", kind, id, typ, err)
	}
	if _, _, _, err := events.ParseSubject("events.agent.a1"); err == nil {
		t.Error("short subject parsed")
	}
	match := []struct {
		filter, subject string
		want            bool
	}{
		{events.Filter(events.KindAgent, "a1"), s, true},
		{events.Filter(events.KindAgent, "a2"), s, false},
		{"events.agent.*.>", s, true},
		{"events.agent.*.transfer_sent", s, true},
		{"events.agent.*.hold_placed", s, false},
		{"events.>", s, true},
		{"events.agent.a1.transfer_sent.x", s, false},
		{"events.agent.a1", s, false},
		{">", s, true},
		{"events.agent.a1.transfer_sent.>", s, false},
		{"*", "events", true},
		{"*", s, false},
		{"events.*", "events", false},
		{"events.agent.*.*", s, true},
	}
	for _, c := range match {
		if got := events.Match(c.filter, c.subject); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.filter, c.subject, got)
		}
	}
	for filter, ok := range map[string]bool{
		"events.agent.a1.>": true, "events.>": true, ">": true, "*": true, "events.*.a1.x": true,
		"": false, "events..a1": false, ".events": false, "events.": false, "events.>.a1": false,
		"events.a*": false, "events.>x": false, "events. a1": false,
	} {
		if err := events.ValidateFilter(filter); (err == nil) != ok {
			t.Errorf("ValidateFilter(%q) = %v", filter, err)
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	for _, e := range []events.Event{
		events.AgentCreated{AgentID: "a", GrantMicros: 5, Lineage: []string{"p"}, ParentID: "p"},
		events.TransferSent{TransferID: "t", ToAgentID: "b", AmountMicros: 7, Memo: "m"},
		events.HoldPosted{HoldID: "h", AmountMicros: 3, Trigger: events.Trigger{Manager: "clearing", Seq: 9}},
		events.AgentDied{Reason: "broke", VoidedHolds: []string{"h1", "h2"}, BurnedMicros: 4},
		events.CreditsGranted{AmountMicros: 6, Reason: "operator"},
	} {
		env, err := events.Encode(events.KindAgent, "a", e, events.Meta{Time: at, IdempotencyKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := events.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		back, err := events.Unmarshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.Decode(back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip of %T: got %+v", e, got)
		}
		if back.Subject != "events.agent.a."+e.EventType() || back.IdempotencyKey != "k" || !back.Time.Equal(at) {
			t.Errorf("envelope %+v", back)
		}
	}
	if _, err := events.Decode(events.Envelope{Type: "no_such_event", Data: []byte(`{}`)}); !errors.Is(err, events.ErrUnknownEventType) {
		t.Errorf("unknown type: %v", err)
	}
}
