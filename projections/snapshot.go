package projections

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// ErrSnapshotFormat is returned by a read model's Restore for a snapshot it
// did not write (another format version, other limits, or not a snapshot
// at all): the caller folds the log again from its first record instead.
var ErrSnapshotFormat = errors.New("unknown snapshot format")

// snapshotJSON is what every read model's snapshot looks like: the version
// of its format, and its state.
type snapshotJSON struct {
	Format int             `json:"format"`
	State  json.RawMessage `json:"state"`
}

// MarshalSnapshot writes state (a JSON value) as a snapshot of the given
// format version, for a read model's Snapshot. A read model takes a new
// format number whenever what it keeps changes, so that an older snapshot
// is refused rather than misread.
func MarshalSnapshot(format int, state any) ([]byte, error) {
	s, err := json.Marshal(state)
	if err != nil {
		return nil, err
	}
	return json.Marshal(snapshotJSON{Format: format, State: s})
}

// UnmarshalSnapshot reads into state a snapshot MarshalSnapshot wrote with
// this format version, for a read model's Restore; any other bytes are
// ErrSnapshotFormat.
func UnmarshalSnapshot(data []byte, format int, state any) error {
	var s snapshotJSON
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshotFormat, err)
	}
	if s.Format != format {
		return fmt.Errorf("%w: format %d, this binary reads %d", ErrSnapshotFormat, s.Format, format)
	}
	if err := json.Unmarshal(s.State, state); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshotFormat, err)
	}
	return nil
}

// SnapshotLocked is a read model's Snapshot: the state take returns, taken
// under mu's read lock so that no Apply changes it meanwhile, written with
// MarshalSnapshot in the given format.
func SnapshotLocked[S any](mu *sync.RWMutex, format int, take func() S) ([]byte, error) {
	mu.RLock()
	defer mu.RUnlock()
	return MarshalSnapshot(format, take())
}

// RestoreLocked is a read model's Restore: it reads data with
// UnmarshalSnapshot in the given format, then hands the state to restore
// under mu's lock. Bytes of another format are ErrSnapshotFormat and
// restore does not run; restore refuses a state it cannot take (with
// ErrSnapshotFormat) by leaving the view as it was.
func RestoreLocked[S any](mu *sync.RWMutex, data []byte, format int, restore func(S) error) error {
	var s S
	if err := UnmarshalSnapshot(data, format, &s); err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	return restore(s)
}
