package inbox_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/inbox"
)

// feed applies events of agent id's account to v at the next sequences.
type feed struct {
	t   *testing.T
	v   *inbox.View
	seq uint64
}

func (f *feed) apply(id string, e events.Event) {
	f.t.Helper()
	f.seq++
	env, err := events.Encode(events.KindAgent, id, e, events.Meta{Time: time.Unix(int64(f.seq), 0)})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.v.Apply(events.Record{Seq: f.seq, Envelope: env}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *feed) deliver(id, msg string) {
	f.apply(id, events.MessageDelivered{MessageID: msg, FromAgentID: "sender", Content: "text of " + msg, CostMicros: 1})
}

func ids(ms []inbox.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// A paging hands out the unread messages oldest first, then the read
// ones newest first, each once, even though the unread ones it handed out
// are marked read between its pages, as the service marks them.
func TestPagingHandsOutEachMessageOnce(t *testing.T) {
	f := &feed{t: t, v: inbox.New()}
	for i := 1; i <= 6; i++ {
		f.deliver("bob", fmt.Sprintf("m%d", i))
	}
	f.deliver("carol", "c1") // another inbox, never shown to bob
	f.apply("bob", events.MessagesRead{MessageIDs: []string{"m2", "m4"}})
	var got []string
	var read []bool
	cursor := ""
	for range 10 {
		page, next, err := f.v.Page("bob", 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		var unread []string
		for _, m := range page {
			got, read = append(got, m.ID), append(read, m.Read())
			if !m.Read() {
				unread = append(unread, m.ID)
			}
		}
		if len(unread) > 0 {
			f.apply("bob", events.MessagesRead{MessageIDs: unread})
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{"m1", "m3", "m5", "m6", "m4", "m2"}
	if !slices.Equal(got, want) {
		t.Fatalf("paged %v, want %v", got, want)
	}
	if !slices.Equal(read, []bool{false, false, false, false, true, true}) {
		t.Fatalf("read marks %v", read)
	}
	if u := f.v.Unread("bob"); len(u) != 0 {
		t.Fatalf("unread after the paging: %v", u)
	}
	// A later reading sees them all read, newest first.
	page, next, _ := f.v.Page("bob", 10, "")
	if !slices.Equal(ids(page), []string{"m6", "m5", "m4", "m3", "m2", "m1"}) || next != "" {
		t.Fatalf("later page %v next %q", ids(page), next)
	}
	if page[0].Content != "text of m6" || page[0].FromAgentID != "sender" || page[0].SentAt.Unix() != 6 {
		t.Fatalf("message %+v", page[0])
	}
	// A message delivered twice (a forged record) is one message.
	f.deliver("carol", "c1")
	if u := f.v.Unread("carol"); !slices.Equal(u, []string{"c1"}) {
		t.Fatalf("carol unread %v", u)
	}
}

// The view keeps the last ReadKeptMax read messages of an agent, and every
// unread one.
func TestReadMessagesAreBounded(t *testing.T) {
	f := &feed{t: t, v: inbox.New()}
	n := inbox.ReadKeptMax + 5
	var all []string
	for i := range n {
		id := fmt.Sprintf("m%03d", i)
		all = append(all, id)
		f.deliver("bob", id)
	}
	f.deliver("bob", "last")
	f.apply("bob", events.MessagesRead{MessageIDs: all})
	page, _, _ := f.v.Page("bob", 1000, "")
	if len(page) != inbox.ReadKeptMax+1 || page[0].ID != "last" || page[0].Read() {
		t.Fatalf("%d messages kept, first %+v", len(page), page[0])
	}
	if oldest := page[len(page)-1].ID; oldest != all[5] {
		t.Fatalf("oldest read kept %s, want %s", oldest, all[5])
	}
}

func TestCursorsAreChecked(t *testing.T) {
	v := inbox.New()
	for _, c := range []string{"x", "1.2", "1.2.3.4", "-1.0.0", "a.b.c"} {
		if _, _, err := v.Page("bob", 10, c); !errors.Is(err, inbox.ErrInvalidCursor) {
			t.Errorf("cursor %q: %v", c, err)
		}
	}
	if _, _, err := v.Page("bob", 0, ""); !errors.Is(err, inbox.ErrInvalidCursor) {
		t.Errorf("limit 0: %v", err)
	}
}
