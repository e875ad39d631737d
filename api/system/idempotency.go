package system

import (
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
)

// Idempotency is the Idempotency-Key header of every command. The actors
// remember the keys of the commands they applied (runtime.Options
// IdempotencyMemory), so a call retried with the same key answers the first
// result and applies nothing more.
type Idempotency struct {
	Key string `header:"Idempotency-Key" doc:"Makes a retry safe: a call repeated with the same key (same route, same agent, same bid) returns the first result and applies once. 1 to 128 of A-Z a-z 0-9 - _ = . /; without it every call is new."`
}

// Resolve refuses a header sent empty: it is no key (1 to 128
// characters), and taking it for an absent one would apply a call the
// caller meant to retry safely every time it is sent.
func (i *Idempotency) Resolve(ctx huma.Context) []error {
	return problem.EmptyHeader(ctx, "Idempotency-Key", i.Key)
}

// commandKey is the actor command key of a call: the caller's idempotency
// key scoped by operation, agent and target, so that one agent's key can
// never answer another agent's call (the bid book is shared by every
// agent) nor another operation's. Without a key a fresh one is used: the
// call is then never taken for a retry.
func commandKey(key, op, agentID string, targets ...string) (string, error) {
	if key == "" {
		key = events.NewID()
	} else if err := validateKey(key); err != nil {
		return "", err
	}
	parts := append([]string{"api", op, agentID}, targets...)
	return strings.Join(append(parts, key), "/"), nil
}

func validateKey(key string) error {
	if len(key) > IdempotencyKeyLengthMax {
		return fmt.Errorf("%w: %d characters, at most %d are allowed", ErrInvalidIdempotencyKey, len(key), IdempotencyKeyLengthMax)
	}
	if err := events.ValidateKey(key); err != nil {
		msg := strings.TrimPrefix(err.Error(), events.ErrInvalidKey.Error()+": ")
		return fmt.Errorf("%w: %s", ErrInvalidIdempotencyKey, msg)
	}
	return nil
}
