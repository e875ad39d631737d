package attention

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/agora-econ/agora/events"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// rates50 are the default conversion rates: 50 credits per point.
var rates50 = Rates{Interesting: events.Credits(50), Useful: events.Credits(50), Understandable: events.Credits(50)}

// slot folds the given events from an empty slot, each admitted first.
func slot(t *testing.T, evs ...events.Event) Slot {
	t.Helper()
	s := New(events.SlotID)
	for _, e := range evs {
		if err := Admit(s, e); err != nil {
			t.Fatalf("given %T: %v", e, err)
		}
		s = Evolve(s, e)
	}
	return s
}

func queued(id, agentID string, credits int64, at time.Duration) events.PromptQueued {
	return events.PromptQueued{PromptID: id, AgentID: agentID, Content: "content of " + id, AmountMicros: events.Credits(credits),
		PlacedAt: t0.Add(at)}
}

func activated(id, agentID string, credits int64) events.PromptActivated {
	return events.PromptActivated{PromptID: id, AgentID: agentID, AmountMicros: events.Credits(credits), ActivatedAt: t0.Add(time.Hour)}
}

// TestDecide: each command of the slot, given a slot, yields its one
// event, nothing, or its typed rejection.
func TestDecide(t *testing.T) {
	tr := events.Trigger{Manager: ManagerName, Seq: 9}
	// Three waiting prompts: p-b outbids p-a; p-c bids as p-b, later.
	three := []events.Event{queued("p-a", "a", 50, 0), queued("p-b", "b", 60, time.Second), queued("p-c", "a", 60, 2*time.Second)}
	withActive := append([]events.Event{queued("p-x", "x", 80, 0), activated("p-x", "x", 80)}, three...)
	full := New(events.SlotID)
	full.Waiting = map[string]Prompt{}
	for i := range QueueMax {
		full.Waiting[events.NewID()] = Prompt{AmountMicros: events.Credits(int64(i + 1))}
	}
	tests := []struct {
		name  string
		given Slot
		cmd   Command
		want  events.Event
		err   error
	}{
		{"a prompt queued", slot(t), Queue{PromptID: "p-a", AgentID: "a", Content: "hi", AmountMicros: events.Credits(5), PlacedAt: t0, Trigger: tr},
			events.PromptQueued{PromptID: "p-a", AgentID: "a", Content: "hi", AmountMicros: events.Credits(5), PlacedAt: t0, Trigger: tr}, nil},
		{"a prompt queued again", slot(t, three...), Queue{PromptID: "p-a", AgentID: "a", Content: "hi", AmountMicros: 1, Trigger: tr}, nil, nil},
		{"the active prompt queued again", slot(t, withActive...), Queue{PromptID: "p-x", AgentID: "x", Content: "hi", AmountMicros: 1, Trigger: tr}, nil, nil},
		{"empty content rejected", slot(t), Queue{PromptID: "p-a", AgentID: "a", AmountMicros: 1, Trigger: tr},
			events.PromptsDropped{Reason: events.DropRejected, Prompts: []events.DroppedPrompt{{PromptID: "p-a", AgentID: "a", AmountMicros: 1}}, Trigger: tr}, nil},
		{"a full queue rejects", full, Queue{PromptID: "p-z", AgentID: "a", Content: "hi", AmountMicros: 1, Trigger: tr},
			events.PromptsDropped{Reason: events.DropRejected, Prompts: []events.DroppedPrompt{{PromptID: "p-z", AgentID: "a", AmountMicros: 1}}, Trigger: tr}, nil},
		{"a raise", slot(t, three...), Raise{PromptID: "p-a", AmountMicros: events.Credits(70), Trigger: tr},
			events.PromptRaised{PromptID: "p-a", AmountMicros: events.Credits(70), Trigger: tr}, nil},
		{"a raise not above", slot(t, three...), Raise{PromptID: "p-a", AmountMicros: events.Credits(50), Trigger: tr}, nil, nil},
		{"a raise of the active prompt", slot(t, withActive...), Raise{PromptID: "p-x", AmountMicros: events.Credits(99), Trigger: tr}, nil, nil},
		{"a withdrawal", slot(t, three...), Withdraw{PromptID: "p-b", AgentID: "b"},
			events.PromptsDropped{Reason: events.DropWithdrawn, Prompts: []events.DroppedPrompt{{PromptID: "p-b", AgentID: "b", AmountMicros: events.Credits(60)}}}, nil},
		{"a withdrawal of another's prompt", slot(t, three...), Withdraw{PromptID: "p-b", AgentID: "a"}, nil, ErrUnknownPrompt},
		{"a withdrawal of an unknown prompt", slot(t, three...), Withdraw{PromptID: "p-q", AgentID: "a"}, nil, ErrUnknownPrompt},
		{"a withdrawal of the active prompt", slot(t, withActive...), Withdraw{PromptID: "p-x", AgentID: "x"}, nil, ErrPromptActive},
		{"another's active prompt is unknown to the caller", slot(t, withActive...), Withdraw{PromptID: "p-x", AgentID: "a"}, nil, ErrUnknownPrompt},
		{"the first activates: amount, then time", slot(t, three...), Activate{At: t0, Trigger: tr},
			events.PromptActivated{PromptID: "p-b", AgentID: "b", AmountMicros: events.Credits(60), ActivatedAt: t0, Trigger: tr}, nil},
		{"nothing activates while one is active", slot(t, withActive...), Activate{At: t0, Trigger: tr}, nil, nil},
		{"nothing activates from an empty queue", slot(t), Activate{At: t0, Trigger: tr}, nil, nil},
		{"an unpaid active prompt dropped", slot(t, withActive...), Unpaid{PromptID: "p-x", Trigger: tr},
			events.PromptsDropped{Reason: events.DropUnpaid, Prompts: []events.DroppedPrompt{{PromptID: "p-x", AgentID: "x", AmountMicros: events.Credits(80)}}, Trigger: tr}, nil},
		{"unpaid, but not active", slot(t, withActive...), Unpaid{PromptID: "p-a", Trigger: tr}, nil, nil},
		{"a response", slot(t, withActive...), Answer{PromptID: "p-x", Scores: Scores{7, 5, 9}, Reason: "ok", Rates: rates50, At: t0},
			events.PromptAnswered{PromptID: "p-x", AgentID: "x", Interesting: 7, Useful: 5, Understandable: 9, Reason: "ok",
				RewardMicros: events.Credits(1050), AnsweredAt: t0}, nil},
		{"a skip: no scores, no reward", slot(t, withActive...), Answer{PromptID: "p-x", Scores: Scores{9, 9, 9}, Skip: true, Rates: rates50, At: t0},
			events.PromptAnswered{PromptID: "p-x", AgentID: "x", Skipped: true, AnsweredAt: t0}, nil},
		{"a response to a waiting prompt", slot(t, withActive...), Answer{PromptID: "p-a", Rates: rates50}, nil, ErrNotActive},
		{"a second response", slot(t, append(withActive, events.PromptAnswered{PromptID: "p-x", AgentID: "x"})...),
			Answer{PromptID: "p-x", Rates: rates50}, nil, ErrNotActive},
		{"a score of 11", slot(t, withActive...), Answer{PromptID: "p-x", Scores: Scores{11, 0, 0}, Rates: rates50}, nil, ErrInvalidResponse},
		{"a score of -1", slot(t, withActive...), Answer{PromptID: "p-x", Scores: Scores{0, -1, 0}, Rates: rates50}, nil, ErrInvalidResponse},
		{"a reason too long", slot(t, withActive...), Answer{PromptID: "p-x", Reason: string(make([]byte, ReasonBytesMax+1)), Rates: rates50}, nil, ErrInvalidResponse},
		{"expiry: the old ones go", slot(t, three...), Expire{At: t0.Add(2 * time.Second), After: 2 * time.Second},
			events.PromptsDropped{Reason: events.DropExpired, At: t0.Add(2 * time.Second), Prompts: []events.DroppedPrompt{
				{PromptID: "p-a", AgentID: "a", AmountMicros: events.Credits(50)}}}, nil},
		{"expiry: the active prompt never expires", slot(t, withActive...), Expire{At: t0.Add(time.Hour + 2*time.Second), After: time.Hour},
			events.PromptsDropped{Reason: events.DropExpired, At: t0.Add(time.Hour + 2*time.Second), Prompts: []events.DroppedPrompt{
				{PromptID: "p-b", AgentID: "b", AmountMicros: events.Credits(60)}, {PromptID: "p-c", AgentID: "a", AmountMicros: events.Credits(60)},
				{PromptID: "p-a", AgentID: "a", AmountMicros: events.Credits(50)}}}, nil},
		{"expiry 0: never", slot(t, three...), Expire{At: t0.Add(1000 * time.Hour)}, nil, nil},
		{"expiry: nothing old enough", slot(t, three...), Expire{At: t0.Add(time.Second), After: time.Hour}, nil, nil},
		{"a dead agent's waiting prompts cancelled", slot(t, withActive...), CancelAgent{AgentID: "a", Trigger: tr},
			events.PromptsDropped{Reason: events.DropCancelled, Trigger: tr, Prompts: []events.DroppedPrompt{
				{PromptID: "p-c", AgentID: "a", AmountMicros: events.Credits(60)}, {PromptID: "p-a", AgentID: "a", AmountMicros: events.Credits(50)}}}, nil},
		{"a dead agent's active prompt stays", slot(t, withActive...), CancelAgent{AgentID: "x", Trigger: tr}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.given, tt.cmd)
			if tt.err != nil {
				if !errors.Is(err, tt.err) || got != nil {
					t.Fatalf("Decide = %#v, %v; want the rejection %v", got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decide = %#v, %v\nwant %#v", got, err, tt.want)
			}
			if got != nil {
				if err := Admit(tt.given, got); err != nil {
					t.Fatalf("the slot decided an event its Admit refuses: %v", err)
				}
			}
		})
	}
}

// TestReward: sum(score x rate), exact in micro-credits, with fractional
// rates too; a reward beyond the largest amount is refused.
func TestReward(t *testing.T) {
	r, ok := Reward(Scores{10, 3, 1}, Rates{Interesting: 1, Useful: 333_333, Understandable: events.Credits(1)})
	if want := events.Micros(10*1 + 3*333_333 + 1_000_000); !ok || r != want {
		t.Fatalf("Reward = %s, %v; want %s", r, ok, want)
	}
	if _, ok := Reward(Scores{10, 10, 10}, Rates{Interesting: events.AmountMax / 10, Useful: events.AmountMax / 10}); ok {
		t.Fatal("a reward above the largest amount was accepted")
	}
}

// TestAdmit: events the slot would never decide are refused on recovery.
func TestAdmit(t *testing.T) {
	withActive := []events.Event{queued("p-x", "x", 80, 0), activated("p-x", "x", 80), queued("p-a", "a", 50, 0)}
	tests := []struct {
		name  string
		given Slot
		event events.Event
	}{
		{"two prompts active", slot(t, withActive...), activated("p-a", "a", 50)},
		{"a prompt activated that does not wait", slot(t), activated("p-a", "a", 50)},
		{"activated for another amount", slot(t, queued("p-a", "a", 50, 0)), activated("p-a", "a", 60)},
		{"a response to a waiting prompt", slot(t, withActive...), events.PromptAnswered{PromptID: "p-a", AgentID: "a"}},
		{"a score out of range", slot(t, withActive...), events.PromptAnswered{PromptID: "p-x", AgentID: "x", Useful: 11}},
		{"a prompt queued twice", slot(t, withActive...), queued("p-a", "a", 50, 0)},
		{"the active prompt queued again", slot(t, withActive...), queued("p-x", "x", 80, 0)},
		{"a raise not above", slot(t, withActive...), events.PromptRaised{PromptID: "p-a", AmountMicros: events.Credits(50)}},
		{"a drop of a prompt not in the slot", slot(t, withActive...), events.PromptsDropped{Reason: events.DropExpired,
			Prompts: []events.DroppedPrompt{{PromptID: "p-q"}}}},
		{"the active prompt expired", slot(t, withActive...), events.PromptsDropped{Reason: events.DropExpired,
			Prompts: []events.DroppedPrompt{{PromptID: "p-x"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Admit(tt.given, tt.event); !errors.Is(err, ErrInadmissible) {
				t.Fatalf("Admit = %v; want ErrInadmissible", err)
			}
		})
	}
}

// TestSlotProperties drives random commands through Decide and Evolve
// (each prompt queued under a fresh id, as the service names them):
// every event decided is admitted, at most one prompt is ever active,
// each prompt activates at most once and is answered at most once, and
// the active prompt is the first of the queue when it activated.
func TestSlotProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := New(events.SlotID)
		ids := []string{"p-0"} // the ids queued so far, and one never queued
		agents := []string{"a", "b"}
		activatedOnce, answeredOnce := map[string]bool{}, map[string]bool{}
		for i := range rapid.IntRange(1, 60).Draw(t, "steps") {
			at := t0.Add(time.Duration(i) * time.Second)
			tr := events.Trigger{Manager: ManagerName, Seq: uint64(i + 1)}
			var cmd Command
			switch rapid.IntRange(0, 7).Draw(t, "command") {
			case 0:
				ids = append(ids, fmt.Sprintf("p-%d", i+1))
				cmd = Queue{PromptID: ids[len(ids)-1], AgentID: rapid.SampledFrom(agents).Draw(t, "agent"),
					Content: "c", AmountMicros: events.Credits(rapid.Int64Range(1, 5).Draw(t, "amount")), PlacedAt: at, Trigger: tr}
			case 1:
				cmd = Raise{PromptID: rapid.SampledFrom(ids).Draw(t, "id"), AmountMicros: events.Credits(rapid.Int64Range(1, 9).Draw(t, "amount")), Trigger: tr}
			case 2:
				cmd = Withdraw{PromptID: rapid.SampledFrom(ids).Draw(t, "id"), AgentID: rapid.SampledFrom(agents).Draw(t, "agent")}
			case 3:
				cmd = Activate{At: at, Trigger: tr}
			case 4:
				cmd = Answer{PromptID: rapid.SampledFrom(ids).Draw(t, "id"), Scores: Scores{rapid.IntRange(-1, 11).Draw(t, "i"), 3, 4},
					Skip: rapid.Bool().Draw(t, "skip"), Rates: rates50, At: at}
			case 5:
				cmd = Expire{At: at, After: time.Duration(rapid.IntRange(0, 10).Draw(t, "after")) * time.Second}
			case 6:
				cmd = CancelAgent{AgentID: rapid.SampledFrom(agents).Draw(t, "agent"), Trigger: tr}
			default:
				cmd = Unpaid{PromptID: rapid.SampledFrom(ids).Draw(t, "id"), Trigger: tr}
			}
			e, err := Decide(s, cmd)
			if err != nil || e == nil {
				continue
			}
			if err := Admit(s, e); err != nil {
				t.Fatalf("%T decided %#v, which Admit refuses: %v", cmd, e, err)
			}
			switch e := e.(type) {
			case events.PromptActivated:
				if s.Active != nil || activatedOnce[e.PromptID] || s.Queue()[0].ID != e.PromptID {
					t.Fatalf("activation of %s: active %v, once %v, queue %v", e.PromptID, s.Active, activatedOnce[e.PromptID], s.Queue())
				}
				activatedOnce[e.PromptID] = true
			case events.PromptAnswered:
				if answeredOnce[e.PromptID] {
					t.Fatalf("%s answered twice", e.PromptID)
				}
				answeredOnce[e.PromptID] = true
			}
			s = Evolve(s, e)
			if s.Active != nil {
				if _, waiting := s.Waiting[s.Active.ID]; waiting {
					t.Fatalf("%s is active and waiting", s.Active.ID)
				}
			}
		}
	})
}
