// Package attention is the attention slot (SPEC.md 1.5): one actor, the
// slot, with the queue of waiting prompts and at most one active prompt,
// in front of the human. Decide, Evolve and Admit are pure (no clock, no
// IO): time comes in the commands. The money is the accounts': a prompt
// is a hold on its agent's account, placed before the slot queues it,
// paid when it activates and voided when it leaves the queue otherwise;
// the manager (manager.go) carries the work between the accounts, the
// slot and the attention market.
package attention

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/agora-econ/agora/events"
)

// PromptBytesMax is the most bytes a prompt's content may hold.
const PromptBytesMax = 16 << 10

// ReasonBytesMax is the most bytes the human's reason may hold.
const ReasonBytesMax = 4 << 10

// QueueMax is the most prompts that may wait at once: a bound on the
// slot's state (and snapshot), far above what a human reads.
const QueueMax = 10_000

// ScoreMax is the highest score of each dimension (0 to ScoreMax).
const ScoreMax = 10

// PromptIDPrefix starts every prompt id (and so its hold id), which tells
// the manager which holds are prompts.
const PromptIDPrefix = "p-"

// Rejections of the slot.
var (
	// ErrUnknownPrompt: no such prompt waits or is active (or it is not
	// the caller's).
	ErrUnknownPrompt = errors.New("unknown prompt")
	// ErrPromptActive: the prompt is in front of the human; it can no
	// longer be withdrawn.
	ErrPromptActive = errors.New("prompt is active")
	// ErrNotActive: the response names a prompt that is not the active one
	// (answered already, or still waiting, or gone).
	ErrNotActive = errors.New("prompt is not the active prompt")
	// ErrInvalidPrompt: empty, too long or not UTF-8 content.
	ErrInvalidPrompt = errors.New("invalid prompt")
	// ErrInvalidResponse: scores outside 0 to 10, a reason too long.
	ErrInvalidResponse = errors.New("invalid response")
	// ErrQueueFull: QueueMax prompts wait already.
	ErrQueueFull = errors.New("attention queue is full")
	// ErrUnknownCommand: a message the slot does not understand.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrInadmissible is what Admit wraps: the event would break the
	// slot's invariants (two prompts active, a response to a prompt not
	// active), so every follower skips it.
	ErrInadmissible = errors.New("event breaks the slot's invariants")
)

// Prompt is one prompt in the slot: waiting, or active.
type Prompt struct {
	ID           string        `json:"id"`
	AgentID      string        `json:"agent_id"`
	Content      string        `json:"content"`
	AmountMicros events.Micros `json:"amount_micros"`
	PlacedAt     time.Time     `json:"placed_at"`
	ActivatedAt  time.Time     `json:"activated_at,omitzero"`
}

// Slot is the state of the slot: nothing but the fold of its events.
// Answered prompts leave it (the read model keeps them), so a response
// to one finds it no longer active, and the state stays bounded.
type Slot struct {
	Waiting map[string]Prompt `json:"waiting,omitempty"`
	Active  *Prompt           `json:"active,omitempty"`
	// Activations and Responses count the prompts ever activated and
	// answered.
	Activations uint64 `json:"activations,omitempty"`
	Responses   uint64 `json:"responses,omitempty"`
}

// New is the slot before its first event.
func New(string) Slot { return Slot{} }

// Order is the queue's order: amount (highest first), then time placed,
// then id, so that the same log always yields the same order.
func Order(x, y Prompt) int {
	if c := cmp.Compare(y.AmountMicros, x.AmountMicros); c != 0 {
		return c
	}
	if c := x.PlacedAt.Compare(y.PlacedAt); c != 0 {
		return c
	}
	return cmp.Compare(x.ID, y.ID)
}

// Queue is the waiting prompts in queue order.
func (s Slot) Queue() []Prompt {
	q := slices.Collect(maps.Values(s.Waiting))
	slices.SortFunc(q, Order)
	return q
}

// Position is the 1-based place of a waiting prompt in the queue (0 for
// the active prompt, -1 for none).
func (s Slot) Position(id string) int {
	if s.Active != nil && s.Active.ID == id {
		return 0
	}
	p, ok := s.Waiting[id]
	if !ok {
		return -1
	}
	n := 1
	for _, w := range s.Waiting {
		if Order(w, p) < 0 {
			n++
		}
	}
	return n
}

// Scores are the human's three scores of a prompt.
type Scores struct {
	Interesting    int
	Useful         int
	Understandable int
}

// Rates are the credits (micro-credits) minted per point of each score
// (economy.attention_conversion_rates).
type Rates struct {
	Interesting    events.Micros
	Useful         events.Micros
	Understandable events.Micros
}

// Reward is sum(score x rate), exact in micro-credits; false when it
// would pass events.AmountMax.
func Reward(s Scores, r Rates) (events.Micros, bool) {
	var total events.Micros
	for _, t := range [][2]int64{{int64(s.Interesting), int64(r.Interesting)}, {int64(s.Useful), int64(r.Useful)},
		{int64(s.Understandable), int64(r.Understandable)}} {
		if t[0] < 0 || t[1] < 0 || t[0] > ScoreMax || t[1] > int64(events.AmountMax)/ScoreMax {
			return 0, false
		}
		total += events.Micros(t[0] * t[1])
	}
	return total, total <= events.AmountMax
}

// ValidateContent checks a prompt's content: non-empty UTF-8 of at most
// PromptBytesMax bytes, without NUL.
func ValidateContent(content string) error {
	switch {
	case content == "":
		return fmt.Errorf("%w: empty content", ErrInvalidPrompt)
	case len(content) > PromptBytesMax:
		return fmt.Errorf("%w: content of %d bytes, at most %d", ErrInvalidPrompt, len(content), PromptBytesMax)
	case !utf8.ValidString(content):
		return fmt.Errorf("%w: content is not UTF-8", ErrInvalidPrompt)
	}
	return nil
}

// ValidateResponse checks the human's scores (0 to 10 each) and reason
// (UTF-8, at most ReasonBytesMax bytes).
func ValidateResponse(s Scores, reason string) error {
	for name, v := range map[string]int{"interesting": s.Interesting, "useful": s.Useful, "understandable": s.Understandable} {
		if v < 0 || v > ScoreMax {
			return fmt.Errorf("%w: %s is %d, want 0 to %d", ErrInvalidResponse, name, v, ScoreMax)
		}
	}
	if len(reason) > ReasonBytesMax || !utf8.ValidString(reason) {
		return fmt.Errorf("%w: the reason must be UTF-8 of at most %d bytes", ErrInvalidResponse, ReasonBytesMax)
	}
	return nil
}
