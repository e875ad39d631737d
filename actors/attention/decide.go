package attention

import (
	"fmt"
	"maps"
	"slices"

	"github.com/agora-econ/agora/events"
)

// Decide answers a command with one event, nothing (nil, nil: already
// done, or nothing to do) or a typed rejection. A redelivered command of
// the manager never reaches it: the shell answers that from its marks.
func Decide(s Slot, cmd Command) (events.Event, error) {
	switch c := cmd.(type) {
	case Queue:
		return decideQueue(s, c)
	case Raise:
		p, ok := s.Waiting[c.PromptID]
		if !ok || c.AmountMicros <= p.AmountMicros {
			return nil, nil // activated, dropped, or raised already
		}
		return events.PromptRaised{PromptID: c.PromptID, AmountMicros: c.AmountMicros, Trigger: c.Trigger}, nil
	case Withdraw:
		if s.Active != nil && s.Active.ID == c.PromptID && s.Active.AgentID == c.AgentID {
			return nil, fmt.Errorf("%w: %s is in front of the human", ErrPromptActive, c.PromptID)
		}
		p, ok := s.Waiting[c.PromptID]
		if !ok || p.AgentID != c.AgentID {
			return nil, fmt.Errorf("%w: %s", ErrUnknownPrompt, c.PromptID)
		}
		return events.PromptsDropped{Reason: events.DropWithdrawn, Prompts: []events.DroppedPrompt{dropped(p)}}, nil
	case Activate:
		if s.Active != nil || len(s.Waiting) == 0 {
			return nil, nil
		}
		p := slices.MinFunc(slices.Collect(maps.Values(s.Waiting)), Order)
		return events.PromptActivated{PromptID: p.ID, AgentID: p.AgentID, AmountMicros: p.AmountMicros,
			ActivatedAt: c.At, Trigger: c.Trigger}, nil
	case Unpaid:
		if s.Active == nil || s.Active.ID != c.PromptID {
			return nil, nil
		}
		return events.PromptsDropped{Reason: events.DropUnpaid, Prompts: []events.DroppedPrompt{dropped(*s.Active)}, Trigger: c.Trigger}, nil
	case Answer:
		return decideAnswer(s, c)
	case Expire:
		if c.After <= 0 {
			return nil, nil // prompts never expire
		}
		var out []events.DroppedPrompt
		for _, p := range s.Queue() {
			if !c.At.Before(p.PlacedAt.Add(c.After)) {
				out = append(out, dropped(p))
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return events.PromptsDropped{Reason: events.DropExpired, Prompts: out, At: c.At}, nil
	case CancelAgent:
		var out []events.DroppedPrompt
		for _, p := range s.Queue() {
			if p.AgentID == c.AgentID {
				out = append(out, dropped(p))
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return events.PromptsDropped{Reason: events.DropCancelled, Prompts: out, Trigger: c.Trigger}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func dropped(p Prompt) events.DroppedPrompt {
	return events.DroppedPrompt{PromptID: p.ID, AgentID: p.AgentID, AmountMicros: p.AmountMicros}
}

// decideQueue queues a held prompt; one the slot cannot take (bad content,
// a full queue) is recorded as rejected, so that the manager voids its
// hold: the credits never stay held for a prompt that does not wait.
func decideQueue(s Slot, c Queue) (events.Event, error) {
	if _, ok := s.Waiting[c.PromptID]; ok || (s.Active != nil && s.Active.ID == c.PromptID) {
		return nil, nil // queued already
	}
	reject := func() (events.Event, error) {
		return events.PromptsDropped{Reason: events.DropRejected, Trigger: c.Trigger,
			Prompts: []events.DroppedPrompt{{PromptID: c.PromptID, AgentID: c.AgentID, AmountMicros: c.AmountMicros}}}, nil
	}
	if events.ValidateID(c.PromptID) != nil || events.ValidateID(c.AgentID) != nil || ValidateContent(c.Content) != nil ||
		events.ValidatePositive(c.AmountMicros) != nil || len(s.Waiting) >= QueueMax {
		return reject()
	}
	return events.PromptQueued{PromptID: c.PromptID, AgentID: c.AgentID, Content: c.Content, AmountMicros: c.AmountMicros,
		PlacedAt: c.PlacedAt, Trigger: c.Trigger}, nil
}

func decideAnswer(s Slot, c Answer) (events.Event, error) {
	if s.Active == nil || s.Active.ID != c.PromptID {
		return nil, fmt.Errorf("%w: %s", ErrNotActive, c.PromptID)
	}
	scores := c.Scores
	if c.Skip {
		scores = Scores{}
	}
	if err := ValidateResponse(scores, c.Reason); err != nil {
		return nil, err
	}
	var reward events.Micros
	if !c.Skip {
		r, ok := Reward(scores, c.Rates)
		if !ok {
			return nil, fmt.Errorf("%w: the reward would pass the maximum amount", ErrInvalidResponse)
		}
		reward = r
	}
	return events.PromptAnswered{PromptID: c.PromptID, AgentID: s.Active.AgentID, Interesting: scores.Interesting,
		Useful: scores.Useful, Understandable: scores.Understandable, Reason: c.Reason, Skipped: c.Skip,
		RewardMicros: reward, AnsweredAt: c.At}, nil
}

// Evolve applies one event; it may reuse the slot it is given.
func Evolve(s Slot, e events.Event) Slot {
	if s.Waiting == nil {
		s.Waiting = map[string]Prompt{}
	}
	switch e := e.(type) {
	case events.PromptQueued:
		s.Waiting[e.PromptID] = Prompt{ID: e.PromptID, AgentID: e.AgentID, Content: e.Content, AmountMicros: e.AmountMicros,
			PlacedAt: e.PlacedAt}
	case events.PromptRaised:
		if p, ok := s.Waiting[e.PromptID]; ok {
			p.AmountMicros = e.AmountMicros
			s.Waiting[e.PromptID] = p
		}
	case events.PromptActivated:
		p := s.Waiting[e.PromptID]
		delete(s.Waiting, e.PromptID)
		p.ActivatedAt = e.ActivatedAt
		s.Active = &p
		s.Activations++
	case events.PromptAnswered:
		s.Active = nil
		s.Responses++
	case events.PromptsDropped:
		for _, p := range e.Prompts {
			delete(s.Waiting, p.PromptID)
			if s.Active != nil && s.Active.ID == p.PromptID {
				s.Active = nil
			}
		}
	}
	return s
}

// Admit reports whether event e may be folded into slot s, checking on
// what the log holds what Decide checks before it writes such an event:
// at most one prompt active, a response only to the active prompt, a
// prompt queued once. It runs on records read from the log only
// (recovery, the audit). Pure.
func Admit(s Slot, e events.Event) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInadmissible, fmt.Sprintf(format, args...))
	}
	active := func(id string) bool { return s.Active != nil && s.Active.ID == id }
	switch e := e.(type) {
	case events.PromptQueued:
		if _, ok := s.Waiting[e.PromptID]; ok || active(e.PromptID) {
			return bad("prompt %s queued twice", e.PromptID)
		}
		if ValidateContent(e.Content) != nil || e.AmountMicros <= 0 || events.ValidateID(e.PromptID) != nil {
			return bad("prompt %s is not a valid prompt", e.PromptID)
		}
	case events.PromptRaised:
		p, ok := s.Waiting[e.PromptID]
		if !ok || e.AmountMicros <= p.AmountMicros {
			return bad("prompt %s raised that does not wait, or not raised", e.PromptID)
		}
	case events.PromptActivated:
		if s.Active != nil {
			return bad("prompt %s activated while %s is active", e.PromptID, s.Active.ID)
		}
		p, ok := s.Waiting[e.PromptID]
		if !ok || p.AgentID != e.AgentID || p.AmountMicros != e.AmountMicros {
			return bad("prompt %s activated that does not wait so", e.PromptID)
		}
	case events.PromptAnswered:
		if !active(e.PromptID) || s.Active.AgentID != e.AgentID {
			return bad("response to prompt %s, which is not active", e.PromptID)
		}
		if ValidateResponse(Scores{e.Interesting, e.Useful, e.Understandable}, e.Reason) != nil || e.RewardMicros < 0 ||
			e.RewardMicros > events.AmountMax {
			return bad("response to prompt %s out of range", e.PromptID)
		}
	case events.PromptsDropped:
		for _, p := range e.Prompts {
			if e.Reason == events.DropRejected {
				if _, ok := s.Waiting[p.PromptID]; ok || active(p.PromptID) {
					return bad("prompt %s rejected that is in the slot", p.PromptID)
				}
				continue
			}
			if _, ok := s.Waiting[p.PromptID]; !ok && !(e.Reason == events.DropUnpaid && active(p.PromptID)) {
				return bad("prompt %s dropped (%s) that is not in the slot", p.PromptID, e.Reason)
			}
		}
	}
	return nil
}
