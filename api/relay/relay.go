// Package relay carries HTTP calls over NATS request/reply: Handler, on
// the machine where a program runs, forwards every call it gets to a
// subject; Serve, on the economy node, answers the calls that arrive on it
// with an http.Handler (the System Service's). An execution worker on
// another machine serves the System Service to its sandbox this way, and
// the economy checks the tokens exactly as it does for the executions it
// runs itself: the relay passes Authorization through untouched and adds
// no trust of its own.
//
// The wire format (wire.go) is a NATS message whose headers are the
// call's HTTP headers plus a few of the relay's own (Agora-Method,
// Agora-Target, ...) and whose data is the body, answered by one or more
// messages whose headers carry the status and the answer's headers and
// whose data is the answer's body, cut into chunks when it does not fit in
// one message. docs/decisions.md says why.
package relay

import (
	"log/slog"
	"time"
)

// SubjectDefault is the subject the economy answers System Service calls
// on. It is outside events.> (the log, which observers read) and outside
// the inboxes (_INBOX.>, _AGORA_INBOX.>), so no permission that lets a
// client read the log or receive its own answers lets it read the calls,
// which carry the agents' tokens.
const SubjectDefault = "agora.system"

// InboxPrefix is where Handler receives its answers: each call on a
// subject of its own under it. The economy's NATS user may publish there
// (to answer) and a worker's may subscribe there; no one else may do
// either. It is not the connection's inbox prefix (_INBOX, or the one
// nats.CustomInboxPrefix gave), so that the economy answers without the
// server's allow_responses, which would track every message with a reply
// subject delivered on the economy's busy connection (docs/decisions.md).
const InboxPrefix = "_AGORA_RELAY_INBOX"

// QueueGroup is the queue group of the subscriptions Serve makes: when
// several economy processes serve one subject, each call reaches one.
const QueueGroup = "agora-relay"

// Limits of the relay, in one place.
const (
	// TimeoutDefault bounds a relayed call when WithTimeout gives none. It
	// is as long as the System Service's own bound on a call whose caller
	// set no deadline (system.CallTimeoutDefault, 90 s), which is above
	// the longest call it answers, an inference call (60 s by default);
	// the execution's deadline (execution.timeout_seconds) ends the
	// program, and so its calls, sooner.
	TimeoutDefault = 90 * time.Second
	// CallsInFlightMax bounds the calls Serve answers at once; past it a
	// call waits in the subscription's buffer for room. The System Service
	// has its own bound (system.CallsInFlightMax), with a clear 503 past
	// it: this one only keeps a flood from starting goroutines without
	// end.
	CallsInFlightMax = 4096
	// AnswerBytesMax bounds an answer's body. The largest the System
	// Service gives is a page of a full inbox (100 messages of 64 KiB,
	// each character escaped in JSON at worst); an answer above it is
	// refused with a 502 rather than held in memory.
	AnswerBytesMax = 64 << 20
	// chunkHeaderRoom is what each answer message keeps free beyond the
	// headers it measures, for the chunk counter's digits.
	chunkHeaderRoom = 64
	// drainTimeout bounds how long stop waits for the server to confirm
	// the end of the subscription; the calls already received are
	// answered either way.
	drainTimeout = 30 * time.Second
)

// RemoteAddr is the remote address the served handler sees in every
// relayed call (http.Request.RemoteAddr), so that a log line shows a call
// came over NATS. Nothing in the System Service depends on it: the bearer
// token alone says who calls.
const RemoteAddr = "nats-relay"

// options are what Option sets.
type options struct {
	timeout  time.Duration
	logger   *slog.Logger
	inFlight int
	inbox    string
}

// Option tunes Handler or Serve.
type Option func(*options)

// WithTimeout bounds a call: Handler answers 504 when no answer came
// within d (the call may have been done: the caller retries with the same
// Idempotency-Key to learn it), and Serve gives the handler at most d
// (less when the caller said it waits less). Zero or less means
// TimeoutDefault.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithLogger receives what the relay cannot tell the caller (an answer
// that could not be sent, a handler that panicked); default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithCallsInFlight bounds the calls Serve answers at once in place of
// CallsInFlightMax; zero or less means CallsInFlightMax.
func WithCallsInFlight(n int) Option { return func(o *options) { o.inFlight = n } }

// WithInboxPrefix makes Handler receive its answers under prefix in place
// of InboxPrefix: a worker whose NATS user may subscribe only to its own
// inboxes (InboxPrefix + ".<worker>") reads no other worker's answers.
// The economy's user must be allowed to publish under it.
func WithInboxPrefix(prefix string) Option { return func(o *options) { o.inbox = prefix } }

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.timeout <= 0 {
		o.timeout = TimeoutDefault
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.inFlight <= 0 {
		o.inFlight = CallsInFlightMax
	}
	if o.inbox == "" {
		o.inbox = InboxPrefix
	}
	return o
}
