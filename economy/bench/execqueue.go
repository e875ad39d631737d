package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/actors/executor/work"
	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/events/natslog"
)

// execWorkersMax bounds --workers.
const execWorkersMax = 64

// execQueue is one program run by the economy node itself and through the
// work queue, with Workers programs at a time both ways.
type execQueue struct {
	Name    string     `json:"name"`
	Workers int        `json:"workers"`
	Local   execFigure `json:"local"`
	Queued  execFigure `json:"queued"`
	// Ratio is executions per second through the queue over those run
	// locally.
	Ratio float64 `json:"ratio_queued_to_local_per_second"`
	// SecondsLocal and SecondsQueued are the wall time of all the runs of
	// each way.
	SecondsLocal  float64 `json:"seconds_local"`
	SecondsQueued float64 `json:"seconds_queued"`
}

// measureQueue runs p runs times as the economy node runs executions
// itself (the sandbox, workers programs at a time) and runs times through
// the work queue on an embedded NATS server to workers in-process workers
// (one program each), each program of its own agent with its workspace in
// the object store, as `agora worker` runs them. On one machine this shows
// what the queue costs an execution (publish, fetch, the workspace from and
// back to the store, the result), not how workers on more machines scale.
func measureQueue(ctx context.Context, sb *sandbox.Sandbox, dir, socket string, runs, workers int, p execProgram) (execQueue, error) {
	q := execQueue{Name: p.Name, Workers: workers}
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: filepath.Join(dir, "nats-"+p.Name), Port: natslog.RandomPort})
	if err != nil {
		return q, err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	nc, js, err := natslog.Connect(url)
	if err != nil {
		return q, err
	}
	defer nc.Close()
	queue := work.Queue{}
	if err := work.Setup(ctx, js, queue); err != nil {
		return q, err
	}
	stopRelay, err := relay.Serve(nc, relay.SubjectDefault, http.NotFoundHandler())
	if err != nil {
		return q, err
	}
	defer stopRelay()
	// The workers' and the runner's lines would drown the report's.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopWorkers()
		wg.Wait()
	}()
	for i := range workers {
		wnc, err := nats.Connect(url)
		if err != nil {
			return q, err
		}
		defer wnc.Close()
		wjs, err := jetstream.New(wnc)
		if err != nil {
			return q, err
		}
		w, err := work.NewWorker(work.WorkerConfig{Conn: wnc, JS: wjs, Queue: queue, Sandbox: sb,
			Dir: filepath.Join(dir, fmt.Sprintf("worker-%s-%d", p.Name, i)), ID: fmt.Sprintf("w%d", i), Concurrency: 1,
			Service: relay.Handler(wnc, relay.SubjectDefault), Logger: quiet})
		if err != nil {
			return q, err
		}
		wg.Go(func() { _ = w.Run(wctx) })
	}
	runner, err := work.NewRunner(ctx, work.RunnerConfig{Conn: nc, JS: js, Queue: queue, Logger: quiet})
	if err != nil {
		return q, err
	}
	specs := make([]sandbox.Spec, workers)
	for i := range specs {
		ws := filepath.Join(dir, fmt.Sprintf("agent-%s-%d", p.Name, i))
		if err := os.Mkdir(ws, 0o700); err != nil {
			return q, err
		}
		specs[i] = sandbox.Spec{Workspace: ws, Command: p.Command, Socket: socket,
			Env:        map[string]string{executor.EnvURL: "unix://" + sb.SocketPath(socket), executor.EnvAgentID: fmt.Sprintf("a%d", i)},
			CPUSeconds: 10, MemoryMB: 256, WorkspaceMB: 256, Processes: 16, Timeout: time.Minute}
	}
	var mu sync.Mutex
	n := 0
	local := func(ctx context.Context, i int) error {
		res, err := sb.Run(ctx, specs[i])
		if err == nil && (res.Cause != sandbox.CauseExited || res.ExitCode != 0) {
			err = fmt.Errorf("local run ended with %s", res)
		}
		return err
	}
	queued := func(ctx context.Context, i int) error {
		mu.Lock()
		n++
		xid := fmt.Sprintf("x%d", n)
		mu.Unlock()
		spec := specs[i]
		spec.Env = map[string]string{executor.EnvAgentID: spec.Env[executor.EnvAgentID], executor.EnvExecutionID: xid,
			executor.EnvAttempt: "1", executor.EnvDeadline: time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)}
		res, err := runner.Run(ctx, spec)
		if err == nil && (res.Cause != sandbox.CauseExited || res.ExitCode != 0) {
			err = fmt.Errorf("queued run ended with %s", res)
		}
		return err
	}
	// One unmeasured run each way and agent: the workspaces go to the
	// store, the workers' first fetch, the sandbox's first uids.
	for i := range workers {
		if err := local(ctx, i); err != nil {
			return q, err
		}
		if err := queued(ctx, i); err != nil {
			return q, err
		}
	}
	// Local first or queued first in turn, a quarter of the runs at a time,
	// so that both see the same machine.
	var localTimes, queuedTimes []time.Duration
	var localWall, queuedWall time.Duration
	for round := range 4 {
		share := runs / 4
		if round == 3 {
			share = runs - 3*share
		}
		ways := []struct {
			f     func(context.Context, int) error
			times *[]time.Duration
			wall  *time.Duration
		}{{local, &localTimes, &localWall}, {queued, &queuedTimes, &queuedWall}}
		if round%2 == 1 {
			ways[0], ways[1] = ways[1], ways[0]
		}
		for _, way := range ways {
			ts, wall, err := concurrently(ctx, workers, share, way.f)
			if err != nil {
				return q, err
			}
			*way.times = append(*way.times, ts...)
			*way.wall += wall
		}
	}
	q.Local, q.Queued = execFigures(localTimes), execFigures(queuedTimes)
	q.SecondsLocal, q.SecondsQueued = localWall.Seconds(), queuedWall.Seconds()
	// Executions per second are of the whole, workers at a time.
	if localWall > 0 {
		q.Local.PerSecond = float64(len(localTimes)) / localWall.Seconds()
	}
	if queuedWall > 0 {
		q.Queued.PerSecond = float64(len(queuedTimes)) / queuedWall.Seconds()
	}
	if q.Local.PerSecond > 0 {
		q.Ratio = q.Queued.PerSecond / q.Local.PerSecond
	}
	return q, nil
}

// concurrently runs f total times, by lanes goroutines (lane i runs
// agent i's programs one after the other), and returns each run's time and
// the wall time of all.
func concurrently(ctx context.Context, lanes, total int, f func(context.Context, int) error) ([]time.Duration, time.Duration, error) {
	var mu sync.Mutex
	var times []time.Duration
	var first error
	var wg sync.WaitGroup
	began := time.Now()
	for lane := range lanes {
		count := total / lanes
		if lane < total%lanes {
			count++
		}
		wg.Go(func() {
			for range count {
				t := time.Now()
				err := f(ctx, lane)
				mu.Lock()
				times = append(times, time.Since(t))
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return times, time.Since(began), first
}
