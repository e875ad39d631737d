package work

import (
	"time"
)

// Names of the queue, the results and the workspaces on NATS. None is
// under events.> (the log, which observers read): the orders carry the
// agents' tokens.
const (
	// StreamDefault is the work-queue stream of the execution orders.
	StreamDefault = "AGORA_WORK"
	// ConsumerName is the one consumer every worker pulls from, so that
	// each order goes to one worker.
	ConsumerName = "workers"
	// BucketDefault is the object store of the workspaces: a tar per
	// version of an agent's workspace, and a pointer named by the agent's
	// id to the current one (archive.go).
	BucketDefault = "agora_workspaces"
	// SubjectPrefix is the root of every subject of the queue: orders
	// (work.exec.<agent id>), results (work.done.<execution id>) and
	// cancellations (work.cancel.<agent id>).
	SubjectPrefix = "work"
)

// OrderSubject is the subject of agentID's orders.
func OrderSubject(agentID string) string { return SubjectPrefix + ".exec." + agentID }

// DoneSubject is where the result of executionID's orders is sent.
func DoneSubject(executionID string) string { return SubjectPrefix + ".done." + executionID }

// CancelSubject is where a Runner asks the worker running one of
// agentID's orders to stop it.
func CancelSubject(agentID string) string { return SubjectPrefix + ".cancel." + agentID }

// Limits of the queue and its workers, in one place.
const (
	// AckWaitDefault is how long the server waits for a worker's heartbeat
	// before it delivers its order again (execution.worker_ack_seconds).
	AckWaitDefault = 10 * time.Second
	// AckWaitMin bounds it from below: a heartbeat every AckWait/4 must
	// have time for its round trip.
	AckWaitMin = time.Second
	// RunMin is the least time an order must have before its deadline for
	// its program to start; one with less (it waited in the queue, every
	// worker being busy) is answered "lost", and runs again with its lease
	// renewed.
	RunMin = time.Second
	// CancelWait bounds how long a Runner whose execution is stopped waits
	// for the worker to confirm it killed the program.
	CancelWait = 5 * time.Second
	// ResultTimeout bounds one try at delivering a result; ResultTries
	// bounds the tries. A result nobody takes (the economy stopped) is
	// dropped: the economy's next start runs the execution again.
	ResultTimeout = 2 * time.Second
	ResultTries   = 5
	// RetryInterval is how often a Runner looks again whether an older
	// order of the same agent has left the queue, and how often a worker
	// looks again for the queue when it starts before the economy.
	RetryInterval = 250 * time.Millisecond
	// FetchWait bounds one pull of a worker's slot.
	FetchWait = 5 * time.Second
	// WorkspaceBytesMax bounds the tar of one workspace read back from
	// the store (the workspace's quota, execution.workspace_mb, is checked
	// by the sandbox while the program runs).
	WorkspaceBytesMax = 1 << 30
	// ConcurrencyDefault is how many programs a worker runs at once when
	// --concurrency names no number.
	ConcurrencyDefault = 4
	// ConcurrencyMax bounds --concurrency.
	ConcurrencyMax = 256
)
