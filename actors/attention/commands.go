package attention

import (
	"time"

	"github.com/agora-econ/agora/events"
)

// Command is a command of the slot: Decide takes nothing else, and the
// shell refuses any other (runtime.ErrWrongCommand).
type Command interface{ attentionCommand() }

func (Queue) attentionCommand()       {}
func (Raise) attentionCommand()       {}
func (Withdraw) attentionCommand()    {}
func (Activate) attentionCommand()    {}
func (Unpaid) attentionCommand()      {}
func (Answer) attentionCommand()      {}
func (Expire) attentionCommand()      {}
func (CancelAgent) attentionCommand() {}

// The commands the attention manager sends carry its trigger: the shell
// answers a redelivered one as already applied (events.Triggered).

func (c Queue) Triggered() events.Trigger       { return c.Trigger }
func (c Raise) Triggered() events.Trigger       { return c.Trigger }
func (c Activate) Triggered() events.Trigger    { return c.Trigger }
func (c Unpaid) Triggered() events.Trigger      { return c.Trigger }
func (c CancelAgent) Triggered() events.Trigger { return c.Trigger }

// Queue queues the prompt whose hold its agent's account placed (sent by
// the manager reacting to the hold).
type Queue struct {
	PromptID     string
	AgentID      string
	Content      string
	AmountMicros events.Micros
	PlacedAt     time.Time
	Trigger      events.Trigger
}

// Raise follows a raised hold.
type Raise struct {
	PromptID     string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

// Withdraw takes an agent's own waiting prompt out of the queue; its hold
// is then voided.
type Withdraw struct {
	PromptID string
	AgentID  string
}

// Activate puts the first waiting prompt in front of the human if the slot
// is free (sent by the manager after every change that may free it or fill
// the queue). At is the time of the event that obliged it.
type Activate struct {
	At      time.Time
	Trigger events.Trigger
}

// Unpaid drops the active prompt whose hold could not be paid (its agent
// died between the activation and the payment).
type Unpaid struct {
	PromptID string
	Trigger  events.Trigger
}

// Answer is the human's response to the active prompt. Skip answers it
// without scores and without a reward. Rates are the conversion rates of
// the economy when the human answered.
type Answer struct {
	PromptID string
	Scores   Scores
	Reason   string
	Skip     bool
	Rates    Rates
	At       time.Time
}

// Expire drops the prompts that have waited After or longer at At.
type Expire struct {
	At    time.Time
	After time.Duration
}

// CancelAgent drops a dead agent's waiting prompts. Its active prompt, if
// any, stays until the human responds (docs/decisions.md).
type CancelAgent struct {
	AgentID string
	Trigger events.Trigger
}
