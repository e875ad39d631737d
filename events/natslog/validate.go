package natslog

import (
	"fmt"

	"github.com/agora-econ/agora/events"
)

// The checks live in package events, shared with the in-memory adapter so
// that both refuse exactly the same input.

func validateFilter(filter string) error {
	if err := events.ValidateFilter(filter); err != nil {
		return fmt.Errorf("natslog: %w", err)
	}
	return nil
}

func validateSubject(subject, filter string) error {
	if err := events.ValidateAppendSubject(subject, filter); err != nil {
		return fmt.Errorf("natslog: %w", err)
	}
	return nil
}

// ValidateKey reports whether key can be a key of the Store (see
// events.ValidateKey).
func ValidateKey(key string) error { return events.ValidateKey(key) }
