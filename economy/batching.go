package economy

import "github.com/agora-econ/agora/economy/config"

// Below these sizes an actor appends a batch event by event, each expecting
// the one before; from them on as one JetStream atomic batch. An atomic
// batch is staged through a store of its own on the server, a fixed cost
// whatever its size; one by one, each event costs a round trip, and with
// fsync on every write a disk sync. So with fsync on every write the atomic
// batch wins from a few events, and on the interval sync one by one wins up
// to far larger batches. With fsync on every write the actors' appends are
// also committed in groups (groupCommit), where an actor's batch is one
// member of the group's batch however many events it holds, and event by
// event it would wait for one group per event: from two events on, it goes
// whole. The measurements that set these values are in docs/decisions.md
// ("Group commit, and when a batch is atomic"; "Group commit across
// actors").
const (
	atomicBatchMinSyncAlways   = 2
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

// groupCommit reports whether the actors' appends are committed in groups
// across actors (events/groupcommit), one atomic batch for the appends
// that wait at the same time. With fsync on every write it is what lets
// the events of different actors share a disk sync, and multiplies the
// rate of many actors; on the interval sync the server syncs nothing per
// write, and single publishes, pipelined across actors, cost it less than
// the staging of an atomic batch. A server of another's is left as it was:
// its fsync policy is its own.
func groupCommit(cfg config.Config) bool {
	return cfg.Nats.URL == "" && cfg.Nats.Sync == config.SyncAlways
}
