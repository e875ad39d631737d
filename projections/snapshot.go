package projections

import (
	"encoding/json"
	"errors"
	"fmt"
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
