package events

import "time"

// The events of the attention slot (SPEC.md 1.5), on
// events.attention.slot.<type>: one actor, the slot, queues the prompts
// whose credits an agent's account holds, activates one at a time and
// records the human's response. The money moves in the accounts, as a
// bid's does: a prompt is a hold (HoldPlaced with Prompt terms), paid
// (HoldPosted, burned) when it activates, voided when it leaves the queue
// otherwise; the reward is minted by the agent's HumanRewarded.

// SlotID is the id of the one attention slot.
const SlotID = "slot"

// PurposePrompt marks the hold of a prompt bid (its id is the prompt id).
const PurposePrompt = "prompt"

// PromptTerms are what a prompt's hold carries: the prompt's content, so
// that the slot queues exactly the prompt whose credits are reserved, even
// after a crash between the two.
type PromptTerms struct {
	Content string `json:"content"`
}

// PromptQueued puts a prompt in the slot's queue. Its credits are already
// held by the agent's account (the hold of the same id).
type PromptQueued struct {
	PromptID     string    `json:"prompt_id"`
	AgentID      string    `json:"agent_id"`
	Content      string    `json:"content"`
	AmountMicros Micros    `json:"amount_micros"`
	PlacedAt     time.Time `json:"placed_at"`
	Trigger      Trigger   `json:"trigger"`
}

// PromptRaised follows a raised hold: the prompt's new amount (the new
// total), which moves it in the queue.
type PromptRaised struct {
	PromptID     string  `json:"prompt_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Trigger      Trigger `json:"trigger"`
}

// PromptActivated puts the first waiting prompt in front of the human. The
// slot was free; the manager then pays the prompt's hold (burned) and
// leases the attention market's one unit.
type PromptActivated struct {
	PromptID     string    `json:"prompt_id"`
	AgentID      string    `json:"agent_id"`
	AmountMicros Micros    `json:"amount_micros"`
	ActivatedAt  time.Time `json:"activated_at"`
	Trigger      Trigger   `json:"trigger"`
}

// PromptAnswered is the human's response to the active prompt: three
// scores of 0 to 10, a reason, and the reward they earn (sum of score x
// rate, the rates of the response). Skipped is a response without scores
// and without a reward. The slot is free after it; the agent's account
// mints the reward (HumanRewarded) and the market's lease is released.
type PromptAnswered struct {
	PromptID       string    `json:"prompt_id"`
	AgentID        string    `json:"agent_id"`
	Interesting    int       `json:"interesting"`
	Useful         int       `json:"useful"`
	Understandable int       `json:"understandable"`
	Reason         string    `json:"reason,omitempty"`
	Skipped        bool      `json:"skipped,omitempty"`
	RewardMicros   Micros    `json:"reward_micros"`
	AnsweredAt     time.Time `json:"answered_at"`
}

// The reasons a prompt leaves the slot without a response.
const (
	DropWithdrawn = "withdrawn" // its agent withdrew it
	DropExpired   = "expired"   // it waited longer than prompt_expiry_seconds
	DropCancelled = "cancelled" // its agent died
	DropUnpaid    = "unpaid"    // it activated and its hold could not be paid
	DropRejected  = "rejected"  // the slot could not queue it
)

// DroppedPrompt is one prompt of a PromptsDropped.
type DroppedPrompt struct {
	PromptID     string `json:"prompt_id"`
	AgentID      string `json:"agent_id"`
	AmountMicros Micros `json:"amount_micros"`
}

// PromptsDropped takes prompts out of the slot without a response: for a
// waiting one the manager voids its hold (released); an unpaid active one
// frees the slot.
type PromptsDropped struct {
	Reason  string          `json:"reason"`
	Prompts []DroppedPrompt `json:"prompts"`
	At      time.Time       `json:"at,omitzero"`
	Trigger Trigger         `json:"trigger,omitzero"`
}

// HumanRewarded mints the human's reward for a prompt to its agent (an
// agent event): with AgentCreated's grant the only way credits come into
// existence.
type HumanRewarded struct {
	PromptID     string  `json:"prompt_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Trigger      Trigger `json:"trigger"`
}

func (PromptQueued) EventType() string    { return "prompt_queued" }
func (PromptRaised) EventType() string    { return "prompt_raised" }
func (PromptActivated) EventType() string { return "prompt_activated" }
func (PromptAnswered) EventType() string  { return "prompt_answered" }
func (PromptsDropped) EventType() string  { return "prompts_dropped" }
func (HumanRewarded) EventType() string   { return "human_rewarded" }

func (PromptQueued) EventSchema() int    { return 1 }
func (PromptRaised) EventSchema() int    { return 1 }
func (PromptActivated) EventSchema() int { return 1 }
func (PromptAnswered) EventSchema() int  { return 1 }
func (PromptsDropped) EventSchema() int  { return 1 }
func (HumanRewarded) EventSchema() int   { return 1 }

func (e PromptQueued) Triggered() Trigger    { return e.Trigger }
func (e PromptRaised) Triggered() Trigger    { return e.Trigger }
func (e PromptActivated) Triggered() Trigger { return e.Trigger }
func (e PromptsDropped) Triggered() Trigger  { return e.Trigger }
func (e HumanRewarded) Triggered() Trigger   { return e.Trigger }

func init() {
	register(PromptQueued{}, PromptRaised{}, PromptActivated{}, PromptAnswered{}, PromptsDropped{}, HumanRewarded{})
}
