package economy

import "github.com/agora-econ/agora/economy/config"

// Below these sizes an actor appends a batch event by event, each expecting
// the one before; from them on as one JetStream atomic batch. An atomic
// batch is staged through a store of its own on the server (about 3 ms
// whatever its size, more than its messages alone); one by one, each event
// costs a round trip, and with fsync on every write a disk sync. Measured
// with `agora bench clearing --agents 4` and `--agents 20` (batches of 2 to
// 10 events): with fsync on every write, events one by one win for 2 or 3
// and the atomic batch from about 5; on the interval sync, one by one wins
// up to far larger batches. See docs/decisions.md.
const (
	atomicBatchMinSyncAlways   = 4
	atomicBatchMinSyncInterval = 64
)

// atomicBatchMin is the runtime's AtomicBatchMin for the embedded server's
// fsync policy; 0 (the runtime's default) for a server of another's.
func atomicBatchMin(cfg config.Config) int {
	switch {
	case cfg.Nats.URL != "":
		return 0
	case cfg.Nats.Sync == config.SyncAlways:
		return atomicBatchMinSyncAlways
	default:
		return atomicBatchMinSyncInterval
	}
}
