package system

import (
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/api/program"
)

// Limits of the System Service, in one place.
const (
	// BodyBytesMax bounds the body of every call but inference: the largest
	// legitimate one is a bid with its payload (clearing.PayloadBytesMax,
	// 16 KiB) and the bundle around it.
	BodyBytesMax = 64 << 10
	// SpawnBodyBytesMax bounds the body of POST /social/spawn: the child's
	// files at their largest, with room for JSON's escaping of their
	// contents (a quote or a newline takes two bytes), and the rest.
	SpawnBodyBytesMax = 2*program.FilesBytesMax + BodyBytesMax
	// InferenceBodyBytesMax bounds a chat completion request: prompts are
	// larger than commands, but an agent's sandbox is no place for a
	// document store either.
	InferenceBodyBytesMax = 1 << 20
	// InferenceResponseBytesMax bounds what is read back from the upstream;
	// a larger answer is refused (502) rather than buffered.
	InferenceResponseBytesMax = 4 << 20
	// InferenceTimeoutDefault bounds one upstream call when Options gives
	// none. The execution's own deadline (execution.timeout_seconds) is the
	// other bound: the program is killed at it.
	InferenceTimeoutDefault = 60 * time.Second
	// BodyReadTimeout bounds reading a request body, so that a slow client
	// cannot hold a handler.
	BodyReadTimeout = 10 * time.Second

	// IdempotencyKeyLengthMax bounds the Idempotency-Key header; the key is
	// written in the command's event.
	IdempotencyKeyLengthMax = 128
	// MemoLengthMax bounds a transfer's memo, in characters.
	MemoLengthMax = 1024

	// HistoryLimitDefault and HistoryLimitMax bound GET /economic/history.
	HistoryLimitDefault = 20
	HistoryLimitMax     = 1000
	// BidsLimitDefault and BidsLimitMax bound a page of GET /market/bids.
	BidsLimitDefault = 50
	BidsLimitMax     = 500
	// AgentsLimitDefault and AgentsLimitMax bound a page of GET
	// /social/agents.
	AgentsLimitDefault = 100
	AgentsLimitMax     = 1000

	// MessageBytesMax bounds a message's content, in bytes of UTF-8 text
	// (SPEC.md 1.6).
	MessageBytesMax = agent.MessageBytesMax
	// MessageBodyBytesMax bounds the body of POST /social/message: the
	// content written as JSON may take six bytes for each of its own
	// (\u00XX), plus the recipient.
	MessageBodyBytesMax = 6*MessageBytesMax + 4<<10
	// InboxLimitDefault and InboxLimitMax bound a page of GET
	// /social/inbox; InboxCursorLengthMax its cursor.
	InboxLimitDefault    = 20
	InboxLimitMax        = 100
	InboxCursorLengthMax = 64

	// CallsInFlightMax bounds the calls the service answers at once,
	// whichever door they come by (HTTP or the actor). A call past it waits
	// for room, at most CallAdmissionTimeout and within its own deadline;
	// then it is refused with ErrBusy (503, Retry-After: BusyRetryAfter)
	// rather than queued without bound. A call refused for a bad token or
	// a bad field takes no room.
	CallsInFlightMax = 4096
	// CallAdmissionTimeout bounds how long a call waits for room: long
	// enough to absorb a burst (calls end within milliseconds when the
	// economy is well), short enough that a caller meeting a sustained
	// overload learns it and backs off instead of holding a connection
	// until its deadline.
	CallAdmissionTimeout = time.Second
	// BusyRetryAfter is the Retry-After (whole seconds) of a call refused
	// with ErrBusy.
	BusyRetryAfter = time.Second
	// CallTimeoutDefault bounds a call whose caller set no deadline. It is
	// above InferenceTimeoutDefault, the longest a call may rightly take.
	CallTimeoutDefault = 90 * time.Second

	// ReadYourWritesTimeout bounds how long a write waits for the read
	// models to include it before answering. The write is durable either
	// way; past it, an immediate read may not show it yet.
	ReadYourWritesTimeout = 2 * time.Second
	// ValueEchoLengthMax bounds the rejected value a problem echoes back
	// (api/problem shortens every echo to it).
	ValueEchoLengthMax = problem.ValueEchoLengthMax
)
