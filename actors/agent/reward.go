package agent

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// Reward mints the human's reward for a prompt to this agent (sent by the
// attention manager reacting to the slot's PromptAnswered). It carries the
// manager's trigger, required: the shell answers a redelivery from its
// marks, so a response mints at most once.
//
// An agent that died before the human responded receives nothing: a dead
// agent never receives credits again (SPEC.md 4, invariant 6), and the
// reward is not minted at all rather than minted and burned. The same
// holds for a reward that would carry the balance past events.AmountMax.
// Either way the account writes no event, and the slot's PromptAnswered
// keeps what the scores were worth.
type Reward struct {
	PromptID     string
	AmountMicros events.Micros
	Trigger      events.Trigger
}

func (Reward) agentCommand() {}

func (c Reward) Triggered() events.Trigger { return c.Trigger }

func decideReward(a Account, c Reward) (events.Event, error) {
	if c.Trigger.Seq == 0 || c.Trigger.Manager == "" {
		return nil, fmt.Errorf("%w: Reward %s", ErrMissingTrigger, c.PromptID)
	}
	if err := events.ValidateID(c.PromptID); err != nil {
		return nil, err
	}
	if err := events.ValidatePositive(c.AmountMicros); err != nil {
		return nil, err
	}
	if a.Status == StatusDead || a.BalanceMicros > events.AmountMax-c.AmountMicros {
		return nil, nil // nothing is minted (see Reward)
	}
	return events.HumanRewarded{PromptID: c.PromptID, AmountMicros: c.AmountMicros, Trigger: c.Trigger}, nil
}
