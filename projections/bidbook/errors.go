package bidbook

import "errors"

// ErrInvalidRecord is returned for a clearing record whose subject is not
// events.clearing.<pool>.<type> of its own type: the view stops rather than
// guess which book changed.
var ErrInvalidRecord = errors.New("invalid record")

// ErrInvalidCursor is returned by Page for a cursor it did not give: a
// reader must learn that its position is lost rather than be shown the
// first page again.
var ErrInvalidCursor = errors.New("invalid cursor")

// ErrInvalidLimit is returned by Page for a page size outside
// [1, BidsPageMax], so that a reader cannot ask for the whole book at once.
var ErrInvalidLimit = errors.New("invalid limit")
