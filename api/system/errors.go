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
