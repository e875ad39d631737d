package events

import (
	"fmt"
	"strings"
)

// ValidateFilter refuses a filter that NATS would read differently from what
// the caller meant. An empty filter is the worst case: JetStream reads it as
// "every subject", so an Append guarded by it would check the whole stream
// rather than one actor's history.
func ValidateFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("empty subject filter")
	}
	// One pass over the bytes: every append checks its filter and its
	// subject, where a pass per token with strings.ContainsAny would
	// read each byte several times on every append.
	start, wildcard := 0, false // where the current token starts; whether it has '*' or '>'
	for i := 0; i <= len(filter); i++ {
		if i < len(filter) && filter[i] != '.' {
			switch filter[i] {
			case ' ', '\t', '\r', '\n':
				return fmt.Errorf("subject filter %q contains white space", filter)
			case '*', '>':
				wildcard = true
			}
			continue
		}
		tok := filter[start:i]
		switch {
		case tok == "":
			return fmt.Errorf("subject filter %q has an empty token", filter)
		case tok == ">" && i < len(filter):
			return fmt.Errorf("subject filter %q has '>' before its last token", filter)
		case len(tok) > 1 && wildcard:
			return fmt.Errorf("subject filter %q has a wildcard inside a token", filter)
		}
		start, wildcard = i+1, false
	}
	return nil
}

// ValidateAppendSubject checks the subject of an envelope to append: a literal
// subject under the stream's root that matches the append's filter. A
// subject outside the filter would be written without the optimistic
// concurrency check the caller believes guards it.
func ValidateAppendSubject(subject, filter string) error {
	if err := ValidateFilter(subject); err != nil {
		return fmt.Errorf("envelope subject: %w", err)
	}
	if strings.ContainsAny(subject, "*>") {
		return fmt.Errorf("envelope subject %q has a wildcard", subject)
	}
	if !strings.HasPrefix(subject, SubjectRoot+".") {
		return fmt.Errorf("envelope subject %q is not under %s.>", subject, SubjectRoot)
	}
	if !Match(filter, subject) {
		return fmt.Errorf("envelope subject %q does not match the append filter %q", subject, filter)
	}
	return nil
}

// ValidateKey reports whether key can be a key of a Store: the key-value
// rules of JetStream ([-/_=.a-zA-Z0-9], no leading or trailing dot, no empty
// token), checked here so that the caller gets ErrInvalidKey and a
// reason instead of the client's generic "invalid key".
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if key[0] == '.' || key[len(key)-1] == '.' {
		return fmt.Errorf("%w: %q starts or ends with a dot", ErrInvalidKey, key)
	}
	if strings.Contains(key, "..") {
		return fmt.Errorf("%w: %q has an empty token (\"..\")", ErrInvalidKey, key)
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '/' || r == '_' || r == '=' || r == '.') {
			return fmt.Errorf("%w: %q has %q; allowed are a-z, A-Z, 0-9 and - / _ = .", ErrInvalidKey, key, r)
		}
	}
	return nil
}
