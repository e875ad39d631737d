package work

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// harness is a queue on a real embedded server, the System Service's
// relay answering "pong", and workers with real sandboxes.
type harness struct {
	t   *testing.T
	url string
	js  jetstream.JetStream
	nc  *nats.Conn
	q   Queue
	sb  *sandbox.Sandbox

	mu  sync.Mutex
	ran map[string][]string // worker id -> executions answered
	// calls are the paths the programs called, but /ping.
	calls chan string
	// gate holds every call to /gate until it is closed.
	gate chan struct{}
	// answered are the results the workers answered, as they answer.
	answered chan Result
}

func newHarness(t *testing.T, ackWait time.Duration) *harness {
	t.Helper()
	url, js, nc := natstest.Start(t)
	h := &harness{t: t, url: url, js: js, nc: nc, q: Queue{AckWait: ackWait}, ran: map[string][]string{},
		calls: make(chan string, 16),
		gate:  make(chan struct{}), answered: make(chan Result, 64)}
	ctx := context.Background()
	if err := Setup(ctx, js, h.q); err != nil {
		t.Fatal(err)
	}
	stop, err := relay.Serve(nc, relay.SubjectDefault, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			select {
			case h.calls <- r.URL.Path:
			default:
			}
		}
		if r.URL.Path == "/gate" {
			<-h.gate
		}
		_, _ = w.Write([]byte("pong " + r.URL.Path))
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	sb, _, err := sandbox.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	h.sb = sb
	return h
}

// worker starts a worker with a connection of its own, stopped with the
// test, and returns that connection.
func (h *harness) worker(id string, concurrency int) *nats.Conn {
	h.t.Helper()
	nc, err := nats.Connect(h.url)
	if err != nil {
		h.t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	w, err := NewWorker(WorkerConfig{Conn: nc, JS: js, Queue: h.q, Sandbox: h.sb, Dir: h.t.TempDir(), ID: id,
		Concurrency: concurrency, Service: relay.Handler(nc, relay.SubjectDefault),
		OnDone: func(o Order, r Result) {
			h.mu.Lock()
			h.ran[r.Worker] = append(h.ran[r.Worker], o.ExecutionID)
			h.mu.Unlock()
			select {
			case h.answered <- r:
			default:
			}
		}})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil {
			h.t.Errorf("worker %s: %v", id, err)
		}
	}()
	h.t.Cleanup(func() {
		cancel()
		<-done
		nc.Close()
	})
	return nc
}

func (h *harness) runner() *Runner {
	h.t.Helper()
	r, err := NewRunner(context.Background(), RunnerConfig{Conn: h.nc, JS: h.js, Queue: h.q})
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

// agent makes an agent's workspace on the economy's side and stores it.
func (h *harness) agent(id string, files map[string]string) string {
	h.t.Helper()
	dir := filepath.Join(h.t.TempDir(), id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	for p, c := range files {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o600); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := Put(context.Background(), h.js, h.q, id, dir); err != nil {
		h.t.Fatal(err)
	}
	return dir
}

// stored reads a file of an agent's stored workspace.
func (h *harness) stored(agentID, path string) string {
	h.t.Helper()
	store, err := h.js.ObjectStore(context.Background(), BucketDefault)
	if err != nil {
		h.t.Fatal(err)
	}
	dir := filepath.Join(h.t.TempDir(), "out")
	if err := getWorkspace(context.Background(), store, agentID, dir); err != nil {
		h.t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		h.t.Fatal(err)
	}
	return string(b)
}

func spec(dir, agentID, xid string, attempt int, script string, timeout time.Duration) sandbox.Spec {
	return sandbox.Spec{Workspace: dir, Command: []string{"sh", "-c", script},
		Env: map[string]string{executor.EnvAgentID: agentID, executor.EnvExecutionID: xid,
			executor.EnvAttempt: strconv.Itoa(attempt), executor.EnvToken: "secret",
			executor.EnvDeadline: time.Now().Add(timeout).UTC().Format(time.RFC3339Nano)},
		CPUSeconds: 5, MemoryMB: 128, WorkspaceMB: 16, Processes: 16, Timeout: timeout}
}

// pingScript appends the execution's id to log.txt and the relayed
// service's answer to /ping to reply.txt, through the Unix socket.
const pingScript = `echo "$AGORA_EXECUTION_ID" >> log.txt; python3 -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["AGORA_URL"][len("unix://"):])
s.sendall(b"GET /ping HTTP/1.0\r\nHost: x\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b: break
    data += b
open("reply.txt", "ab").write(data.split(b"\r\n\r\n", 1)[1] + b"\n")
'`

func TestOrdersRunOnWorkersAndWorkspacesTravel(t *testing.T) {
	h := newHarness(t, 4*time.Second)
	h.worker("w1", 2)
	h.worker("w2", 2)
	r := h.runner()
	const agents, rounds = 4, 3
	dirs := make([]string, agents)
	for a := range agents {
		dirs[a] = h.agent(fmt.Sprintf("a%d", a), map[string]string{"log.txt": "begin\n"})
	}
	var wg sync.WaitGroup
	for a := range agents {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("a%d", a)
				res, err := r.Run(context.Background(), spec(dirs[a], id, fmt.Sprintf("x%d-%d", a, i), 1, pingScript, 20*time.Second))
				if err != nil || res.Cause != sandbox.CauseExited || res.ExitCode != 0 {
					t.Errorf("%s round %d: %+v, %v", id, i, res, err)
				}
			}
		})
	}
	wg.Wait()
	for a := range agents {
		id := fmt.Sprintf("a%d", a)
		want := "begin\n"
		for i := range rounds {
			want += fmt.Sprintf("x%d-%d\n", a, i)
		}
		if got := h.stored(id, "log.txt"); got != want {
			t.Errorf("%s log.txt = %q, want %q (each run sees the last one's workspace)", id, got, want)
		}
		if got := h.stored(id, "reply.txt"); got != strings.Repeat("pong /ping\n", rounds) {
			t.Errorf("%s reply.txt = %q; output: %s", id, got, h.stored(id, sandbox.OutputLogPath))
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.ran["w1"]) + len(h.ran["w2"]); n != agents*rounds {
		t.Errorf("workers answered %d orders, want %d: %v", n, agents*rounds, h.ran)
	}
}

func TestOrderDeliveredAgainIsLost(t *testing.T) {
	h := newHarness(t, time.Second)
	r := h.runner()
	dir := h.agent("a", map[string]string{"log.txt": "begin\n"})
	type outcome struct {
		res sandbox.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(context.Background(), spec(dir, "a", "x1", 1, pingScript, 30*time.Second))
		done <- outcome{res, err}
	}()
	// A worker that takes the order and dies: it never heartbeats.
	cons, err := h.js.Consumer(context.Background(), StreamDefault, ConsumerName)
	if err != nil {
		t.Fatal(err)
	}
	var taken jetstream.Msg
	for taken == nil {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			taken = m
		}
	}
	h.worker("w1", 1)
	out := <-done
	if !errors.Is(out.err, executor.ErrRunnerLost) {
		t.Fatalf("run = %+v, %v; want ErrRunnerLost", out.res, out.err)
	}
	if got := h.stored("a", "log.txt"); got != "begin\n" {
		t.Errorf("a lost run changed the workspace: %q", got)
	}
	// The next attempt goes in: the lost order left the queue.
	res, err := r.Run(context.Background(), spec(dir, "a", "x1", 2, pingScript, 30*time.Second))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("attempt 2: %+v, %v", res, err)
	}
	if got := h.stored("a", "log.txt"); got != "begin\nx1\n" {
		t.Errorf("log.txt = %q", got)
	}
}

func TestOlderOrderIsStoppedBeforeTheNextRuns(t *testing.T) {
	h := newHarness(t, 4*time.Second)
	h.worker("w1", 2)
	h.worker("w2", 2)
	dir := h.agent("a", map[string]string{"log.txt": ""})
	// Attempt 1 was published by an economy that crashed: nobody waits for
	// its result, and its program runs on.
	o, err := orderOf(spec(dir, "a", "x1", 1, `echo start >> log.txt; python3 -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["AGORA_URL"][len("unix://"):])
s.sendall(b"GET /started HTTP/1.0\r\nHost: x\r\n\r\n"); s.recv(100)
'; sleep 60; echo end >> log.txt`, 90*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(o)
	if _, err := h.js.Publish(context.Background(), OrderSubject("a"), data); err != nil {
		t.Fatal(err)
	}
	select {
	case path := <-h.calls:
		if path != "/started" {
			t.Fatalf("call %q", path)
		}
	case <-time.After(time.Minute):
		t.Fatal("attempt 1 never called the service")
	}
	// The restarted economy runs it again as attempt 2.
	res, err := h.runner().Run(context.Background(), spec(dir, "a", "x1", 2, `echo second >> log.txt`, 30*time.Second))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("attempt 2: %+v, %v", res, err)
	}
	// Attempt 1 was killed: it did not run on beside attempt 2. What it
	// left is not kept (nobody waits for its result), so attempt 2 ran
	// on the workspace as it was.
	for res := range h.answered {
		if res.ExecutionID == "x1" && res.Attempt == 1 {
			if res.Cause != sandbox.CauseKilled {
				t.Errorf("attempt 1 ended %+v, want killed", res)
			}
			break
		}
	}
	if got := h.stored("a", "log.txt"); got != "second\n" {
		t.Errorf("log.txt = %q: attempt 1's write-back was kept", got)
	}
}

// TestWorkerCutOffStopsItsProgram: a worker loses its connection while its
// program runs. It cannot heartbeat, so it gives the order up and keeps
// nothing of the run; the order goes to another worker after the ack wait,
// which answers "lost", and the Runner says so. The workspace is as before.
func TestWorkerCutOffStopsItsProgram(t *testing.T) {
	h := newHarness(t, 2*time.Second)
	cut := h.worker("cut", 1)
	dir := h.agent("a", map[string]string{"log.txt": "begin\n"})
	type outcome struct {
		res sandbox.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := h.runner().Run(context.Background(), spec(dir, "a", "x1", 1, `echo start >> log.txt; python3 -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["AGORA_URL"][len("unix://"):])
s.sendall(b"GET /started HTTP/1.0\r\nHost: x\r\n\r\n"); s.recv(100)
'; sleep 60; echo end >> log.txt`, 90*time.Second))
		done <- outcome{res, err}
	}()
	select {
	case <-h.calls:
	case <-time.After(time.Minute):
		t.Fatal("the program never called the service")
	}
	cut.Close()
	h.worker("other", 1)
	out := <-done
	if !errors.Is(out.err, executor.ErrRunnerLost) {
		t.Fatalf("run = %+v, %v; want ErrRunnerLost", out.res, out.err)
	}
	if got := h.stored("a", "log.txt"); got != "begin\n" {
		t.Errorf("log.txt = %q: the cut-off worker kept something of its run", got)
	}
}

// TestStaleAttemptNeverOverwritesTheWorkspace: a worker frozen past its
// order's ack wait wakes up after the execution was given up and runs
// again as its next attempt: it writes its workspace back and sends its
// result, while the Runner waits for the next attempt, then again once
// nobody waits for that execution. Neither changes the agent's
// workspace, and the next order sees the accepted attempt's.
func TestStaleAttemptNeverOverwritesTheWorkspace(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, 4*time.Second)
	h.worker("w1", 1)
	r := h.runner()
	dir := h.agent("a", map[string]string{"memory": "v0\n"})
	store, err := h.js.ObjectStore(ctx, BucketDefault)
	if err != nil {
		t.Fatal(err)
	}
	// stale is what the frozen worker of attempt 1 of x1 does when it
	// wakes: it writes back, then sends its result.
	stale := func() error {
		t.Helper()
		sdir := filepath.Join(t.TempDir(), "stale")
		if err := os.Mkdir(sdir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sdir, "memory"), []byte("stale\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := putVersion(ctx, store, VersionName("a", "x1", 1), sdir); err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(Result{ExecutionID: "x1", Attempt: 1, Worker: "frozen", Cause: sandbox.CauseExited})
		_, err := h.nc.Request(DoneSubject("x1"), data, ResultTimeout)
		return err
	}
	type outcome struct {
		res sandbox.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Run(ctx, spec(dir, "a", "x1", 2, `python3 -c '
import os, socket
s = socket.socket(socket.AF_UNIX); s.connect(os.environ["AGORA_URL"][len("unix://"):])
s.sendall(b"GET /gate HTTP/1.0\r\nHost: x\r\n\r\n")
while s.recv(4096): pass
'; echo v2 > memory`, time.Minute))
		done <- outcome{res, err}
	}()
	select {
	case path := <-h.calls:
		if path != "/gate" {
			t.Fatalf("call %q", path)
		}
	case <-time.After(time.Minute):
		t.Fatal("attempt 2 never called the service")
	}
	// While attempt 2 runs.
	if err := stale(); err != nil {
		t.Fatalf("the stale result was not taken: %v", err)
	}
	if _, err := store.GetInfo(ctx, VersionName("a", "x1", 1)); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("the stale write-back is kept: %v", err)
	}
	if got := h.stored("a", "memory"); got != "v0\n" {
		t.Errorf("memory = %q while attempt 2 runs, want v0", got)
	}
	close(h.gate)
	out := <-done
	if out.err != nil || out.res.Cause != sandbox.CauseExited || out.res.ExitCode != 0 {
		t.Fatalf("attempt 2: %+v, %v", out.res, out.err)
	}
	if got := h.stored("a", "memory"); got != "v2\n" {
		t.Errorf("memory = %q after attempt 2, want v2", got)
	}
	// Once nobody waits for x1.
	if err := stale(); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("a result nobody waits for: %v, want no responders", err)
	}
	if got := h.stored("a", "memory"); got != "v2\n" {
		t.Errorf("memory = %q after the late write-back, want v2", got)
	}
	res, err := r.Run(ctx, spec(dir, "a", "x2", 1, `cp memory seen; echo v3 > memory`, 30*time.Second))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("x2: %+v, %v", res, err)
	}
	if got := h.stored("a", "seen"); got != "v2\n" {
		t.Errorf("x2 saw memory = %q, want attempt 2's v2", got)
	}
	// A real worker whose result nobody waits for (its economy gone)
	// deletes its write-back, and the workspace stays.
	o, err := orderOf(spec(dir, "a", "x3", 1, `echo gone > memory`, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(o)
	if _, err := h.js.Publish(ctx, OrderSubject("a"), data); err != nil {
		t.Fatal(err)
	}
	for res := range h.answered {
		if res.ExecutionID == "x3" {
			if res.Cause != sandbox.CauseExited {
				t.Errorf("x3 ended %+v", res)
			}
			break
		}
	}
	if got := h.stored("a", "memory"); got != "v3\n" {
		t.Errorf("memory = %q after an order nobody waited for, want v3", got)
	}
	// What is left: the pointer, the current version, and the stale
	// write-back the test made in the frozen worker's place (a real one
	// deletes it, as x3's worker did).
	lister, err := store.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, info := range lister {
		names = append(names, info.Name)
	}
	slices.Sort(names)
	if want := []string{"a", "a.x1.1", "a.x2.1"}; !slices.Equal(names, want) {
		t.Errorf("objects %v, want %v", names, want)
	}
}
