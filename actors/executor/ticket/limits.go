package ticket

import "time"

// Limits of the registry, in one place.
const (
	// SecretBytes is the entropy of a token: 32 bytes from crypto/rand,
	// which no agent can guess.
	SecretBytes = 32
	// TicketsMax bounds the tickets kept (live, expired and revoked), and
	// so the registry's memory.
	TicketsMax = 100_000
	// RetentionAfterDeadline is how long a ticket is kept past its deadline,
	// so that a late call is told "expired" or "revoked" rather than
	// "unknown". After it, the ticket is forgotten and its token is unknown.
	RetentionAfterDeadline = 10 * time.Minute
)

// ResourceTokens is the resource of the allocation that is the inference
// quota (SPEC.md 1.4); the other resources are enforced by the sandbox.
const ResourceTokens = "tokens"
