package events

import (
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// IDLengthMax bounds every id that becomes a subject token, so that subjects
// stay short and readable with the NATS CLI.
const IDLengthMax = 64

// ValidateID reports whether id may appear as a token of a subject:
// [a-z0-9_-]{1,64}. Dots, wildcards and spaces would change the meaning of a
// subject filter, so they are refused rather than escaped.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidID)
	}
	if len(id) > IDLengthMax {
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalidID, id, IDLengthMax)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q has %q; allowed are a-z, 0-9, '_' and '-'", ErrInvalidID, id, r)
		}
	}
	return nil
}

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a fresh lowercase ULID: sortable by creation time and
// subject-safe. It is called by the edges (HTTP, process managers, the
// clock) and never inside Decide or Evolve.
func NewID() string {
	now := ulid.Timestamp(time.Now())
	entropyMu.Lock()
	id := ulid.MustNew(now, entropy)
	entropyMu.Unlock()
	// Lowercased in place: every event gets an id, and the upper-case
	// string and its lowered copy were two allocations of each.
	var b [ulid.EncodedSize]byte
	_ = id.MarshalTextTo(b[:])
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b[:])
}
