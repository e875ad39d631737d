// Package attention is the read model of the attention slot (SPEC.md 1.5):
// the queue of waiting prompts, the active prompt and the past responses,
// served by GET /attention/queue (System Service and operator API), GET
// /attention/active and GET /attention/responses. It folds the slot's
// events with the slot's own Evolve (actors/attention), so that what it
// shows cannot drift from what the slot decides, and marks a response's
// reward minted when the agent's HumanRewarded arrives.
//
// What it keeps is bounded: the slot's own state (at most
// attention.QueueMax waiting prompts) and the last ResponsesKeptMax
// responses; older ones are in the log only.
package attention

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	slot "github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// ResponsesKeptMax is how many past responses the view keeps.
const ResponsesKeptMax = 1000

// ErrInvalidCursor rejects a cursor this view did not hand out.
var ErrInvalidCursor = errors.New("invalid responses cursor")

// Response is one past response of the human, with the prompt it
// answered.
type Response struct {
	PromptID       string        `json:"prompt_id"`
	AgentID        string        `json:"agent_id"`
	Content        string        `json:"content"`
	AmountMicros   events.Micros `json:"amount_micros"`
	Interesting    int           `json:"interesting"`
	Useful         int           `json:"useful"`
	Understandable int           `json:"understandable"`
	Reason         string        `json:"reason,omitempty"`
	Skipped        bool          `json:"skipped,omitempty"`
	RewardMicros   events.Micros `json:"reward_micros"`
	// Minted is set once the agent's account minted the reward (its
	// HumanRewarded); a reward to an agent dead by then is never minted.
	Minted      bool      `json:"minted,omitempty"`
	PlacedAt    time.Time `json:"placed_at"`
	ActivatedAt time.Time `json:"activated_at"`
	AnsweredAt  time.Time `json:"answered_at"`
	Seq         uint64    `json:"seq"`
}

// View is the slot's read model, served to readers while a
// projections.Runner applies records to it.
type View struct {
	mu        sync.RWMutex
	slot      slot.Slot
	responses []Response // oldest first
	lastSeq   uint64
}

// New returns an empty view.
func New() *View { return &View{slot: slot.New(events.SlotID)} }

// types are the event types the view folds.
var types = map[string]bool{
	events.PromptQueued{}.EventType(): true, events.PromptRaised{}.EventType(): true,
	events.PromptActivated{}.EventType(): true, events.PromptAnswered{}.EventType(): true,
	events.PromptsDropped{}.EventType(): true, events.HumanRewarded{}.EventType(): true,
}

// Apply folds one record. Records of other types are passed over without
// being decoded. A record the economy fold skips never reaches it (the
// runner's admission).
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastSeq = rec.Seq
	if !types[rec.Envelope.Type] {
		return nil
	}
	if err := events.Check(rec); err != nil {
		return err
	}
	kind, id, _ := events.ActorOf(rec)
	e, err := events.Read(rec)
	if err != nil {
		return err
	}
	switch kind {
	case events.KindAgent:
		if r, ok := e.(events.HumanRewarded); ok {
			for i := len(v.responses) - 1; i >= 0; i-- {
				if v.responses[i].PromptID == r.PromptID {
					v.responses[i].Minted = true
					break
				}
			}
		}
		return nil
	case events.KindAttention:
		if id != events.SlotID {
			return nil
		}
	default:
		return nil
	}
	if a, ok := e.(events.PromptAnswered); ok && v.slot.Active != nil && v.slot.Active.ID == a.PromptID {
		p := *v.slot.Active
		v.responses = append(v.responses, Response{PromptID: a.PromptID, AgentID: a.AgentID, Content: p.Content,
			AmountMicros: p.AmountMicros, Interesting: a.Interesting, Useful: a.Useful, Understandable: a.Understandable,
			Reason: a.Reason, Skipped: a.Skipped, RewardMicros: a.RewardMicros, PlacedAt: p.PlacedAt,
			ActivatedAt: p.ActivatedAt, AnsweredAt: a.AnsweredAt, Seq: rec.Seq})
		if n := len(v.responses) - ResponsesKeptMax; n > 0 {
			v.responses = append([]Response(nil), v.responses[n:]...)
		}
	}
	v.slot = slot.Evolve(v.slot, e)
	return nil
}

// Reset empties the view before a rebuild.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.slot, v.responses, v.lastSeq = slot.New(events.SlotID), nil, 0
}

// Queue returns the active prompt (nil when the slot is free) and the
// waiting ones in queue order: copies the caller may keep.
func (v *View) Queue() (*slot.Prompt, []slot.Prompt) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var active *slot.Prompt
	if v.slot.Active != nil {
		a := *v.slot.Active
		active = &a
	}
	return active, v.slot.Queue()
}

// Counts are the slot's figures: prompts waiting, activated and answered
// since the log began.
type Counts struct {
	Waiting     int    `json:"waiting"`
	Activations uint64 `json:"activations"`
	Responses   uint64 `json:"responses"`
}

// Counts returns the slot's figures.
func (v *View) Counts() Counts {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return Counts{Waiting: len(v.slot.Waiting), Activations: v.slot.Activations, Responses: v.slot.Responses}
}

// Response returns the kept response to prompt id.
func (v *View) Response(id string) (Response, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for i := len(v.responses) - 1; i >= 0; i-- {
		if v.responses[i].PromptID == id {
			return v.responses[i], true
		}
	}
	return Response{}, false
}

// Responses returns up to limit past responses, newest first, and the
// cursor of the next page ("" on the last). cursor is "" for the first
// page, else the next cursor of the page before.
func (v *View) Responses(limit int, cursor string) ([]Response, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("%w: limit %d", ErrInvalidCursor, limit)
	}
	before := uint64(0)
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil || n == 0 {
			return nil, "", fmt.Errorf("%w: %q", ErrInvalidCursor, cursor)
		}
		before = n
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := []Response{}
	for i := len(v.responses) - 1; i >= 0; i-- {
		r := v.responses[i]
		if before != 0 && r.Seq >= before {
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatUint(out[len(out)-1].Seq, 10), nil
		}
		out = append(out, r)
	}
	return out, "", nil
}

// snapshotFormat is the version of what Snapshot writes.
const snapshotFormat = 1

type snapshot struct {
	Kept      int        `json:"responses_kept_max"`
	LastSeq   uint64     `json:"last_seq"`
	Slot      slot.Slot  `json:"slot"`
	Responses []Response `json:"responses,omitempty"`
}

// Snapshot is the view as of the last record applied (projections.Durable).
func (v *View) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return projections.MarshalSnapshot(snapshotFormat, snapshot{Kept: ResponsesKeptMax, LastSeq: v.lastSeq, Slot: v.slot,
		Responses: v.responses})
}

// Restore replaces the view with the one a Snapshot holds; a snapshot of
// another format is refused (projections.ErrSnapshotFormat) and the view
// is unchanged.
func (v *View) Restore(data []byte) error {
	var s snapshot
	if err := projections.UnmarshalSnapshot(data, snapshotFormat, &s); err != nil {
		return err
	}
	if s.Kept != ResponsesKeptMax {
		return fmt.Errorf("%w: kept %d responses, this view keeps %d", projections.ErrSnapshotFormat, s.Kept, ResponsesKeptMax)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.slot, v.responses, v.lastSeq = s.Slot, s.Responses, s.LastSeq
	return nil
}
