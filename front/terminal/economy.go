package terminal

import (
	"context"
	"errors"
	"time"

	"github.com/agora-econ/agora/projections/economy"
)

// Economy is what the terminal needs of a running economy: a snapshot of
// what the dashboard shows, and the human's two answers to the active
// prompt. *Client implements it over the operator API.
type Economy interface {
	Snapshot(ctx context.Context) Snapshot
	Respond(ctx context.Context, promptID string, r Rating) (Reward, error)
	Skip(ctx context.Context, promptID string) error
}

// Snapshot is the economy as one round of calls saw it. Err is set when
// the economy did not answer (or refused): the rest is then empty and the
// screen keeps the last good snapshot.
type Snapshot struct {
	At time.Time
	// From is the address of the economy that answered.
	From     string
	Status   economy.Summary
	Agents   AgentsPage
	Activity []Transaction
	// Attention says whether the economy has the attention slot (its
	// routes answer); Active is the prompt in front of the human (nil when
	// the slot is free) and Queue the prompts waiting, first first.
	Attention bool
	Active    *Prompt
	Queue     Queue
	// Responses are the human's latest answers, newest first.
	Responses []Response
	Err       error
}

// Snapshot asks every route the dashboard shows, one after the other.
// An attention route that is not there (404) is an economy without the
// attention slot, not an error.
func (c *Client) Snapshot(ctx context.Context) Snapshot {
	s := c.snapshot(ctx)
	if errors.Is(s.Err, ErrNotAnswering) && c.relocate() {
		// The economy may have come back elsewhere: ask there at once.
		s = c.snapshot(ctx)
	}
	return s
}

func (c *Client) snapshot(ctx context.Context) Snapshot {
	s := Snapshot{At: time.Now(), From: c.Base()}
	var err error
	if s.Status, err = c.Status(ctx); err != nil {
		return Snapshot{At: s.At, Err: err}
	}
	if s.Agents, err = c.Agents(ctx, AgentsListedMax); err != nil {
		return Snapshot{At: s.At, Err: err}
	}
	if s.Activity, err = c.History(ctx, ActivityLengthMax); err != nil {
		return Snapshot{At: s.At, Err: err}
	}
	s.Active, err = c.Active(ctx)
	if errors.Is(err, ErrNotFound) {
		return s
	}
	if err != nil {
		return Snapshot{At: s.At, Err: err}
	}
	s.Attention = true
	if s.Queue, err = c.Queue(ctx); err != nil && !errors.Is(err, ErrNotFound) {
		return Snapshot{At: s.At, Err: err}
	}
	if s.Responses, err = c.Responses(ctx, ResponsesShown); err != nil && !errors.Is(err, ErrNotFound) {
		return Snapshot{At: s.At, Err: err}
	}
	return s
}
