package economy

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/work"
	"github.com/agora-econ/agora/api/relay"
)

// WorkQueue is the work queue of cfg's economy: its stream and bucket, in
// as many copies as the log, with the configured ack wait.
func (n *Node) WorkQueue() work.Queue {
	return work.Queue{Replicas: n.cfg.Nats.Replicas, AckWait: n.cfg.Execution.WorkerAckWait()}
}

// leaveToWorkers makes the executions go to `agora worker` processes
// (execution.workers): the queue and the workspaces' bucket are made, each
// workspace created from now on is put in the bucket, and the System
// Service answers the workers' programs on relay.SubjectDefault. It
// returns the executor's Runner.
func (x *executions) leaveToWorkers(ctx context.Context, e *Economy, svc http.Handler) (executor.Runner, error) {
	n := e.node
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, err
	}
	q := n.WorkQueue()
	if err := work.Setup(ctx, js, q); err != nil {
		return nil, err
	}
	x.workspaces.OnCreate(func(agentID, dir string) error { return work.Put(e.ctx, js, q, agentID, dir) })
	runner, err := work.NewRunner(ctx, work.RunnerConfig{Conn: n.nc, JS: js, Queue: q, Mirror: true, Logger: n.logger})
	if err != nil {
		return nil, err
	}
	// Serve has not built e.system yet (the workspaces go to the store
	// from genesis on), so the relay serves svc; Stop drains it with the
	// others (ServeRelay), before the actors its calls reach.
	stop, err := relay.Serve(n.nc, relay.SubjectDefault, svc, relay.WithLogger(n.logger))
	if err != nil {
		return nil, fmt.Errorf("system service relay: %w", err)
	}
	e.relays.add(stop)
	n.logger.Info("executions are left to workers (execution.workers)", "queue", work.StreamDefault,
		"workspaces", work.BucketDefault, "system_service", relay.SubjectDefault, "ack_wait", q.AckWait)
	return runner, nil
}
