package attention_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/attention"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func record(t *testing.T, seq uint64, kind events.Kind, id string, e events.Event) events.Record {
	t.Helper()
	env, err := events.Encode(kind, id, e, events.Meta{ID: "e", Time: t0.Add(time.Duration(seq) * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: seq, Envelope: env}
}

// answered folds n prompts of agent a, each queued, activated and
// answered with a reward of its number of credits, the even ones minted.
func answered(t *testing.T, v *attention.View, n int) {
	t.Helper()
	seq := uint64(0)
	apply := func(kind events.Kind, id string, e events.Event) {
		seq++
		if err := v.Apply(record(t, seq, kind, id, e)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		id := "p-" + string(rune('a'+i))
		apply(events.KindAttention, events.SlotID, events.PromptQueued{PromptID: id, AgentID: "a", Content: "c" + id,
			AmountMicros: events.Credits(5), PlacedAt: t0})
		apply(events.KindAttention, events.SlotID, events.PromptActivated{PromptID: id, AgentID: "a", AmountMicros: events.Credits(5), ActivatedAt: t0})
		apply(events.KindAttention, events.SlotID, events.PromptAnswered{PromptID: id, AgentID: "a", Interesting: i,
			RewardMicros: events.Credits(int64(i)), AnsweredAt: t0})
		if i%2 == 0 {
			apply(events.KindAgent, "a", events.HumanRewarded{PromptID: id, AmountMicros: events.Credits(int64(i))})
		}
	}
	apply(events.KindAttention, events.SlotID, events.PromptQueued{PromptID: "p-w", AgentID: "b", Content: "waits",
		AmountMicros: events.Credits(7), PlacedAt: t0})
}

// TestResponsesPageNewestFirst: the responses page newest first, with the
// prompt's content and whether the reward was minted; a cursor the view
// did not give is refused.
func TestResponsesPageNewestFirst(t *testing.T) {
	v := attention.New()
	answered(t, v, 5)
	var got []string
	cursor := ""
	for range 10 {
		page, next, err := v.Responses(2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			got = append(got, r.PromptID)
			if r.Content != "c"+r.PromptID || r.Minted != (r.Interesting%2 == 0) || r.RewardMicros != events.Credits(int64(r.Interesting)) {
				t.Fatalf("response %+v", r)
			}
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{"p-f", "p-e", "p-d", "p-c", "p-b"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("responses %v; want %v", got, want)
	}
	for _, bad := range []string{"x", "0", "-1"} {
		if _, _, err := v.Responses(2, bad); !errors.Is(err, attention.ErrInvalidCursor) {
			t.Fatalf("cursor %q: %v", bad, err)
		}
	}
	if active, queue := v.Queue(); active != nil || len(queue) != 1 || queue[0].ID != "p-w" {
		t.Fatalf("queue: %v %v", active, queue)
	}
	if c := v.Counts(); c.Waiting != 1 || c.Activations != 5 || c.Responses != 5 {
		t.Fatalf("counts %+v", c)
	}
}

// TestSnapshotRestores: a view restored from its snapshot answers as the
// view it was taken of; a snapshot of another format is refused and
// changes nothing.
func TestSnapshotRestores(t *testing.T) {
	v := attention.New()
	answered(t, v, 3)
	var _ projections.Durable = v
	data, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back := attention.New()
	if err := back.Restore(data); err != nil {
		t.Fatal(err)
	}
	page, _, _ := v.Responses(10, "")
	again, _, _ := back.Responses(10, "")
	a1, q1 := v.Queue()
	a2, q2 := back.Queue()
	if !reflect.DeepEqual(page, again) || !reflect.DeepEqual(a1, a2) || !reflect.DeepEqual(q1, q2) || v.Counts() != back.Counts() {
		t.Fatalf("restored view differs:\n%+v %+v\n%+v %+v", page, q1, again, q2)
	}
	if err := back.Restore([]byte(`{"format":99}`)); err == nil {
		t.Fatal("a snapshot of another format restored")
	}
	if c := back.Counts(); c != v.Counts() {
		t.Fatalf("a refused snapshot changed the view: %+v", c)
	}
}
