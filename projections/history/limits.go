package history

import "fmt"

// HistoryLengthMax is how many transactions are kept per agent by default;
// older ones are dropped, newest kept. The log keeps them all.
const HistoryLengthMax = 1000

// RecentLengthMax is how many of the economy's transactions are kept by
// default for Recent.
const RecentLengthMax = 1000

// Option configures a State or a View.
type Option func(*limits) error

type limits struct {
	historyLengthMax int
	recentLengthMax  int
}

func newLimits(opts []Option) (limits, error) {
	l := limits{historyLengthMax: HistoryLengthMax, recentLengthMax: RecentLengthMax}
	for _, o := range opts {
		if err := o(&l); err != nil {
			return limits{}, err
		}
	}
	return l, nil
}

// WithHistoryLengthMax sets how many transactions are kept per agent.
func WithHistoryLengthMax(n int) Option {
	return func(l *limits) error {
		if n < 1 {
			return fmt.Errorf("%w: history length %d, want at least 1", ErrInvalidLimit, n)
		}
		l.historyLengthMax = n
		return nil
	}
}

// WithRecentLengthMax sets how many of the economy's transactions are kept.
func WithRecentLengthMax(n int) Option {
	return func(l *limits) error {
		if n < 1 {
			return fmt.Errorf("%w: recent length %d, want at least 1", ErrInvalidLimit, n)
		}
		l.recentLengthMax = n
		return nil
	}
}
