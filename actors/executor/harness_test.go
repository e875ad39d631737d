package executor_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections/economy"
)

// TestMain checks that no test leaves a goroutine behind: every executor,
// manager, host, program and embedded server is stopped by its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The registry of the ticket package is the executor's Tickets.
var _ executor.Tickets = (*ticket.Registry)(nil)

const pool = "main"

var (
	markets = map[string]events.MarketTerms{
		"cpu_seconds": {SupplyUnits: events.WholeUnits(10), PriceMicros: events.Credits(1), MinPriceMicros: 10_000, MaxPriceMicros: events.Credits(100)},
		"memory_mb":   {SupplyUnits: events.WholeUnits(1000), PriceMicros: 10_000, MinPriceMicros: 100, MaxPriceMicros: events.Credits(1)},
	}
	cleared      = []string{"cpu_seconds", "memory_mb"}
	rules        = events.PriceRules{HighMarkPPM: 800_000, LowMarkPPM: 200_000, StepUpPPM: 100_000, StepDownPPM: 100_000}
	leaseTimeout = time.Minute
	waitMax      = 30 * time.Second
)

// procRunner runs each program as a plain OS process in its workspace
// (the sandbox's job, without the sandbox): its own process group, killed
// whole at the deadline or when ctx ends. before, when set, is called
// first (a barrier); after, when set, once the program is over.
type procRunner struct {
	before func(sandbox.Spec)
	// hold, when set, keeps Run from returning after a cancellation until
	// it is closed: a process that dies slowly.
	hold chan struct{}
}

func (p *procRunner) Run(ctx context.Context, s sandbox.Spec) (sandbox.Result, error) {
	if p.before != nil {
		p.before(s)
	}
	cmd := exec.Command(s.Command[0], s.Command[1:]...)
	cmd.Dir = s.Workspace
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		cmd.Env = append(cmd.Env, k+"="+s.Env[k])
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return sandbox.Result{}, fmt.Errorf("%w: %v", sandbox.ErrSandboxFailed, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	dctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	cause := sandbox.CauseExited
	select {
	case <-done:
	case <-dctx.Done():
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		cause = sandbox.CauseKilled
		if ctx.Err() == nil {
			cause = sandbox.CauseDeadline
		}
		if p.hold != nil {
			<-p.hold
		}
	}
	r := sandbox.Result{ExitCode: cmd.ProcessState.ExitCode(), Cause: cause, Wall: time.Since(began)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		r.MemoryPeakBytes = ru.Maxrss << 10
	}
	return r, nil
}

// sh is a command that runs a shell script.
func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// natsURLs are the client URLs of the tests' servers (natstest.Forge).
var natsURLs = map[*testing.T]string{}

// backend is a real embedded JetStream server: a log and a store that
// outlive the economies of a test.
func backend(t *testing.T) (events.Log, events.Store) {
	t.Helper()
	url, js, _ := natstest.Start(t)
	natsURLs[t] = url
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return log, store
}

// econ is one process of the economy: the actors, the transfer and
// clearing managers, and (once started) the executor.
type econ struct {
	t        *testing.T
	log      events.Log
	store    events.Store
	host     *runtime.Host
	accounts *agent.Accounts
	svc      *clearing.Service
	ws       *executor.Workspaces
	tickets  *ticket.Registry

	managers    []*runtime.ManagerRunner
	stopManager context.CancelFunc
	managerDone chan error

	ex       *executor.Executor
	stopEx   context.CancelFunc
	exDone   chan error
	reportMu sync.Mutex
	reports  map[string]executor.Report
	reported chan struct{}
}

func boot(t *testing.T, log events.Log, store events.Store, wsRoot string) *econ {
	t.Helper()
	host, err := runtime.NewHost(log, store, runtime.Options{SnapshotEvery: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := executor.NewWorkspaces(wsRoot)
	if err != nil {
		t.Fatal(err)
	}
	e := &econ{t: t, log: log, store: store, host: host, accounts: agent.NewAccounts(host), ws: ws, tickets: ticket.New(),
		managerDone: make(chan error, 2), reports: map[string]executor.Report{}, reported: make(chan struct{}, 1)}
	var clearingMgr *runtime.ManagerRunner
	for _, m := range []runtime.Manager{agent.TransferManager(), clearing.Manager(pool)} {
		mr, err := runtime.NewManagerRunner(m, host, log, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name == clearing.ManagerName {
			clearingMgr = mr
		}
		e.managers = append(e.managers, mr)
	}
	if e.svc, err = clearing.NewService(host, e.accounts, clearingMgr, pool); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.stopManager = cancel
	for _, mr := range e.managers {
		go func() { e.managerDone <- mr.Run(ctx) }()
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if err := e.svc.Configure(cctx, markets, cleared, rules, leaseTimeout, 0); err != nil {
		t.Fatal(err)
	}
	return e
}

// newExecutor is an executor with runner, not yet running.
func (e *econ) newExecutor(runner executor.Runner) *executor.Executor {
	e.t.Helper()
	ex, err := executor.New(executor.Config{Pool: pool, Log: e.log, Store: e.store, Accounts: e.accounts, Clearing: e.svc,
		Workspaces: e.ws, Runner: runner, Tickets: e.tickets, Agents: executor.AgentsInLog(e.log), Admitted: e.host.Admitted,
		Timeout: 20 * time.Second, ServiceURL: "http+unix:///run/agora.sock", OnDone: e.onDone})
	if err != nil {
		e.t.Fatal(err)
	}
	return ex
}

// startExecutor runs the executor with runner.
func (e *econ) startExecutor(runner executor.Runner) {
	e.t.Helper()
	e.run(e.newExecutor(runner))
}

// run runs ex until stopExecutor.
func (e *econ) run(ex *executor.Executor) {
	ctx, cancel := context.WithCancel(context.Background())
	e.ex, e.stopEx, e.exDone = ex, cancel, make(chan error, 1)
	go func() { e.exDone <- ex.Run(ctx) }()
}

func (e *econ) onDone(r executor.Report) {
	e.reportMu.Lock()
	e.reports[r.ExecutionID] = r
	e.reportMu.Unlock()
	select {
	case e.reported <- struct{}{}:
	default:
	}
}

// report waits for what became of execution xid.
func (e *econ) report(xid string) executor.Report {
	e.t.Helper()
	deadline := time.After(waitMax)
	for {
		e.reportMu.Lock()
		r, ok := e.reports[xid]
		e.reportMu.Unlock()
		if ok {
			return r
		}
		select {
		case <-e.reported:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			e.t.Fatalf("no report of execution %s after %s", xid, waitMax)
		}
	}
}

// stopExecutor stops the executor and waits for it.
func (e *econ) stopExecutor() {
	e.t.Helper()
	if e.stopEx == nil {
		return
	}
	e.stopEx()
	e.stopEx = nil
	if err := <-e.exDone; err != nil {
		e.t.Fatalf("executor: %v", err)
	}
}

// close stops the executor, the managers, then the host.
func (e *econ) close() {
	e.t.Helper()
	e.stopExecutor()
	if e.stopManager != nil {
		e.stopManager()
		e.stopManager = nil
		for range e.managers {
			if err := <-e.managerDone; err != nil {
				e.t.Fatalf("manager: %v", err)
			}
		}
	}
	e.host.Stop()
}

// settle waits until both managers have reacted to every record in the
// log, including the records their reactions wrote (both follow the whole
// stream).
func (e *econ) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	for {
		last, err := e.log.LastSeq(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, mr := range e.managers {
			if err := mr.WaitFloor(ctx, last); err != nil {
				e.t.Fatalf("settle: %v", err)
			}
		}
		if now, _ := e.log.LastSeq(ctx); now == last {
			return
		}
	}
}

// createAgent makes the agent's workspace, then its account with its
// program, as the System Service does.
func (e *econ) createAgent(id string, grant int64, command []string, files map[string]string) {
	e.t.Helper()
	if _, err := e.ws.Create(id, bytesOf(files)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.accounts.Do(context.Background(), id, "", agent.Create{GrantMicros: events.Credits(grant), Command: command}); err != nil {
		e.t.Fatal(err)
	}
}

// place places a bid of agentID for cpu seconds and 10 MB (for
// beneficiary, if not empty) and returns its id.
func (e *econ) place(agentID string, cpu, credits int64, beneficiary, payload string) string {
	e.t.Helper()
	terms := events.BidTerms{Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(cpu), "memory_mb": events.WholeUnits(10)},
		BeneficiaryID: beneficiary, Payload: payload}
	id, status, err := e.svc.Place(context.Background(), agentID, "", terms, events.Credits(credits))
	if err != nil || status != clearing.StatusOpen {
		e.t.Fatalf("place for %s: %s, %v", agentID, status, err)
	}
	return id
}

// clear runs the next cycle at at; it returns once the cycle's payments
// and leases are applied.
func (e *econ) clear(at time.Time) events.CycleCleared {
	e.t.Helper()
	cc, _, err := e.svc.Clear(context.Background(), at)
	if err != nil {
		e.t.Fatal(err)
	}
	if cc == nil {
		e.t.Fatal("idle cycle")
	}
	return *cc
}

func (e *econ) account(id string) agent.Account {
	e.t.Helper()
	a, err := e.accounts.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// leased is what market r leases now, as its actor says.
func (e *econ) leased(r string) events.Units {
	e.t.Helper()
	m, err := e.svc.Market(context.Background(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.LeasedUnits
}

// fact is one event of the log with its place.
type fact struct {
	seq   uint64
	kind  events.Kind
	id    string
	event events.Event
}

// facts reads the whole log, but for the records that do not decode
// (forged ones: badrecords_test.go).
func facts(t *testing.T, log events.Log) []fact {
	t.Helper()
	var out []fact
	err := log.Read(context.Background(), events.SubjectRoot+".>", 1, func(r events.Record) error {
		e, err := events.Read(r)
		if errors.Is(err, events.ErrBadRecord) {
			return nil
		}
		if err != nil {
			return err
		}
		kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
		out = append(out, fact{seq: r.Seq, kind: kind, id: id, event: e})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// history is what the log says of one execution.
type history struct {
	paid, started, ended, released []uint64 // sequences
	start                          events.ExecutionStarted
	end                            events.ExecutionEnded
	release                        events.ExecutionReleased
	leaseReleases                  map[string]int // market -> lease_released
	// attempts are the attempts of its execution_resumed events, in log
	// order; renewed counts its lease_renewed events.
	attempts []int
	renewed  int
}

func historyOf(t *testing.T, log events.Log, xid string) history {
	t.Helper()
	h := history{leaseReleases: map[string]int{}}
	for _, f := range facts(t, log) {
		switch e := f.event.(type) {
		case events.HoldPosted:
			if e.ExecutionID == xid {
				h.paid = append(h.paid, f.seq)
			}
		case events.ExecutionStarted:
			if e.ExecutionID == xid {
				h.started, h.start = append(h.started, f.seq), e
			}
		case events.ExecutionEnded:
			if e.ExecutionID == xid {
				h.ended, h.end = append(h.ended, f.seq), e
			}
		case events.ExecutionReleased:
			if e.ExecutionID == xid {
				h.released, h.release = append(h.released, f.seq), e
			}
		case events.LeaseReleased:
			if e.ExecutionID == xid {
				h.leaseReleases[f.id]++
			}
		case events.ExecutionResumed:
			if e.ExecutionID == xid {
				h.attempts = append(h.attempts, e.Attempt)
			}
		case events.LeaseRenewed:
			if e.ExecutionID == xid {
				h.renewed++
			}
		}
	}
	return h
}

// ranOnce checks that the execution was paid, started, ended and released
// exactly once each, in that order, and each of its markets released its
// lease once.
func (h history) ranOnce(t *testing.T, xid string) {
	t.Helper()
	if len(h.paid) != 1 || len(h.started) != 1 || len(h.ended) != 1 || len(h.released) != 1 {
		t.Fatalf("%s: paid %v, started %v, ended %v, released %v; want each once", xid, h.paid, h.started, h.ended, h.released)
	}
	if !(h.paid[0] < h.started[0] && h.started[0] < h.ended[0] && h.ended[0] < h.released[0]) {
		t.Fatalf("%s: paid at %d, started at %d, ended at %d, released at %d: out of order", xid, h.paid[0], h.started[0], h.ended[0], h.released[0])
	}
	for _, r := range cleared {
		if h.leaseReleases[r] != 1 {
			t.Fatalf("%s: market %s released its lease %d times", xid, r, h.leaseReleases[r])
		}
	}
}

// audit folds the whole log through the audit and checks that nothing is
// owed.
func audit(t *testing.T, log events.Log) *economy.Economy {
	t.Helper()
	eco := economy.New()
	if err := log.Read(context.Background(), events.SubjectRoot+".>", 1, eco.Apply); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if err := eco.CheckSettled(); err != nil {
		t.Fatal(err)
	}
	return eco
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitMax)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", waitMax, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// barrier lets n runners through once all n have arrived.
type barrier struct {
	mu      sync.Mutex
	n       int
	arrived chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, arrived: make(chan struct{})} }

func (b *barrier) arrive() error {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.arrived)
	}
	b.mu.Unlock()
	select {
	case <-b.arrived:
		return nil
	case <-time.After(waitMax):
		return errors.New("barrier: the others never came")
	}
}

func xid(bid string) string { return clearing.ExecutionID(bid) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
