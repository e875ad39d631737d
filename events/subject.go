package events

import (
	"fmt"
	"strings"
)

// Kind is the second token of every subject: which family of actor wrote it.
type Kind string

// The closed set of kinds of SPEC.md section 2.
const (
	KindAgent     Kind = "agent"
	KindMarket    Kind = "market"
	KindAttention Kind = "attention"
	KindClearing  Kind = "clearing"
	KindSystem    Kind = "system"
)

// SubjectRoot is the first token of every event subject; the stream captures
// SubjectRoot + ".>".
const SubjectRoot = "events"

// Subject returns events.<kind>.<id>.<eventType>.
func Subject(kind Kind, id, eventType string) string {
	return SubjectRoot + "." + string(kind) + "." + id + "." + eventType
}

// Filter returns the subject filter that covers every event of one actor. It
// is the filter used for optimistic concurrency: the expected last sequence
// of an append is the stream sequence of the last message matching it.
func Filter(kind Kind, id string) string {
	return SubjectRoot + "." + string(kind) + "." + id + ".>"
}

// ParseSubject splits a subject into kind, id and event type.
func ParseSubject(subject string) (Kind, string, string, error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != SubjectRoot {
		return "", "", "", fmt.Errorf("subject %q is not events.<kind>.<id>.<type>", subject)
	}
	return Kind(parts[1]), parts[2], parts[3], nil
}

// Match reports whether subject matches a NATS subject filter, with '*'
// matching one token and '>' the rest. The in-memory log uses it to behave
// as JetStream does.
func Match(filter, subject string) bool {
	// Token by token without splitting: every append checks its subject
	// against its filter.
	for {
		ftok, frest, fmore := strings.Cut(filter, ".")
		if ftok == ">" {
			return subject != ""
		}
		if subject == "" {
			return false
		}
		stok, srest, smore := strings.Cut(subject, ".")
		if ftok != "*" && ftok != stok {
			return false
		}
		if !fmore || !smore {
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}
