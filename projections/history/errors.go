package history

import "errors"

// ErrInvalidRecord is returned for an agent record whose subject is not
// events.agent.<id>.<type> of its own type. The subject is the only place
// that says whose money moved, so the view stops rather than guess.
var ErrInvalidRecord = errors.New("invalid record")

// ErrInvalidLimit is returned by New and NewState for a length limit below
// one: a history that keeps nothing would look empty, not misconfigured.
var ErrInvalidLimit = errors.New("invalid limit")
