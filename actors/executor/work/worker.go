package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
)

// Sandbox is what a worker runs programs in (*sandbox.Sandbox).
type Sandbox interface {
	executor.Runner
	// SocketPath is where a program sees the host's socket at path.
	SocketPath(path string) string
	// GrantSocket lets the programs connect to the socket at path.
	GrantSocket(path string) error
}

// WorkerConfig is what a Worker needs; Conn, JS, Sandbox and Dir are
// required.
type WorkerConfig struct {
	Conn    *nats.Conn
	JS      jetstream.JetStream
	Queue   Queue
	Sandbox Sandbox
	// Dir is the worker's own directory: the workspaces of the programs it
	// runs, and the System Service's socket.
	Dir string
	// ID names the worker in its results and logs (default: host name and
	// process id).
	ID string
	// Concurrency is how many programs it runs at once
	// (ConcurrencyDefault when 0).
	Concurrency int
	// Service is the System Service as the programs reach it: on a worker
	// machine, a relay of their calls to the economy over NATS
	// (api/relay.Handler), which checks their tokens.
	Service http.Handler
	Logger  *slog.Logger
	// OnDone, when set, is told of each order the worker answered (tests,
	// benchmarks). It must not block.
	OnDone func(Order, Result)
}

// Worker takes execution orders from the queue and runs them.
type Worker struct {
	cfg    WorkerConfig
	socket string
	url    string
}

// Why a program's context was cancelled.
var (
	errCancelled = errors.New("cancelled by the economy")
	errHoldLost  = errors.New("the order's heartbeat could not be confirmed")
)

// NewWorker checks the configuration and prepares the worker's directory.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if cfg.Conn == nil || cfg.JS == nil || cfg.Sandbox == nil || cfg.Dir == "" || cfg.Service == nil {
		return nil, errors.New("work: a worker needs a NATS connection, its JetStream, a sandbox, a directory and the System Service")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = ConcurrencyDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// What a worker killed outright left behind is no one's: an order is
	// always run from the store's copy.
	runs := filepath.Join(dir, "runs")
	if err := os.RemoveAll(runs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(runs, 0o700); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, socket: filepath.Join(dir, "agora.sock")}, nil
}

// ID names the worker.
func (w *Worker) ID() string { return w.cfg.ID }

// Run serves the System Service to its programs on its socket, waits for
// the queue (the economy makes it), then runs orders, Concurrency at once,
// until ctx ends; the programs still running then are killed, and their
// orders go to another worker after the ack wait (as lost: they run again
// as their next attempt).
func (w *Worker) Run(ctx context.Context) error {
	ln, err := w.listen()
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: w.cfg.Service, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	w.url = "unix://" + w.cfg.Sandbox.SocketPath(w.socket)

	var b bound
	for {
		b, err = bind(ctx, w.cfg.JS, w.cfg.Queue)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNoQueue) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		w.cfg.Logger.Info("work: waiting for the economy to create the queue", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(4 * RetryInterval):
		}
	}
	w.cfg.Logger.Info("worker running", "id", w.cfg.ID, "concurrency", w.cfg.Concurrency, "ack_wait", b.ackWait)
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Go(func() { w.slot(ctx, b) })
	}
	wg.Wait()
	return nil
}

func (w *Worker) listen() (net.Listener, error) {
	if err := os.Remove(w.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("work: remove stale socket: %w", err)
	}
	ln, err := net.Listen("unix", w.socket)
	if err != nil {
		return nil, fmt.Errorf("work: system service socket: %w", err)
	}
	if err := w.cfg.Sandbox.GrantSocket(w.socket); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// slot runs one order at a time until ctx ends.
func (w *Worker) slot(ctx context.Context, b bound) {
	for ctx.Err() == nil {
		batch, err := b.consumer.Fetch(1, jetstream.FetchMaxWait(FetchWait))
		if err != nil {
			if ctx.Err() == nil {
				w.cfg.Logger.Warn("work: fetch", "err", err)
				time.Sleep(RetryInterval)
			}
			continue
		}
		for m := range batch.Messages() {
			w.handle(ctx, b, m)
		}
	}
}

// handle runs one order to its end and acknowledges it, or gives it up
// (its hold lost, the worker stopping) for the server to deliver again.
func (w *Worker) handle(ctx context.Context, b bound, m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		w.cfg.Logger.Error("work: order without metadata", "err", err)
		_ = m.Term()
		return
	}
	var o Order
	if err := json.Unmarshal(m.Data(), &o); err == nil {
		err = o.validate()
	}
	if err != nil {
		w.cfg.Logger.Error("work: order refused", "seq", meta.Sequence.Stream, "err", err)
		_ = m.Term()
		return
	}
	log := w.cfg.Logger.With("agent", o.AgentID, "execution", o.ExecutionID, "attempt", o.Attempt)
	if meta.NumDelivered > 1 {
		// The worker that had it died or was cut off, and killed its
		// program (see the package documentation): lost.
		log.Warn("work: order delivered again; its program was lost", "deliveries", meta.NumDelivered)
		w.answer(ctx, b.store, m, o, Result{ExecutionID: o.ExecutionID, Attempt: o.Attempt, Worker: w.cfg.ID, Lost: true}, fresh(b.ackWait), log)
		return
	}
	timeout := o.timeout(time.Now())
	if timeout < RunMin {
		log.Warn("work: order too late to start", "left", timeout)
		w.answer(ctx, b.store, m, o, Result{ExecutionID: o.ExecutionID, Attempt: o.Attempt, Worker: w.cfg.ID, Lost: true}, fresh(b.ackWait), log)
		return
	}
	w.run(ctx, b, m, meta.Sequence.Stream, o, timeout, log)
}

// uploaded says whether a result comes with its attempt's version of the
// workspace.
func (r Result) uploaded() bool { return !r.Lost && r.Error == "" }

// run fetches the workspace, runs the program, writes the workspace back
// and answers, all under heartbeats; it gives the order up (no write-back,
// no answer, no acknowledgement) once it can no longer be sure to hold it.
func (w *Worker) run(ctx context.Context, b bound, m jetstream.Msg, seq uint64, o Order, timeout time.Duration,
	log *slog.Logger) {
	res, keep, hb := w.runHeld(ctx, b, m, seq, o, timeout, log)
	defer hb.stop()
	if !keep {
		return
	}
	w.answer(ctx, b.store, m, o, res, hb.held, log)
}

func (w *Worker) runHeld(ctx context.Context, b bound, m jetstream.Msg, seq uint64, o Order, timeout time.Duration,
	log *slog.Logger) (Result, bool, *heartbeat) {
	res := Result{ExecutionID: o.ExecutionID, Attempt: o.Attempt, Worker: w.cfg.ID}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	stopWatch := context.AfterFunc(ctx, func() { cancel(ctx.Err()) })
	defer stopWatch()
	cancels, err := w.cfg.Conn.Subscribe(CancelSubject(o.AgentID), func(c *nats.Msg) {
		if string(c.Data) == strconv.FormatUint(seq, 10) {
			cancel(errCancelled)
		}
	})
	hb := w.heartbeat(b.ackWait, m, cancel)
	if err != nil {
		log.Warn("work: cannot hear cancellations; the order is given up", "err", err)
		return res, false, hb
	}
	defer func() { _ = cancels.Unsubscribe() }()

	dir := filepath.Join(w.cfg.Dir, "runs", o.AgentID+"-"+strconv.FormatUint(seq, 10))
	defer os.RemoveAll(dir)
	if err := getWorkspace(runCtx, b.store, o.AgentID, dir); err != nil {
		if !hb.held() || ctx.Err() != nil {
			return res, false, hb
		}
		log.Warn("work: no workspace", "err", err)
		res.Error = fmt.Sprintf("%s: %v", executor.ErrNoWorkspace, err)
		return res, true, hb
	}
	log.Info("work: order taken", "worker", w.cfg.ID)
	env := make(map[string]string, len(o.Env)+1)
	for k, v := range o.Env {
		env[k] = v
	}
	env[executor.EnvURL] = w.url
	spec := sandbox.Spec{Workspace: dir, Command: o.Command, Env: env, Socket: w.socket, CPUSeconds: o.CPUSeconds,
		MemoryMB: o.MemoryMB, WorkspaceMB: o.WorkspaceMB, Processes: o.Processes, Timeout: timeout}
	sres, err := w.cfg.Sandbox.Run(runCtx, spec)
	switch cause := context.Cause(runCtx); {
	case !hb.held(), ctx.Err() != nil:
		// Another worker may get the order after the ack wait: nothing of
		// this run is kept, so that nothing of it overlaps the next.
		log.Warn("work: order given up", "why", cause)
		return res, false, hb
	case errors.Is(cause, errCancelled):
		log.Info("work: program stopped at the economy's request")
	}
	if errors.Is(err, sandbox.ErrOutputLog) {
		log.Warn("work: output log", "err", err)
		err = nil
	}
	if err != nil {
		res.Error = err.Error()
		return res, true, hb
	}
	res = resultOf(o, w.cfg.ID, sres)
	if !hb.held() {
		return res, false, hb
	}
	// The attempt's own version: the Runner makes it the agent's
	// workspace if, and only if, it accepts this result.
	if err := putVersion(context.WithoutCancel(ctx), b.store, VersionName(o.AgentID, o.ExecutionID, o.Attempt), dir); err != nil {
		// What the program left is not kept: as far as the agent's memory
		// goes it did not run, so it runs again.
		log.Error("work: workspace not written back; the order is reported lost", "err", err)
		return Result{ExecutionID: o.ExecutionID, Attempt: o.Attempt, Worker: w.cfg.ID, Lost: true}, true, hb
	}
	return res, true, hb
}

// heartbeat keeps an order held: it tells the server every ackWait/8
// that the order is in progress and confirms each with a round trip
// bounded by ackWait/8. The order is held while a heartbeat was confirmed
// within ackWait/2; past that the program is cancelled (errHoldLost) and
// nothing more of the order may be done: the server delivers it again
// ackWait after the last heartbeat it got, which leaves the worker at
// least a quarter of ackWait to have killed its program.
type heartbeat struct {
	ackWait   time.Duration
	mu        sync.Mutex
	confirmed time.Time
	lost      bool
	once      sync.Once
	quit      chan struct{}
	done      chan struct{}
}

func (w *Worker) heartbeat(ackWait time.Duration, m jetstream.Msg, cancel context.CancelCauseFunc) *heartbeat {
	hb := &heartbeat{ackWait: ackWait, confirmed: time.Now(), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		tick := time.NewTicker(ackWait / 8)
		defer tick.Stop()
		for {
			select {
			case <-hb.quit:
				return
			case <-tick.C:
			}
			err := m.InProgress()
			if err == nil {
				err = w.cfg.Conn.FlushTimeout(ackWait / 8)
			}
			if err == nil && hb.held() {
				hb.mu.Lock()
				hb.confirmed = time.Now()
				hb.mu.Unlock()
				continue
			}
			if !hb.held() {
				w.cfg.Logger.Warn("work: heartbeat lost; the program is stopped and the order given up", "err", err)
				cancel(errHoldLost)
				return
			}
		}
	}()
	return hb
}

// held reports whether the order is still this worker's; once it is not,
// it never is again.
func (hb *heartbeat) held() bool {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if !hb.lost && time.Since(hb.confirmed) >= hb.ackWait/2 {
		hb.lost = true
	}
	return !hb.lost
}

// stop ends the heartbeats and waits for them.
func (hb *heartbeat) stop() {
	hb.once.Do(func() { close(hb.quit) })
	<-hb.done
}

// fresh says whether an order delivered just now, with no heartbeat, is
// still held.
func fresh(ackWait time.Duration) func() bool {
	since := time.Now()
	return func() bool { return time.Since(since) < ackWait/2 }
}

// answer acknowledges the order, then delivers the result to the Runner
// waiting for it. In that order, so that the agent's next order finds the
// queue free as soon as the Runner has its result; a worker that dies
// between both leaves a Runner without a result, which runs the execution
// again once its deadline has passed (executor.ErrRunnerLost). A result
// nobody takes (the economy stopped) is dropped: the economy runs the
// execution again at its next start.
func (w *Worker) answer(ctx context.Context, store jetstream.ObjectStore, m jetstream.Msg, o Order, res Result, held func() bool, log *slog.Logger) {
	data, err := json.Marshal(res)
	if err != nil {
		log.Error("work: result", "err", err)
		return
	}
	if !held() {
		// Acknowledged now, the order could be taken from another worker
		// that has it again: the queue would then let the agent's next
		// order in while that one runs.
		log.Warn("work: order given up before its acknowledgement")
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ResultTimeout)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		// Not acknowledged, it is delivered again after the ack wait and
		// answered lost: the result must not be delivered too.
		log.Warn("work: order not acknowledged; the result is dropped", "err", err)
		return
	}
	delivered, heard := false, false
	for range ResultTries {
		_, err = w.cfg.Conn.Request(DoneSubject(o.ExecutionID), data, ResultTimeout)
		if err == nil {
			delivered = true
			break
		}
		// Only "no responders" says the result reached no one; a timeout
		// may hide a Runner that took it.
		heard = heard || !errors.Is(err, nats.ErrNoResponders)
		if ctx.Err() != nil {
			break
		}
	}
	if !delivered {
		log.Warn("work: result not taken", "err", err)
		if !heard && res.uploaded() {
			// No Runner waits for this attempt, and none ever will: its
			// version of the workspace is no one's.
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), ResultTimeout)
			_ = store.Delete(dctx, VersionName(o.AgentID, o.ExecutionID, o.Attempt))
			dcancel()
		}
	}
	log.Info("work: order done", "worker", w.cfg.ID, "cause", res.Cause, "lost", res.Lost, "delivered", delivered)
	if w.cfg.OnDone != nil {
		w.cfg.OnDone(o, res)
	}
}
