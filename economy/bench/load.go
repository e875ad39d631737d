package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// Bounds of the load command's flags: enough for any load worth running on
// one machine, small enough that a typo does not start a run of days.
const (
	loadAgentsMax      = 100_000
	loadTransfersMax   = 100_000_000
	loadConcurrencyMax = 10_000
	// loadRetriesMax bounds the retries of a transfer whose outcome the log
	// did not confirm (ErrUnavailable, ErrConflict). Each retry carries the
	// same idempotency key, so it applies at most once.
	loadRetriesMax = 5
	// loadAmountDivisor makes transfers small against the grant, so that
	// rejections stay rare but possible as balances drift.
	loadAmountDivisor = 100
)

// LoadOptions are the parameters of `agora load` beyond the log flags.
type LoadOptions struct {
	Agents      int
	Transfers   int
	Concurrency int
	Grant       string // credits
	Seed        int64
}

// LoadPlan is LoadOptions checked and converted.
type LoadPlan struct {
	agents      int
	transfers   int
	concurrency int
	grantMicros events.Micros
	amountMax   events.Micros
	seed        uint64
}

// Plan checks o; without seedGiven the seed is drawn at random.
func (o LoadOptions) Plan(seedGiven bool) (LoadPlan, error) {
	var errs []error
	if o.Agents < 2 || o.Agents > loadAgentsMax {
		errs = append(errs, fmt.Errorf("--agents %d: must be between 2 and %d (a transfer needs two distinct agents)", o.Agents, loadAgentsMax))
	}
	if o.Transfers < 0 || o.Transfers > loadTransfersMax {
		errs = append(errs, fmt.Errorf("--transfers %d: must be between 0 and %d", o.Transfers, loadTransfersMax))
	}
	if o.Concurrency < 1 || o.Concurrency > loadConcurrencyMax {
		errs = append(errs, fmt.Errorf("--concurrency %d: must be between 1 and %d", o.Concurrency, loadConcurrencyMax))
	}
	grant, err := events.ParseCredits(o.Grant)
	if err == nil {
		err = events.ValidatePositive(grant)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("--grant %q: %w", o.Grant, err))
	}
	if len(errs) > 0 {
		return LoadPlan{}, errors.Join(errs...)
	}
	seed := uint64(o.Seed)
	if !seedGiven {
		seed = rand.Uint64()
	}
	return LoadPlan{agents: o.Agents, transfers: o.Transfers, concurrency: o.Concurrency, grantMicros: grant,
		amountMax: max(grant/loadAmountDivisor, 1), seed: seed}, nil
}

// ErrInterrupted ends a load whose context ended before it did.
var ErrInterrupted = errors.New("interrupted; transfers in flight settle at the next start")

// UnconfirmedError ends a load in which some transfers have no confirmed
// outcome.
type UnconfirmedError struct{ Failed int64 }

func (e UnconfirmedError) Error() string {
	return fmt.Sprintf("%d transfers have no confirmed outcome", e.Failed)
}

// NewLoader is a load of plan through eco, which runs: one line per
// transfer on out, the summary on errOut, progress on progress once a
// second (nil: none).
func NewLoader(plan LoadPlan, eco *economy.Economy, out, errOut, progress io.Writer) *Loader {
	return &Loader{plan: plan, eco: eco, out: out, errOut: errOut, progress: progress}
}

// Loader runs one load: the counters are shared by the workers.
type Loader struct {
	plan     LoadPlan
	eco      *economy.Economy
	out      io.Writer // one line per transfer
	errOut   io.Writer // summary
	progress io.Writer // nil: no progress

	outMu sync.Mutex

	next, acked, rejected, failed atomic.Int64
	// settleSeq is the highest stream sequence this run wrote (a creation or
	// a transfer); settlement waits for the transfer manager to pass it.
	settleSeq atomic.Uint64
}

func loadAgentID(i int) string { return fmt.Sprintf("load-%04d", i) }

// Run recovers every agent, creates the missing ones, sends the transfers
// and waits until the transfer manager has settled them. A context ended
// meanwhile is ErrInterrupted; transfers without a confirmed outcome are an
// UnconfirmedError.
func (l *Loader) Run(ctx context.Context) error {
	started := time.Now()
	recovered, err := l.eco.RecoverAll(ctx, economy.RecoverParallel)
	if err != nil {
		return err
	}
	created, err := l.createAgents(ctx)
	if err != nil {
		return err
	}
	setup := time.Since(started)

	sending := time.Now()
	stopProgress := l.showProgress(sending)
	l.sendAll(ctx)
	stopProgress()
	sent := time.Since(sending)

	settling := time.Now()
	settleErr := l.settle(ctx)
	settled := time.Since(settling)

	acked, rejected, failed := l.acked.Load(), l.rejected.Load(), l.failed.Load()
	total := time.Since(sending)
	fmt.Fprintf(l.errOut, "load: %d agents (%d recovered, %d created, setup %s); %d transfers: %d acked, %d rejected, %d failed in %s (%.0f transfers/s acked); settled in %s; %.0f transfers/s overall; seed %d\n",
		l.plan.agents, recovered, created, setup.Round(time.Millisecond),
		acked+rejected+failed, acked, rejected, failed, sent.Round(time.Millisecond), loadRate(acked, sent),
		settled.Round(time.Millisecond), loadRate(acked, total), l.plan.seed)
	switch {
	case ctx.Err() != nil:
		// As a shell reports a process ended by SIGINT.
		return ErrInterrupted
	case settleErr != nil:
		return settleErr
	case failed > 0:
		return UnconfirmedError{Failed: failed}
	}
	return nil
}

func loadRate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// createAgents creates the missing agents, concurrently. An agent that
// exists is kept as it is (its balance is what earlier runs left).
func (l *Loader) createAgents(ctx context.Context) (int, error) {
	var created atomic.Int64
	var next atomic.Int64
	errs := make(chan error, l.plan.concurrency)
	var wg sync.WaitGroup
	for range min(l.plan.concurrency, l.plan.agents) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= l.plan.agents {
					return
				}
				res, err := l.eco.Accounts().Do(ctx, loadAgentID(i), "", agent.Create{GrantMicros: l.plan.grantMicros, Reason: "load"})
				if errors.Is(err, agent.ErrAgentExists) {
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("create agent %s: %w", loadAgentID(i), err)
					return
				}
				created.Add(1)
				l.wrote(res.Seq)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return int(created.Load()), err
	}
	return int(created.Load()), ctx.Err()
}

// wrote records that this run wrote the event at seq.
func (l *Loader) wrote(seq uint64) {
	for {
		cur := l.settleSeq.Load()
		if seq <= cur || l.settleSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// sendAll sends the transfers from the workers until all are sent or ctx
// ends.
func (l *Loader) sendAll(ctx context.Context) {
	var wg sync.WaitGroup
	for range min(l.plan.concurrency, max(l.plan.transfers, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := l.next.Add(1) - 1
				if i >= int64(l.plan.transfers) {
					return
				}
				l.sendOne(ctx, i)
			}
		}()
	}
	wg.Wait()
}

// pick chooses transfer i's sender, recipient and amount from the seed and
// i alone, so that a seed gives the same plan at any concurrency.
func (l *Loader) pick(i int64) (from, to string, amount events.Micros) {
	r := rand.New(rand.NewPCG(l.plan.seed, uint64(i)))
	a := r.IntN(l.plan.agents)
	b := r.IntN(l.plan.agents - 1)
	if b >= a {
		b++
	}
	return loadAgentID(a), loadAgentID(b), 1 + events.Micros(r.Int64N(int64(l.plan.amountMax)))
}

func (l *Loader) sendOne(ctx context.Context, i int64) {
	from, to, amount := l.pick(i)
	id := events.NewID()
	t := agent.Transfer{TransferID: id, To: to, AmountMicros: amount, Memo: "load"}
	var res runtime.Result
	var err error
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		res, err = l.eco.Accounts().Transfer(ctx, from, id, t)
		if !errors.Is(err, runtime.ErrUnavailable) && !errors.Is(err, runtime.ErrConflict) {
			break
		}
		if attempt == loadRetriesMax || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	switch {
	case err == nil:
		l.acked.Add(1)
		l.wrote(res.Seq)
		l.line("ack %s\n", id)
	case errors.Is(err, agent.ErrInsufficientCredits):
		l.rejected.Add(1)
		l.line("rej %s %s\n", id, err)
	default:
		l.failed.Add(1)
		l.line("fail %s %s\n", id, err)
	}
}

// line writes one whole line to the output; lines never interleave.
func (l *Loader) line(format string, args ...any) {
	l.outMu.Lock()
	defer l.outMu.Unlock()
	fmt.Fprintf(l.out, format, args...)
}

// showProgress prints the counters once a second until the returned
// function is called.
func (l *Loader) showProgress(started time.Time) func() {
	if l.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprintln(l.progress)
				}
				return
			case <-t.C:
				shown = true
				acked, rejected, failed := l.acked.Load(), l.rejected.Load(), l.failed.Load()
				fmt.Fprintf(l.progress, "\r%d / %d transfers: %d acked, %d rejected, %d failed (%.0f/s)   ",
					acked+rejected+failed, l.plan.transfers, acked, rejected, failed, loadRate(acked, time.Since(started)))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// settle waits until the transfer manager has reacted to every event up to
// the last one this run wrote, and so to every transfer sent before it,
// including those a killed earlier run left in flight. A run that wrote
// nothing waits for the whole log: the manager then settles what an earlier
// run left (the log's last record must then be an agent's, as it is in a
// load's data directory: WaitFloor waits for a record its manager sees).
// Ctrl-C ends the wait; the next start settles the rest.
func (l *Loader) settle(ctx context.Context) error {
	seq := l.settleSeq.Load()
	if seq == 0 {
		last, err := l.eco.Log().LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("settle: %w", err)
		}
		seq = last
	}
	if seq == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := make(chan error, 1)
	go func() { wait <- l.eco.Transfers().WaitFloor(ctx, seq) }()
	select {
	case err := <-wait:
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("settle: %w", err)
		}
		return nil
	case err := <-l.eco.Failed():
		return fmt.Errorf("settle: %w", err)
	}
}
