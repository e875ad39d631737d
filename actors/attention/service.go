package attention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Status of a prompt as the APIs report it.
const (
	StatusWaiting  = "waiting"
	StatusActive   = "active"
	StatusRejected = "rejected"
	// StatusGone: the prompt left the slot before the answer was read
	// (answered, dropped); the read model tells which.
	StatusGone = "gone"
)

// ErrBelowReserve: a prompt's amount is below the attention market's
// posted price.
var ErrBelowReserve = errors.New("amount below the attention price")

// Rules are the economy's rules of the slot.
type Rules struct {
	// Rates are the credits minted per point of each score.
	Rates Rates
	// Expiry is how long a prompt may wait (0: forever).
	Expiry time.Duration
	// Price moves the attention market's price at every tick.
	Price events.PriceRules
}

// Service is the front door to the slot for the rest of the system: the
// System Service's prompts, the operator's responses, the schedule's
// ticks.
type Service struct {
	host     *runtime.Host
	accounts *agent.Accounts
	manager  *runtime.ManagerRunner
	rules    Rules
}

// NewService registers the slot on host (the market actor is the
// clearing's). manager is the runner of Manager(); the service waits on it
// so that a call returns once its effects in other actors are applied.
func NewService(host *runtime.Host, accounts *agent.Accounts, manager *runtime.ManagerRunner, rules Rules) (*Service, error) {
	if host == nil || accounts == nil || manager == nil {
		return nil, errors.New("attention: nil host, accounts or manager")
	}
	runtime.Register(host, Aggregate())
	return &Service{host: host, accounts: accounts, manager: manager, rules: rules}, nil
}

// Rules are the rules the service applies.
func (s *Service) Rules() Rules { return s.rules }

func (s *Service) inspect(ctx context.Context, fn func(Slot) error) error {
	invalid, err := runtime.Inspect(ctx, s.host, events.KindAttention, events.SlotID, fn)
	if err != nil {
		return err
	}
	return invalid
}

// Place places agentID's prompt: its content and amount are checked first
// (a bad prompt changes nothing), then the agent's hold is placed,
// carrying the content, and the slot queues the prompt from it. It
// returns once the slot has decided, and a prompt the free slot shows at
// once is active and paid: the prompt's id, status and position (1 first
// in the queue, 0 active).
func (s *Service) Place(ctx context.Context, agentID, key, content string, amount events.Micros) (string, string, int, error) {
	if res, ok, err := s.accounts.Recall(ctx, agentID, key); err != nil {
		return "", "", 0, err
	} else if placed, isHold := res.Event.(events.HoldPlaced); ok && isHold && placed.Purpose == events.PurposePrompt {
		return s.settled(ctx, res.Seq, placed.HoldID)
	}
	if err := ValidateContent(content); err != nil {
		return "", "", 0, err
	}
	if err := events.ValidatePositive(amount); err != nil {
		return "", "", 0, err
	}
	price, err := runtime.Inspect(ctx, s.host, events.KindMarket, Resource, func(m market.Market) events.Micros { return m.PriceMicros })
	if err != nil {
		return "", "", 0, err
	}
	if amount < price {
		return "", "", 0, fmt.Errorf("%w: %s offered, the attention price is %s", ErrBelowReserve, amount, price)
	}
	if err := s.inspect(ctx, func(sl Slot) error {
		if len(sl.Waiting) >= QueueMax {
			return fmt.Errorf("%w: %d prompts wait", ErrQueueFull, QueueMax)
		}
		return nil
	}); err != nil {
		return "", "", 0, err
	}
	id := PromptIDPrefix + events.NewID()
	res, err := s.accounts.Do(ctx, agentID, key, agent.PlaceHold{HoldID: id, AmountMicros: amount, Purpose: events.PurposePrompt,
		Prompt: &events.PromptTerms{Content: content}})
	if err != nil {
		return "", "", 0, err
	}
	if placed, ok := res.Event.(events.HoldPlaced); ok {
		id = placed.HoldID // a retry answers with the first prompt
	}
	return s.settled(ctx, res.Seq, id)
}

// settled waits until the manager has carried the prompt of the hold
// written at seq as far as it goes at once, then reports the prompt's
// status and position. The reaction to the hold queues the prompt; the
// reaction to the queued prompt activates it when the slot is free; the
// reaction to the activation pays its bid and leases the attention unit.
// Each link's record is appended by the one before, after the hold's: so
// settled waits for the hold's reactions, then twice for the manager to
// catch up with what the log holds. Waiting for the hold's alone answered
// "waiting" for a prompt the slot was about to show, and a tick right
// after it found the unit not yet leased and lowered the price.
func (s *Service) settled(ctx context.Context, seq uint64, id string) (string, string, int, error) {
	if seq > 0 {
		if err := s.manager.WaitFloor(ctx, seq); err != nil {
			return "", "", 0, err
		}
		for range 2 {
			if err := s.manager.WaitCaughtUp(ctx); err != nil {
				return "", "", 0, err
			}
		}
	}
	type answer struct {
		status string
		pos    int
	}
	a, err := runtime.Inspect(ctx, s.host, events.KindAttention, events.SlotID, func(sl Slot) answer {
		switch p := sl.Position(id); {
		case p == 0:
			return answer{StatusActive, 0}
		case p > 0:
			return answer{StatusWaiting, p}
		}
		return answer{StatusGone, 0}
	})
	return id, a.status, a.pos, err
}

// Raise raises agentID's waiting prompt to amount (the hold grows first).
func (s *Service) Raise(ctx context.Context, agentID, key, promptID string, amount events.Micros) (string, int, error) {
	if res, ok, err := s.accounts.Recall(ctx, agentID, key); err != nil {
		return "", 0, err
	} else if raised, isRaise := res.Event.(events.HoldIncreased); ok && isRaise {
		_, st, pos, err := s.settled(ctx, res.Seq, raised.HoldID)
		return st, pos, err
	}
	if err := events.ValidatePositive(amount); err != nil {
		return "", 0, err
	}
	if err := s.inspect(ctx, func(sl Slot) error {
		if sl.Active != nil && sl.Active.ID == promptID && sl.Active.AgentID == agentID {
			return fmt.Errorf("%w: %s is in front of the human", ErrPromptActive, promptID)
		}
		p, ok := sl.Waiting[promptID]
		switch {
		case !ok || p.AgentID != agentID:
			return fmt.Errorf("%w: %s", ErrUnknownPrompt, promptID)
		case amount <= p.AmountMicros:
			return fmt.Errorf("%w: %s holds %s", agent.ErrAmountNotRaised, promptID, p.AmountMicros)
		}
		return nil
	}); err != nil {
		return "", 0, err
	}
	res, err := s.accounts.Do(ctx, agentID, key, agent.IncreaseHold{HoldID: promptID, AmountMicros: amount})
	if err != nil {
		return "", 0, err
	}
	_, st, pos, err := s.settled(ctx, res.Seq, promptID)
	return st, pos, err
}

// Withdraw takes agentID's waiting prompt out of the queue; its hold is
// voided before it returns.
func (s *Service) Withdraw(ctx context.Context, agentID, key, promptID string) error {
	res, err := s.host.Ask(ctx, events.KindAttention, events.SlotID, runtime.Request{Key: key,
		Command: Withdraw{PromptID: promptID, AgentID: agentID}})
	if err != nil {
		return err
	}
	if res.Seq > 0 {
		return s.manager.WaitFloor(ctx, res.Seq)
	}
	return nil
}

// Answer records the human's response to the active prompt at time at,
// and returns once its reward is minted (or refused to a dead agent) and
// the next prompt activated, its bid paid and the unit leased to it. key
// is the idempotency key: a retry with it answers the first response,
// which applied once.
func (s *Service) Answer(ctx context.Context, key, promptID string, scores Scores, reason string, skip bool, at time.Time) (events.PromptAnswered, error) {
	res, err := s.host.Ask(ctx, events.KindAttention, events.SlotID, runtime.Request{Key: key,
		Command: Answer{PromptID: promptID, Scores: scores, Reason: reason, Skip: skip, Rates: s.rules.Rates, At: at}})
	if err != nil {
		return events.PromptAnswered{}, err
	}
	answered, _ := res.Event.(events.PromptAnswered)
	if res.Seq > 0 {
		if err := s.manager.WaitFloor(ctx, res.Seq); err != nil {
			return answered, err
		}
		// The response's reactions activated the next prompt; the
		// activation's pay its bid and lease it the unit (see settled).
		return answered, s.manager.WaitCaughtUp(ctx)
	}
	return answered, nil
}

// Tick is the schedule's beat for the slot: prompts that waited longer
// than the expiry are dropped (their holds voided) and the attention
// market's price follows its utilization.
func (s *Service) Tick(ctx context.Context, at time.Time) error {
	res, err := s.host.Ask(ctx, events.KindAttention, events.SlotID, runtime.Request{Command: Expire{At: at, After: s.rules.Expiry}})
	if err != nil {
		return fmt.Errorf("expire prompts: %w", err)
	}
	if _, err := s.host.Ask(ctx, events.KindMarket, Resource, runtime.Request{Command: market.Reprice{Rules: s.rules.Price}}); err != nil {
		return fmt.Errorf("reprice attention: %w", err)
	}
	if res.Seq > 0 {
		return s.manager.WaitFloor(ctx, res.Seq)
	}
	return nil
}

// Slot returns a copy of the slot's state, read inside the actor (tests,
// the audit's comparisons); the APIs read the read model.
func (s *Service) Slot(ctx context.Context) (Slot, error) {
	return runtime.Inspect(ctx, s.host, events.KindAttention, events.SlotID, func(sl Slot) Slot {
		c := sl
		c.Waiting = make(map[string]Prompt, len(sl.Waiting))
		for k, v := range sl.Waiting {
			c.Waiting[k] = v
		}
		if sl.Active != nil {
			a := *sl.Active
			c.Active = &a
		}
		return c
	})
}
