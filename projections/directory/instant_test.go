package directory

import (
	"testing"
	"time"
)

// An entry keeps its times as instants: the zero time, the epoch and any
// other UTC time come back as they were given.
func TestInstantsKeepTheTime(t *testing.T) {
	for _, at := range []time.Time{{}, time.Unix(0, 0).UTC(), time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(1960, 1, 2, 3, 4, 5, 6, time.UTC)} {
		if got := instantOf(at).time(); got != at {
			t.Errorf("%v came back as %v", at, got)
		}
	}
}
