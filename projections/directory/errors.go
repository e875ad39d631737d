package directory

import "errors"

// ErrInvalidRecord is returned for an agent record whose subject is not
// events.agent.<id>.<type> of its own type. The subject is the only place
// that says which agent the event belongs to, so the view stops rather
// than guess.
var ErrInvalidRecord = errors.New("invalid record")
