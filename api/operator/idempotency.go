package operator

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
)

// Idempotency is the Idempotency-Key header of a command. The actors
// remember the keys of the commands they applied, so a call retried with
// the same key answers the first result and applies nothing more.
type Idempotency struct {
	Key string `header:"Idempotency-Key" doc:"Makes a retry safe: a call repeated with the same key returns the first result and applies once. 1 to 128 of A-Z a-z 0-9 - _ = . /; without it every call is new."`
}

// Resolve refuses a header sent empty: it is no key (1 to 128
// characters), and taking it for an absent one would apply a call the
// caller meant to retry safely every time it is sent.
func (i *Idempotency) Resolve(ctx huma.Context) []error {
	return problem.EmptyHeader(ctx, "Idempotency-Key", i.Key)
}

// key validates the header and returns it, or "" when there is none.
func (i Idempotency) key() (string, error) {
	if i.Key == "" {
		return "", nil
	}
	if len(i.Key) > IdempotencyKeyLengthMax {
		return "", huma.Error400BadRequest(fmt.Sprintf("header Idempotency-Key: %d characters, at most %d are allowed",
			len(i.Key), IdempotencyKeyLengthMax))
	}
	if err := events.ValidateKey(i.Key); err != nil {
		msg := strings.TrimPrefix(err.Error(), events.ErrInvalidKey.Error()+": ")
		return "", huma.Error400BadRequest("header Idempotency-Key: " + msg)
	}
	return i.Key, nil
}

// commandKey is the actor command key of a call on route: the header's
// key scoped by the route, or a fresh key when there is none (the call is
// then never taken for a retry).
func commandKey(route, key string) string {
	if key == "" {
		key = events.NewID()
	}
	return "api/operator/" + route + "/" + key
}

// operatorAgentPrefix starts the ids the API chooses for the operator's
// agents, so that the directory shows where they came from.
const operatorAgentPrefix = "op-"

// derivedIDLength is the length of the part of an id derived from a key:
// 26 base32 characters are 130 bits of the key's hash.
const derivedIDLength = 26

var lowerBase32 = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// agentIDFor is the id of the agent a creation names: a retry with the
// same Idempotency-Key must name the same agent, or the account, which
// remembers the key, would not be the one asked. Without a key the id is
// fresh.
func agentIDFor(key string) string {
	if key == "" {
		return operatorAgentPrefix + events.NewID()
	}
	sum := sha256.Sum256([]byte("agora/admin/agents\x00" + key))
	return operatorAgentPrefix + lowerBase32.EncodeToString(sum[:])[:derivedIDLength]
}
