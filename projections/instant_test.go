package projections

import (
	"testing"
	"time"
)

// An Instant gives back the time it was made of: the zero time, the epoch
// and any other UTC time.
func TestInstantKeepsTheTime(t *testing.T) {
	for _, at := range []time.Time{{}, time.Unix(0, 0).UTC(), time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1960, 1, 2, 3, 4, 5, 6, time.UTC)} {
		if got := InstantOf(at).Time(); got != at {
			t.Errorf("%v came back as %v", at, got)
		}
	}
}
