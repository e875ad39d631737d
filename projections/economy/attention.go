package economy

import (
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
)

// The attention slot in the fold (SPEC.md 4, invariant 5): at most one
// prompt is active, and each prompt is rewarded at most once, for what
// the human's response says it earned, to the agent it belongs to. A
// prompt's money is checked as a bid's is: the slot queues only what an
// account holds as a prompt, a prompt's hold is paid only once it is
// activated and for its activation's amount, and the reward is minted
// (counted with the grants in conservation).

// attentionLedger is what the fold keeps of the slot: the slot itself,
// folded with its own Evolve, and the prompts whose money is still owed
// by the managers or settled already.
type attentionLedger struct {
	Slot attention.Slot `json:"slot"`
	// Activated are prompts activated whose hold is not yet paid (or
	// refused): id -> the activation.
	Activated map[string]promptMoney `json:"activated,omitempty"`
	// Answered are responses with a reward not yet minted: id -> the
	// response's agent and reward. A reward to an agent dead by then is
	// never minted and stays here.
	Answered map[string]promptMoney `json:"answered,omitempty"`
	// Rewarded are the prompts whose reward was minted.
	Rewarded map[string]struct{} `json:"rewarded,omitempty"`
	// RewardedMicros is every reward minted.
	RewardedMicros events.Micros `json:"rewarded_micros,omitempty"`
	// Unleased are prompts activated whose attention unit is not yet
	// leased. The manager pays a prompt and leases it the unit at once, to
	// two actors: the payment may be refused and the prompt dropped
	// unpaid (or the human may answer) before the lease is written, so a
	// lease is checked against its activation, not against the prompt
	// active when it lands.
	Unleased map[string]struct{} `json:"unleased,omitempty"`
}

type promptMoney struct {
	Agent  string        `json:"agent"`
	Amount events.Micros `json:"amount"`
}

func newAttentionLedger() *attentionLedger {
	return &attentionLedger{Slot: attention.New(events.SlotID), Activated: map[string]promptMoney{},
		Answered: map[string]promptMoney{}, Rewarded: map[string]struct{}{}, Unleased: map[string]struct{}{}}
}

func (l *attentionLedger) init() {
	if l.Activated == nil {
		l.Activated = map[string]promptMoney{}
	}
	if l.Answered == nil {
		l.Answered = map[string]promptMoney{}
	}
	if l.Rewarded == nil {
		l.Rewarded = map[string]struct{}{}
	}
	if l.Unleased == nil {
		l.Unleased = map[string]struct{}{}
	}
}

func isPromptHold(id string) bool { return strings.HasPrefix(id, attention.PromptIDPrefix) }

// applyAttention checks and folds one event of the slot.
func (e *Economy) applyAttention(id string, ev events.Event, v violationFunc) error {
	l := e.attention
	if id != events.SlotID {
		return v("one attention slot", "event %s on attention actor %q", ev.EventType(), id)
	}
	var err error
	switch ev := ev.(type) {
	case events.PromptQueued:
		a := e.Accounts[ev.AgentID]
		_, open := a.Holds[ev.PromptID]
		_, resolved := e.holdsResolved[ev.AgentID+"/"+ev.PromptID]
		if !open && !resolved {
			err = v("prompts queue what accounts hold", "prompt %s queued for %s, which never held it", ev.PromptID, ev.AgentID)
		}
	case events.PromptActivated:
		if l.Slot.Active != nil {
			err = v("at most one prompt active", "prompt %s activated while %s is active", ev.PromptID, l.Slot.Active.ID)
		}
		l.Activated[ev.PromptID] = promptMoney{Agent: ev.AgentID, Amount: ev.AmountMicros}
		l.Unleased[ev.PromptID] = struct{}{}
	case events.PromptAnswered:
		if l.Slot.Active == nil || l.Slot.Active.ID != ev.PromptID {
			err = v("each prompt answered once, while active", "response to prompt %s, which is not active", ev.PromptID)
		} else if ev.RewardMicros > 0 {
			l.Answered[ev.PromptID] = promptMoney{Agent: ev.AgentID, Amount: ev.RewardMicros}
		}
	}
	l.Slot = attention.Evolve(l.Slot, ev)
	return err
}

// checkPromptMoney checks what an account's event does with a prompt's
// money: a prompt's hold paid only after its activation, for its amount;
// a reward minted once, as the response said.
func (e *Economy) checkPromptMoney(a agent.Account, ev events.Event, v violationFunc) error {
	l := e.attention
	switch ev := ev.(type) {
	case events.HoldPosted:
		if !isPromptHold(ev.HoldID) {
			return nil
		}
		act, ok := l.Activated[ev.HoldID]
		switch {
		case !ok:
			return v("prompts paid once, when activated", "hold of prompt %s posted, which is not awaiting its payment", ev.HoldID)
		case act.Agent != a.ID || act.Amount != ev.AmountMicros:
			return v("prompts paid their amount", "prompt %s activated for %s by %s, paid %s by %s", ev.HoldID, act.Amount, act.Agent,
				ev.AmountMicros, a.ID)
		}
	case events.HumanRewarded:
		if _, done := l.Rewarded[ev.PromptID]; done {
			return v("each prompt rewarded at most once", "prompt %s rewarded again, to %s", ev.PromptID, a.ID)
		}
		ans, ok := l.Answered[ev.PromptID]
		switch {
		case !ok:
			return v("rewards are the human's", "reward for prompt %s, which no response earned", ev.PromptID)
		case ans.Agent != a.ID || ans.Amount != ev.AmountMicros:
			return v("rewards are the human's", "prompt %s of %s earned %s; %s minted to %s", ev.PromptID, ans.Agent, ans.Amount,
				ev.AmountMicros, a.ID)
		}
	}
	return nil
}

// foldPromptMoney folds an account's event into the ledger and the
// totals: a reward is minted.
func (e *Economy) foldPromptMoney(ev events.Event) {
	l := e.attention
	switch ev := ev.(type) {
	case events.HoldPosted:
		delete(l.Activated, ev.HoldID)
	case events.PaymentRefused:
		delete(l.Activated, ev.HoldID)
	case events.HumanRewarded:
		e.MintedMicros += ev.AmountMicros
		l.RewardedMicros += ev.AmountMicros
		delete(l.Answered, ev.PromptID)
		l.Rewarded[ev.PromptID] = struct{}{}
	}
}

// applyAttentionMarket checks and folds what a market does outside the
// clearing's cycles (ok false for anything else): a lease granted, only
// in the attention market, once to each prompt activated (it may land
// after the prompt left the slot; see attentionLedger.Unleased); and the
// attention market's own price move (a market_cleared without trigger,
// leases or releases).
func (e *Economy) applyAttentionMarket(resource string, ev events.Event, v violationFunc) (error, bool) {
	var err error
	switch ev := ev.(type) {
	case events.LeaseGranted:
		_, due := e.attention.Unleased[ev.ExecutionID]
		if resource != attention.Resource || !due {
			err = v("attention leased once to each prompt activated", "market %s leases %s to %s, which awaits no lease", resource,
				ev.Units, ev.ExecutionID)
		}
		delete(e.attention.Unleased, ev.ExecutionID)
	case events.MarketCleared:
		if resource != attention.Resource || ev.Trigger.Manager == clearing.ManagerName {
			return nil, false
		}
		if ev.Trigger.Seq != 0 || len(ev.Granted) > 0 || len(ev.Released) > 0 {
			err = v("markets record the clearing's cycles", "market %s clears leases with trigger %+v, not the clearing's", resource, ev.Trigger)
		}
	default:
		return nil, false
	}
	m, ok := e.Markets[resource]
	if !ok {
		m = market.New(resource)
	}
	after := market.Evolve(m, ev)
	e.Markets[resource] = after
	if err != nil {
		return err, true
	}
	return checkMarketAfter(after, ev, v), true
}

// AttentionSummary is the slot's headline.
type AttentionSummary struct {
	Waiting     int    `json:"waiting"`
	Active      int    `json:"active"`
	Activations uint64 `json:"activations"`
	Responses   uint64 `json:"responses"`
	// RewardedMicros is every reward minted; UnpaidPrompts and
	// UnmintedRewards what the manager still owes (an unminted reward of
	// an agent that died stays: it is never minted).
	RewardedMicros  events.Micros `json:"rewarded_micros"`
	UnpaidPrompts   int           `json:"unpaid_prompts"`
	UnmintedRewards int           `json:"unminted_rewards"`
}

func (e *Economy) attentionSummary() AttentionSummary {
	l := e.attention
	s := AttentionSummary{Waiting: len(l.Slot.Waiting), Activations: l.Slot.Activations, Responses: l.Slot.Responses,
		RewardedMicros: l.RewardedMicros, UnpaidPrompts: len(l.Activated), UnmintedRewards: len(l.Answered)}
	if l.Slot.Active != nil {
		s.Active = 1
	}
	return s
}
