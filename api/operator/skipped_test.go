package operator_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// TestSkippedRecordsAreListedAndAcknowledged: records forged on the NATS
// port (one not an event, one overspend) are listed by GET /admin/skipped
// with their sequence and reason, counted in the status and the metrics;
// POST .../acknowledge records the acknowledgement (an event) for a
// skipped record only, once.
func TestSkippedRecordsAreListedAndAcknowledged(t *testing.T) {
	e := startEconomy(t)
	e.create("a", 10)
	env, err := events.Encode(events.KindAgent, "a", events.TransferSent{TransferID: "x", ToAgentID: "b",
		AmountMicros: events.Credits(50)}, events.Meta{Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	overspend, err := events.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	junk := natstest.Forge(t, e.natsURL, "events.test.x.y", []byte(`{"a":1}`))
	forged := natstest.Forge(t, e.natsURL, env.Subject, overspend)
	e.settle()

	list := e.ok(e.admin("GET", "/admin/skipped", nil))
	records := list["records"].([]any)
	if len(records) != 2 || num(t, list["unacknowledged"]) != 2 {
		t.Fatalf("GET /admin/skipped: %v", list)
	}
	for i, want := range []struct {
		seq     uint64
		subject string
		reason  events.Reason
	}{{junk, "events.test.x.y", events.ReasonUndecodable}, {forged, env.Subject, events.ReasonInvariant}} {
		r := records[i].(map[string]any)
		if num(t, r["seq"]) != float64(want.seq) || r["subject"] != want.subject || r["reason"] != string(want.reason) ||
			r["acknowledged"] != false || r["detail"] == "" {
			t.Fatalf("record %d: %v; want %+v", i, r, want)
		}
	}
	if s := e.ok(e.admin("GET", "/admin/status", nil)); num(t, s["skipped_records"]) != 2 || num(t, s["unacknowledged_records"]) != 2 {
		t.Fatalf("status: %v", s)
	}
	if m := e.scrape(); m["agora_records_skipped_total{reason=invariant}"] != 1 ||
		m["agora_records_skipped_total{reason=undecodable}"] != 1 || m["agora_records_skipped_total{reason=bad_data}"] != 0 ||
		m["agora_records_unacknowledged"] != 2 {
		t.Fatalf("metrics: %v", m)
	}

	e.problem(e.admin("POST", "/admin/skipped/1/acknowledge", map[string]any{}), http.StatusNotFound, "not a skipped record")
	e.problem(e.admin("POST", "/admin/skipped/0/acknowledge", map[string]any{}), http.StatusUnprocessableEntity)
	before := e.lastSeq()
	path := fmt.Sprintf("/admin/skipped/%d/acknowledge", forged)
	acked := e.ok(e.admin("POST", path, map[string]any{"reason": "a test forged it"}))
	if acked["acknowledged"] != true || acked["ack_reason"] != "a test forged it" || num(t, acked["ack_seq"]) != float64(before+1) {
		t.Fatalf("acknowledged: %v", acked)
	}
	e.ok(e.admin("POST", path, map[string]any{"reason": "again"}))
	if after := e.lastSeq(); after != before+1 {
		t.Fatalf("acknowledging twice wrote %d events, want 1", after-before)
	}
	if s := e.ok(e.admin("GET", "/admin/status", nil)); num(t, s["skipped_records"]) != 2 || num(t, s["unacknowledged_records"]) != 1 {
		t.Fatalf("status after the acknowledgement: %v", s)
	}
	if got := e.account("a").BalanceMicros; got != events.Credits(10) {
		t.Fatalf("a holds %s, want 10: the overspend was skipped", got)
	}
}

// num reads a JSON number of an answer.
func num(t *testing.T, v any) float64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v is not a number", v)
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatal(err)
	}
	return f
}
