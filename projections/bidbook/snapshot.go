package bidbook

import (
	"encoding/json"
	"fmt"

	"github.com/agora-econ/agora/actors/clearing"
)

// snapshotFormat is the version of what Snapshot writes; a change to it
// takes a new number, so that an older snapshot is refused rather than
// misread.
const snapshotFormat = 1

// snapshot is the book as JSON: each pool's clearing.Book, which is what
// the clearing actor's own snapshot holds (its open bids, running
// executions, markets and manager marks), so its size is bounded as that
// one is. The ordered indexes are built again from the books on Restore.
type snapshot struct {
	Format int                      `json:"format"`
	Books  map[string]clearing.Book `json:"books"`
}

// Snapshot is the book as of the last record applied, as JSON that
// Restore reads back. It must not run concurrently with Apply.
func (v *View) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return json.Marshal(snapshot{Format: snapshotFormat, Books: v.book.books.All()})
}

// Restore replaces the book with the one a Snapshot holds. A snapshot of
// another format is refused with ErrSnapshotFormat and the view is
// unchanged.
func (v *View) Restore(data []byte) error {
	var s snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshotFormat, err)
	}
	if s.Format != snapshotFormat {
		return fmt.Errorf("%w: format %d, this binary reads %d", ErrSnapshotFormat, s.Format, snapshotFormat)
	}
	if s.Books == nil {
		s.Books = map[string]clearing.Book{}
	}
	var b Book
	b.books.Set(s.Books)
	b.reindex()
	v.mu.Lock()
	defer v.mu.Unlock()
	v.book = b
	return nil
}
