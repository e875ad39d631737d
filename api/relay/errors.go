package relay

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSubject is a subject the relay refuses: empty, with a wildcard or a
// space, or one whose readers would not be only the economy (the log's
// events.>, the inboxes, the server's own $ subjects). A call carries its
// agent's token, so its subject must be one that only the economy may
// subscribe to.
var ErrSubject = errors.New("relay: unusable subject")

// ErrNotPermitted is Serve's answer when the NATS server refuses the
// subscription: the connection's user may not subscribe to the subject
// (docs/operations.md, "System Service over NATS", lists what it needs).
// Without this check the refusal would come asynchronously, and the
// callers would meet a relay that never answers.
var ErrNotPermitted = errors.New("relay: the NATS server does not permit this connection to serve the subject")

// ErrNilDependency is a nil connection or handler.
var ErrNilDependency = errors.New("relay: nil dependency")

// checkInboxPrefix says whether prefix can hold the inboxes of the
// answers: tokens without wildcards or spaces.
func checkInboxPrefix(prefix string) error {
	for tok := range strings.SplitSeq(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return fmt.Errorf("%w: inbox prefix %q: tokens without wildcards or spaces, please", ErrSubject, prefix)
		}
	}
	return nil
}

// CheckSubject says whether subject can carry relayed calls (ErrSubject).
func CheckSubject(subject string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrSubject, subject, why) }
	switch {
	case subject == "":
		return bad("it is empty")
	case strings.ContainsAny(subject, " \t\r\n"):
		return bad("it holds white space")
	case subject == "events" || strings.HasPrefix(subject, "events."):
		return bad("events.> is the log, which observers read")
	case strings.HasPrefix(subject, "_"):
		return bad("subjects starting with _ are inboxes, where clients receive their answers")
	case strings.HasPrefix(subject, "$"):
		return bad("subjects starting with $ are the NATS server's own")
	}
	for tok := range strings.SplitSeq(subject, ".") {
		switch tok {
		case "":
			return bad("it has an empty token")
		case "*", ">":
			return bad("it has a wildcard: a call goes to one subject")
		}
	}
	return nil
}
