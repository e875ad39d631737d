package operator

import "errors"

// ErrNilDependency is returned by New when a dependency is missing: an API
// without, say, its directory would fail at the first call, far from the
// wiring mistake that caused it.
var ErrNilDependency = errors.New("operator: nil dependency")

// ErrInvalidOptions is returned by New for options it cannot serve with
// (no operator token, or a malformed one).
var ErrInvalidOptions = errors.New("operator: invalid options")

// ErrInvalidToken is returned by ValidateToken for a token too short, too
// long, or with characters a header cannot carry.
var ErrInvalidToken = errors.New("invalid operator token")

// ErrTokenFile is returned by LoadOrCreateToken when the token's file
// cannot be used: others may read it, it is not a regular file, it holds
// no valid token, or it cannot be read or made. It is never overwritten:
// the operator decides.
var ErrTokenFile = errors.New("operator token file")

// ErrInvalidProgram is for the Creator to wrap a refusal of the files or
// the command that the API's own checks let through (the executor's
// workspace rules, say): it is answered 422, with the error's words.
var ErrInvalidProgram = errors.New("invalid program")
