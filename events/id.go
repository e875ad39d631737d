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
	// entropyOut receives the entropy of each id (under entropyMu): read
	// into the id itself, through the reader's interface, it moved every
	// id to the heap.
	entropyOut [10]byte
)

// NewID returns a fresh lowercase ULID: sortable by creation time and
// subject-safe. It is called by the edges (HTTP, process managers, the
// clock) and never inside Decide or Evolve.
func NewID() string {
	// What ulid.MustNew does, without its allocation (see entropyOut).
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(time.Now())); err != nil {
		panic(err) // a clock past the year 10889
	}
	entropyMu.Lock()
	err := entropy.MonotonicRead(id.Time(), entropyOut[:])
	copy(id[6:], entropyOut[:])
	entropyMu.Unlock()
	if err != nil {
		panic(err) // the entropy source failed or overflowed, as in ulid.MustNew
	}
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
