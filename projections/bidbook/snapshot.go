package bidbook

import (
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/projections"
)

// snapshotFormat is the version of what Snapshot writes (see
// projections.MarshalSnapshot).
const snapshotFormat = 1

// snapshot is the book as JSON: each pool's clearing.Book, which is what
// the clearing actor's own snapshot holds (its open bids, running
// executions, markets and manager marks), so its size is bounded as that
// one is. The ordered indexes are built again from the books on Restore.
type snapshot struct {
	Books map[string]clearing.Book `json:"books"`
}

// Snapshot is the book as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	return projections.SnapshotLocked(&v.mu, snapshotFormat, func() snapshot { return snapshot{Books: v.book.books.All()} })
}

// Restore replaces the book with the one a Snapshot holds. A snapshot of
// another format is refused with projections.ErrSnapshotFormat and the
// view is unchanged.
func (v *View) Restore(data []byte) error {
	return projections.RestoreLocked(&v.mu, data, snapshotFormat, func(s snapshot) error {
		if s.Books == nil {
			s.Books = map[string]clearing.Book{}
		}
		var b Book
		b.books.Set(s.Books)
		b.reindex()
		v.book = b
		return nil
	})
}
