package system

import "errors"

// ErrNilDependency is returned by New when a dependency is missing: a
// service without, say, its ticket registry would fail at the first call,
// far from the wiring mistake that caused it.
var ErrNilDependency = errors.New("system: nil dependency")

// ErrInvalidOptions is returned by New for options it cannot serve with (an
// upstream URL that is not http(s), a negative timeout).
var ErrInvalidOptions = errors.New("system: invalid options")

// errNotATransfer: the account answered a transfer's key with another
// event. Keys are scoped by route, so it means a bug, not a client error.
var errNotATransfer = errors.New("system: the command key of a transfer names another command")

// errNotAMessage: the account answered a message's key with another event
// (a bug, as errNotATransfer).
var errNotAMessage = errors.New("system: the command key of a message names another command")

// ErrInvalidCall rejects a call whose fields break the rules the HTTP API's
// schema states (a page limit out of range, a malformed id, a memo too
// long): calls sent as actor messages pass no schema, so the service
// checks them itself. The error names the field.
var ErrInvalidCall = errors.New("invalid call")

// ErrInvalidIdempotencyKey rejects a call whose idempotency key cannot be
// recorded in an event (too long, or characters outside A-Z a-z 0-9 - _ =
// . /).
var ErrInvalidIdempotencyKey = errors.New("header Idempotency-Key")

// ErrUnknownCall answers a message that is not one of the service's calls
// (messages.go). Calls are sent as values, not pointers.
var ErrUnknownCall = errors.New("not a call of the System Service")

// ErrBusy answers a call that found CallsInFlightMax calls being answered
// and none ended within CallAdmissionTimeout: nothing was done; retry
// later (over HTTP, after Retry-After), with the same key.
var ErrBusy = errors.New("the System Service is answering as many calls as it may at once")

// ErrNoInference answers inference when no upstream is configured: this
// economy offers no inference.
var ErrNoInference = errors.New("no inference upstream is configured (inference.url); this economy offers no inference")

// ErrNoAnswer is returned by Ask when the actor asked (the service's, or a
// client's) gave no answer (it is stopped, or the wait timed out) or an
// answer of another type than asked for, and by a client when the HTTP
// call got no answer it can read. Whether the call was applied is unknown:
// retry it with the same key.
var ErrNoAnswer = errors.New("no answer from the System Service")

// ErrPopulationLimit refuses a spawn while economy.max_agents agents
// live: nothing is charged, nothing is written.
var ErrPopulationLimit = errors.New("the economy holds as many living agents as economy.max_agents allows")
