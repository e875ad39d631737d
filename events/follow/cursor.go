package follow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/agora-econ/agora/events"
)

// CursorKey is the store key of the position of the consumer named name:
// the key process managers and the executor have always used, so that a
// data directory written before the Follower resumes where it was.
func CursorKey(name string) string { return "cursor." + name }

// Cursor is a position kept in a store as a decimal number: that of a
// process manager or of the executor (a sequence below which every piece
// of work is done).
type Cursor struct {
	store events.Store
	key   string

	mu    sync.Mutex // one save at a time: a late one must not undo a newer
	saved uint64
}

// NewCursor returns the cursor of the consumer named name in store.
func NewCursor(store events.Store, name string) (*Cursor, error) {
	if store == nil || name == "" {
		return nil, errors.New("follow: a cursor needs a store and a name")
	}
	return &Cursor{store: store, key: CursorKey(name)}, nil
}

// Load reads the saved position (0: none). One beyond last, the log's last
// sequence, is of a log that is gone: Load returns 0 and the next Save
// writes the new position over it.
func (c *Cursor) Load(ctx context.Context, last uint64) (uint64, error) {
	b, ok, err := c.store.Get(ctx, c.key)
	if err != nil {
		return 0, fmt.Errorf("load %s: %w", c.key, err)
	}
	if !ok {
		return 0, nil
	}
	pos, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q: %w", c.key, b, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved = pos
	if pos > last {
		return 0, nil
	}
	return pos, nil
}

// Save stores pos() if it differs from what is saved. pos is read under
// the cursor's lock, so that two saves at once store the newer last.
func (c *Cursor) Save(ctx context.Context, pos func() uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := pos()
	if p == c.saved {
		return nil
	}
	if err := c.store.Put(ctx, c.key, []byte(strconv.FormatUint(p, 10))); err != nil {
		return err
	}
	c.saved = p
	return nil
}
