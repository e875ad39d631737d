package markets

import "errors"

// ErrInvalidRecord is returned for a market or clearing record whose
// subject is not events.<kind>.<id>.<type> of its own type: the subject
// says which market changed, so the view stops rather than guess.
var ErrInvalidRecord = errors.New("invalid record")

// ErrInvalidLimit is returned by New and NewState for a history length
// outside [1, HistoryLengthMax].
var ErrInvalidLimit = errors.New("invalid limit")

// ErrNilDependency is returned by NewMirror without a view or a bucket.
var ErrNilDependency = errors.New("nil dependency")
