package economy

import "github.com/agora-econ/agora/economy/config"

// Below these sizes an actor appends a batch event by event, each expecting
// the one before; from them on as one JetStream atomic batch. An atomic
// batch is staged through a store of its own on the server, a fixed cost
// whatever its size; one by one, each event costs a round trip, and with
// fsync on every write a disk sync. So with fsync on every write the atomic
// batch wins from a few events, and on the interval sync one by one wins up
// to far larger batches. The measurements that set these values are in
// docs/decisions.md ("Group commit, and when a batch is atomic").
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
