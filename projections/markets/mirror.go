package markets

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Bucket is where the mirror writes: one value per key, the latest wins.
// natslog.Store over the bucket "market_state" is the production one.
type Bucket interface {
	Put(ctx context.Context, key string, value []byte) error
}

// BucketName is the key-value bucket the economy mirrors its markets into.
const BucketName = "market_state"

// Mirror keeps a key-value bucket in step with a View: one key per
// resource, whose value is the market's JSON (MarketState.MarshalJSON,
// with at most MirrorTransactionsMax recent transactions). It writes a key
// only when the market's JSON changed, and coalesces changes that come
// faster than its interval, so that `nats kv watch market_state` shows
// prices move without the mirror ever holding back the log. The bucket is
// derived data: losing it, or a failed write, loses nothing (the next pass
// writes the market again).
type Mirror struct {
	view     *View
	bucket   Bucket
	logger   *slog.Logger
	interval time.Duration

	mu      sync.Mutex        // one pass at a time
	written map[string][]byte // the last value stored per key
	done    uint64            // the view's version every value is written up to
}

// MirrorOption configures a Mirror.
type MirrorOption func(*Mirror)

// WithInterval sets the least time between two passes (default
// MirrorIntervalDefault; 0: write at every change).
func WithInterval(d time.Duration) MirrorOption {
	return func(m *Mirror) { m.interval = max(d, 0) }
}

// NewMirror returns a mirror of view into bucket; logger may be nil.
func NewMirror(view *View, bucket Bucket, logger *slog.Logger, opts ...MirrorOption) (*Mirror, error) {
	if view == nil || bucket == nil {
		return nil, fmt.Errorf("markets: %w: a mirror needs a view and a bucket", ErrNilDependency)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{view: view, bucket: bucket, logger: logger, interval: MirrorIntervalDefault, written: map[string][]byte{}}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// Run writes every change until ctx is done; it then returns nil. A failed
// write is logged and retried with a growing delay: the mirror never stops
// the economy.
func (m *Mirror) Run(ctx context.Context) error {
	retry := mirrorRetryMin
	for {
		changed := m.view.changes() // taken before the pass: a change during it wakes the next
		if err := m.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.logger.Warn("market_state mirror: write failed; retrying", "err", err, "in", retry)
			if !sleep(ctx, retry) {
				return nil
			}
			retry = min(2*retry, mirrorRetryMax)
			continue
		}
		retry = mirrorRetryMin
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		if !sleep(ctx, m.interval) {
			return nil
		}
	}
}

// Sync writes, once, every market that changed since the last pass and
// whose JSON differs from what the bucket holds from this mirror.
func (m *Mirror) Sync(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	states, upTo := m.view.changedSince(m.done)
	for _, s := range states {
		if len(s.RecentTransactions) > MirrorTransactionsMax {
			s.RecentTransactions = s.RecentTransactions[:MirrorTransactionsMax]
		}
		value, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("market %s: %w", s.Resource, err)
		}
		if bytes.Equal(m.written[s.Resource], value) {
			continue
		}
		if err := m.bucket.Put(ctx, s.Resource, value); err != nil {
			return err // done stays: the next pass takes this market again
		}
		m.written[s.Resource] = value
	}
	m.done = upTo
	return nil
}

// sleep waits d, or less if ctx ends first; it reports whether ctx is
// still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
