package projections

import (
	"math"
	"time"
)

// Instant is a time as nanoseconds since the Unix epoch, in UTC: a third of
// a time.Time, for read models that keep a time per agent ever created.
// The log's times are UTC (events.Encode), so the time read back is the
// one kept. The zero Instant is the zero time; the epoch itself is
// epochInstant.
type Instant int64

const epochInstant Instant = math.MinInt64

// InstantOf is t as an Instant.
func InstantOf(t time.Time) Instant {
	switch {
	case t.IsZero():
		return 0
	case t.UnixNano() == 0:
		return epochInstant
	}
	return Instant(t.UnixNano())
}

// Time is i as a time, in UTC.
func (i Instant) Time() time.Time {
	switch i {
	case 0:
		return time.Time{}
	case epochInstant:
		return time.Unix(0, 0).UTC()
	}
	return time.Unix(0, int64(i)).UTC()
}
