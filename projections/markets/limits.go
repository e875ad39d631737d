package markets

import "time"

// HistoryLengthDefault is how many transactions each market keeps when the
// zero State is used (allocation.transaction_history_length's default).
const HistoryLengthDefault = 20

// HistoryLengthMax is the largest history length a market may keep
// (allocation.transaction_history_length's maximum).
const HistoryLengthMax = 100_000

// MirrorTransactionsMax bounds the transactions in one key-value value: a
// value must fit in one NATS message (1 MiB by default), and a watcher
// wants prices, not an archive. The API serves the whole history.
const MirrorTransactionsMax = 100

// MirrorIntervalDefault is the least time between two passes of the
// mirror. Changes in between are coalesced, so a busy book costs at most
// one write per market per interval, however many bids move.
const MirrorIntervalDefault = 100 * time.Millisecond

// Backoff of the mirror after a failed write.
const (
	mirrorRetryMin = 500 * time.Millisecond
	mirrorRetryMax = 30 * time.Second
)
