package series

import (
	"errors"
	"fmt"
)

// Defaults of the limits, those of economy/config (history.*).
const (
	// WindowCyclesDefault is how many recent cycles keep every point.
	WindowCyclesDefault = 1000
	// PointsMaxDefault is the most points of one market's series or the
	// economy's.
	PointsMaxDefault = 2000
	// AgentPointsMaxDefault is the most points of one agent's series.
	AgentPointsMaxDefault = 500
	// PointsMin is the fewest points a series may be bounded to: thinning
	// halves its old part, which needs a few points to halve.
	PointsMin = 4
)

// ErrInvalidLimit is returned by New and NewState for a limit out of
// bounds: a window of no cycle, or a series too small to thin.
var ErrInvalidLimit = errors.New("invalid limit")

// Option configures a State or a View.
type Option func(*limits) error

type limits struct {
	WindowCycles   uint64 `json:"window_cycles"`
	PointsMax      int    `json:"points_max"`
	AgentPointsMax int    `json:"agent_points_max"`
}

func newLimits(opts []Option) (limits, error) {
	l := limits{WindowCycles: WindowCyclesDefault, PointsMax: PointsMaxDefault, AgentPointsMax: AgentPointsMaxDefault}
	for _, o := range opts {
		if err := o(&l); err != nil {
			return limits{}, err
		}
	}
	return l, nil
}

// WithWindowCycles sets how many recent clearing cycles keep every point
// (history.window_cycles), at least 1.
func WithWindowCycles(n int) Option {
	return func(l *limits) error {
		if n < 1 {
			return fmt.Errorf("%w: window of %d cycles, want at least 1", ErrInvalidLimit, n)
		}
		l.WindowCycles = uint64(n)
		return nil
	}
}

// WithPointsMax sets the most points of one market's series or the
// economy's (history.points_max), at least PointsMin.
func WithPointsMax(n int) Option {
	return func(l *limits) error {
		if n < PointsMin {
			return fmt.Errorf("%w: %d points a series, want at least %d", ErrInvalidLimit, n, PointsMin)
		}
		l.PointsMax = n
		return nil
	}
}

// WithAgentPointsMax sets the most points of one agent's series
// (history.agent_points_max), at least PointsMin.
func WithAgentPointsMax(n int) Option {
	return func(l *limits) error {
		if n < PointsMin {
			return fmt.Errorf("%w: %d points an agent, want at least %d", ErrInvalidLimit, n, PointsMin)
		}
		l.AgentPointsMax = n
		return nil
	}
}
