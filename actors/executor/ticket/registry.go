package ticket

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/agora-econ/agora/events"
)

// Registry holds the tickets of the executions of one process. It is safe
// for concurrent use: every operation takes one lock, which makes metering
// atomic (two calls can never both spend the last tokens).
type Registry struct {
	now func() time.Time

	mu        sync.Mutex
	tickets   map[digest]*entry
	lastSweep time.Time
}

type digest [sha256.Size]byte

type entry struct {
	ticket  Ticket
	revoked bool
}

// Option configures a Registry.
type Option func(*Registry)

// WithClock sets the clock used to stamp and forget tickets (tests).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// New returns an empty registry.
func New(opts ...Option) *Registry {
	r := &Registry{now: time.Now, tickets: map[digest]*entry{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Issue records a ticket for one execution of agentID and returns its
// token: SecretBytes from crypto/rand, base64url without padding (43
// characters, safe in a URL, a header and an environment variable).
// allocation is copied.
func (r *Registry) Issue(agentID, executionID string, allocation map[string]events.Units, deadline time.Time) (string, error) {
	if err := validate(agentID, executionID, allocation, deadline); err != nil {
		return "", err
	}
	secret := make([]byte, SecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return "", fmt.Errorf("ticket: random token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(secret)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	if len(r.tickets) >= TicketsMax {
		return "", fmt.Errorf("%w: %d", ErrTooManyTickets, TicketsMax)
	}
	t := Ticket{AgentID: agentID, ExecutionID: executionID, Allocation: allocation, Deadline: deadline, IssuedAt: now}
	r.tickets[hash(token)] = &entry{ticket: t.clone()}
	return token, nil
}

func validate(agentID, executionID string, allocation map[string]events.Units, deadline time.Time) error {
	if err := events.ValidateID(agentID); err != nil {
		return fmt.Errorf("%w: agent: %w", ErrInvalidTicket, err)
	}
	if err := events.ValidateID(executionID); err != nil {
		return fmt.Errorf("%w: execution: %w", ErrInvalidTicket, err)
	}
	for resource, units := range allocation {
		if units < 0 {
			return fmt.Errorf("%w: %s %s is negative", ErrInvalidTicket, resource, units)
		}
	}
	if deadline.IsZero() {
		return fmt.Errorf("%w: no deadline", ErrInvalidTicket)
	}
	return nil
}

// Lookup returns the ticket of token as of now: ErrUnknownToken,
// ErrRevoked or ErrExpired (at or past its deadline) when it does not act
// for its agent.
func (r *Registry) Lookup(token string, now time.Time) (Ticket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.find(token)
	if err != nil {
		return Ticket{}, err
	}
	if !now.Before(e.ticket.Deadline) {
		return Ticket{}, fmt.Errorf("%w: execution %s ended at %s", ErrExpired, e.ticket.ExecutionID,
			e.ticket.Deadline.UTC().Format(time.RFC3339))
	}
	return e.ticket.clone(), nil
}

// Revoke ends token's validity: the executor calls it when the execution
// ends. Revoking twice is not an error.
func (r *Registry) Revoke(token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.tickets[hash(token)]
	if !ok {
		return ErrUnknownToken
	}
	e.revoked = true
	return nil
}

// End revokes token, as Revoke does, and returns the inference tokens its
// execution used: the final count, since a revoked ticket meters nothing
// more. The executor records it in the execution's end. Ending twice
// gives the same count.
func (r *Registry) End(token string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.tickets[hash(token)]
	if !ok {
		return 0, ErrUnknownToken
	}
	e.revoked = true
	return e.ticket.TokensUsed, nil
}

// Meter spends tokens of the execution's inference quota. It spends at
// most what remains, so that the tokens used never exceed the allocation
// whatever calls race: when tokens is more than what remained, the quota is
// spent to its end and ErrQuotaExhausted says by how much it fell short.
// An inference call is metered after its answer (its tokens were spent
// upstream), hence this rather than an all-or-nothing refusal.
func (r *Registry) Meter(token string, tokens int64) error {
	if tokens < 0 {
		return fmt.Errorf("%w: %d", ErrInvalidTokens, tokens)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.find(token)
	if err != nil {
		return err
	}
	remaining := e.ticket.TokensRemaining()
	if tokens > remaining {
		e.ticket.TokensUsed = e.ticket.TokensAllocated()
		return fmt.Errorf("%w: %d tokens used, %d remained of %d", ErrQuotaExhausted, tokens, remaining,
			e.ticket.TokensAllocated())
	}
	e.ticket.TokensUsed += tokens
	return nil
}

// find returns token's entry unless it is unknown or revoked; r.mu is held.
func (r *Registry) find(token string) (*entry, error) {
	e, ok := r.tickets[hash(token)]
	switch {
	case !ok:
		return nil, ErrUnknownToken
	case e.revoked:
		return nil, fmt.Errorf("%w: execution %s ended", ErrRevoked, e.ticket.ExecutionID)
	}
	return e, nil
}

// sweep forgets tickets RetentionAfterDeadline past their deadline, at most
// once a minute; r.mu is held.
func (r *Registry) sweep(now time.Time) {
	if now.Sub(r.lastSweep) < time.Minute && len(r.tickets) < TicketsMax {
		return
	}
	r.lastSweep = now
	for k, e := range r.tickets {
		if now.Sub(e.ticket.Deadline) > RetentionAfterDeadline {
			delete(r.tickets, k)
		}
	}
}

func hash(token string) digest { return sha256.Sum256([]byte(token)) }
