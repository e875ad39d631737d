package natslog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// TestFollowTypes (beyond the contract's FollowWithTypes): a follower of some types gets every record in order;
// those of its types read whole, the others with their sequence alone,
// unread, whether it catches up (more than one chunk of the backlog) or
// waits for new ones. A record whose type cannot be told without reading
// it (an envelope in another layout) is read whole.
func TestFollowTypes(t *testing.T) {
	l, js := newLog(t)
	ctx := ctxT(t)
	filter := events.Filter(events.KindAgent, "a")
	var last uint64
	appendOne := func(i int) {
		t.Helper()
		var e events.Event = events.CreditsBurned{AmountMicros: 1, Reason: "r"}
		if i%3 == 0 {
			e = events.TransferSent{TransferID: fmt.Sprintf("t%d", i), ToAgentID: "b", AmountMicros: 1}
		}
		env, err := events.Encode(events.KindAgent, "a", e, events.Meta{Time: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if last, err = l.Append(ctx, filter, last, env); err != nil {
			t.Fatal(err)
		}
	}
	const backlog, live = 600, 30
	for i := range backlog {
		appendOne(i)
	}
	// Another layout: fields in another order, read whole.
	other := events.Envelope{ID: "x", Type: "credits_burned", Schema: 1, Subject: events.Subject(events.KindAgent, "a", "credits_burned"),
		Time: time.Now().UTC(), Data: json.RawMessage(`{"amount_micros":1}`)}
	b, err := json.Marshal(map[string]any{"type": other.Type, "id": other.ID, "schema": other.Schema, "subject": other.Subject,
		"time": other.Time, "data": other.Data})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, other.Subject, b) // as another tool would
	if err != nil {
		t.Fatal(err)
	}
	last = ack.Sequence
	foreignSeq := last

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan events.Record, backlog+live+1)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(fctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
			got <- r
			return nil
		}, events.WithTypes("transfer_sent"))
	}()
	for i := backlog; i < backlog+live; i++ {
		appendOne(i)
	}
	for seq := uint64(1); seq <= last; seq++ {
		var r events.Record
		select {
		case r = <-got:
		case <-ctx.Done():
			t.Fatalf("waiting for record %d: %v", seq, ctx.Err())
		}
		i := int(seq - 1)
		if seq > foreignSeq {
			i--
		}
		switch {
		case r.Seq != seq:
			t.Fatalf("record %d delivered as %d", seq, r.Seq)
		case seq == foreignSeq:
			if r.Envelope.ID != "x" {
				t.Fatalf("the foreign record was not read whole: %+v", r)
			}
		case i%3 == 0:
			e, err := events.Decode(r.Envelope)
			if ts, ok := e.(events.TransferSent); err != nil || !ok || ts.TransferID != fmt.Sprintf("t%d", i) {
				t.Fatalf("record %d: %v, %v; want transfer t%d", seq, e, err, i)
			}
		default:
			if r.Envelope.Type != "" || r.Envelope.Data != nil {
				t.Fatalf("record %d of another type was read: %+v", seq, r.Envelope)
			}
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}
