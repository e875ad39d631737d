// Package follow is the one follower of the event log. Process managers,
// the executor and the read models each keep their own position in the
// log, durably, and say which event types they read; a Follower reads the
// log once for all of them, from the least of their positions, filtered by
// the union of their types (none if any wants every type), and hands each
// record to every consumer whose position is below it. A restart then reads
// the log from the least saved position, not from the first event.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-econ/agora/events"
)

// Consumer is what a Follower feeds: a process manager, the executor, a
// group of read models. Each method is called by the Follower alone; Save
// may run while Deliver does (from the Follower's saver), never before
// Open returned nor after the last Save.
type Consumer interface {
	// Name names the consumer in logs and errors.
	Name() string
	// Types are the event types the consumer acts on; nil: every type. A
	// record of another type is delivered with its sequence alone (an
	// empty envelope), so that the consumer knows how far the log went.
	Types() []string
	// Open loads the consumer's saved position (its store's business) and
	// returns it: every record up to it is done, and the Follower delivers
	// the records after it. last is the log's last sequence: a saved
	// position beyond it belongs to a log that is gone (a stream deleted
	// and created again), and the consumer must start from the beginning
	// (return 0). ctx ends when the Follower stops.
	Open(ctx context.Context, last uint64) (uint64, error)
	// Deliver hands the consumer the next record after its position, in
	// stream order. An error stops this consumer alone (the Follower
	// closes it, saves it and reports the error); Rewind(seq) makes the
	// Follower deliver again from seq+1.
	Deliver(ctx context.Context, r events.Record) error
	// Close ends the consumer's work once nothing more is delivered: it is
	// called once, after the last Deliver, before the last Save.
	Close()
	// Save stores the consumer's position durably (a position stays below
	// any work not done). The Follower calls it every SaveInterval while it
	// runs, and once after Close; the consumer decides whether anything
	// needs writing.
	Save(ctx context.Context) error
}

// Rewind is the error a Consumer's Deliver returns to be delivered the
// records after seq again (a read model rebuilt under the Follower).
func Rewind(seq uint64) error { return &rewind{seq: seq} }

type rewind struct{ seq uint64 }

func (r *rewind) Error() string { return fmt.Sprintf("follow: rewind to after sequence %d", r.seq) }

// Options configures a Follower. Every field is optional.
type Options struct {
	// Filter is the subject filter followed (default: the whole stream).
	Filter string
	// SaveInterval is how often each consumer's Save is called (default
	// SaveIntervalDefault).
	SaveInterval time.Duration
	// QueueMax is how many records may wait for one consumer (default
	// QueueMaxDefault). A consumer that falls further behind leaves the
	// common follow and catches up on its own, so that a slow consumer
	// never holds the others back.
	QueueMax int
	// JoinGap is how close to the end of the log a consumer catching up
	// on its own (added to a running Follower, or fallen behind) comes
	// before it joins the common follow (default JoinGapDefault): the
	// common follow reads at most about this many records again when it
	// joins.
	JoinGap uint64
	Logger  *slog.Logger
	// OnError, when set, is told of each consumer that stopped on an
	// error (it must not block).
	OnError func(name string, err error)
}

// Defaults of Options.
const (
	SaveIntervalDefault = 200 * time.Millisecond
	QueueMaxDefault     = 4096
	JoinGapDefault      = 1024
	// saveTimeout bounds the last save of a consumer, made after the
	// Follower's context has ended: a read model's snapshot of many
	// megabytes is written then, chunk by chunk.
	saveTimeout = 30 * time.Second
)

// Follower follows one log for many consumers. Create it with New, Add the
// consumers, Run it once.
//
// One goroutine reads the log (the common follow) and queues each record
// for every consumer below it; each consumer has a goroutine of its own
// that delivers its queue, so that consumers work side by side and one
// waiting (the executor for an actor's admission, the read models folding)
// delays no other. A consumer whose queue is full is detached: it delivers
// what it has queued, then follows the log on its own from its position
// until it is within JoinGap of the end, and joins again. A consumer added
// while the Follower runs starts that way.
type Follower struct {
	log events.Log
	o   Options

	mu sync.Mutex
	// joining are consumers ready to join the common follow.
	joining []*member
	// opened are every consumer opened and not yet closed: the saver's.
	opened []*member
	every  []*member // every consumer opened, for Stats
	// failures are the errors of the consumers that stopped; all is how
	// many were ever added.
	failures []error
	all      int
	wake     chan struct{} // signalled when a consumer joins or fails
	// epoch counts the starts of the common follow: a consumer that
	// rewinds drops what was queued for it before the next start.
	epoch uint64
	// interrupt ends the current common follow so that it starts again
	// (a consumer joins, rewinds or fails); nil between two.
	interrupt context.CancelFunc
	workers   sync.WaitGroup // the consumers' goroutines
	// run is the context of the running Follower's consumers; nil
	// before Run.
	run     context.Context
	ran     bool
	closing bool       // Run is ending
	pending []Consumer // added before Run
}

type member struct {
	c     Consumer
	types map[string]bool // nil: every type
	next  atomic.Uint64   // the next sequence to deliver
	queue chan item
	// detach, closed by the common follow, sends the consumer to catch up
	// on its own; guarded by Follower.mu, made anew when it joins.
	detach chan struct{}
	failed bool // guarded by Follower.mu
	// minEpoch: items of an earlier start of the common follow are
	// dropped (owned by the consumer's goroutine).
	minEpoch uint64
	// from is the position it was opened at; delivered counts the records
	// it was handed since (Stats).
	from      uint64
	delivered atomic.Uint64
}

// item is a record queued for a consumer by a start of the common follow.
type item struct {
	rec   events.Record
	epoch uint64
}

// Stat is what a Follower did for one consumer: the position it opened
// at and how many records it has been delivered since.
type Stat struct {
	Name      string `json:"name"`
	From      uint64 `json:"from_seq"`
	Delivered uint64 `json:"delivered"`
}

// Stats lists every consumer opened so far, in the order they opened.
func (f *Follower) Stats() []Stat {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Stat, 0, len(f.every))
	for _, m := range f.every {
		out = append(out, Stat{Name: m.c.Name(), From: m.from, Delivered: m.delivered.Load()})
	}
	return out
}

// New returns a Follower of log.
func New(log events.Log, o Options) (*Follower, error) {
	if log == nil {
		return nil, errors.New("follow: a follower needs a log")
	}
	if o.Filter == "" {
		o.Filter = events.SubjectRoot + ".>"
	}
	if o.SaveInterval <= 0 {
		o.SaveInterval = SaveIntervalDefault
	}
	if o.QueueMax <= 0 {
		o.QueueMax = QueueMaxDefault
	}
	if o.JoinGap == 0 {
		o.JoinGap = JoinGapDefault
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Follower{log: log, o: o, wake: make(chan struct{}, 1)}, nil
}

// Add adds consumers. Those added before Run are opened together and
// followed from the least of their positions; one added while the
// Follower runs is opened and caught up on its own, then joins the others
// (see Options.JoinGap).
func (f *Follower) Add(cs ...Consumer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.all += len(cs)
	if f.closing {
		return // stopped: nothing more is delivered
	}
	if f.run == nil {
		f.pending = append(f.pending, cs...)
		return
	}
	for _, c := range cs {
		f.workers.Add(1)
		go func() {
			defer f.workers.Done()
			last, err := f.log.LastSeq(f.run)
			if err != nil {
				if f.run.Err() == nil {
					f.report(c, fmt.Errorf("last sequence: %w", err))
				}
				return
			}
			if m := f.open(f.run, c, last, true); m != nil {
				f.work(f.run, m)
			}
		}()
	}
}

// Run follows the log until ctx is done (it then returns nil), the log
// fails (its error), or every consumer it was given has stopped on an
// error (their errors). At the end it closes every consumer and saves it.
func (f *Follower) Run(ctx context.Context) error {
	run, stop := context.WithCancel(ctx)
	defer stop()
	f.mu.Lock()
	if f.ran {
		f.mu.Unlock()
		return errors.New("follow: Run called twice")
	}
	f.ran, f.run = true, run
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	saverDone := make(chan struct{})
	go func() {
		defer close(saverDone)
		f.saver(run)
	}()
	err := f.follow(run, pending)
	stop()
	f.mu.Lock()
	f.closing = true // no goroutine is added after this
	f.mu.Unlock()
	f.workers.Wait()
	<-saverDone
	f.closeAll()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// follow is the common follow: it opens the first consumers, then follows
// from the least position of its members, starting again whenever
// consumers join, rewind or fail.
func (f *Follower) follow(ctx context.Context, first []Consumer) error {
	var members []*member
	if len(first) > 0 {
		last, err := f.log.LastSeq(ctx)
		if err != nil {
			return fmt.Errorf("follow: last sequence: %w", err)
		}
		for _, c := range first {
			if m := f.open(ctx, c, last, false); m != nil {
				members = append(members, m)
				f.workers.Add(1)
				go func() {
					defer f.workers.Done()
					f.work(ctx, m)
				}()
			}
		}
	}
	for {
		f.mu.Lock()
		members = append(members, f.joining...)
		f.joining = nil
		members = slices.DeleteFunc(members, func(m *member) bool { return m.failed })
		if len(f.failures) > 0 && len(f.failures) == f.all {
			err := errors.Join(f.failures...)
			f.mu.Unlock()
			return err
		}
		f.epoch++
		epoch := f.epoch
		fctx, cancel := context.WithCancel(ctx)
		f.interrupt = cancel
		f.mu.Unlock()
		if len(members) == 0 {
			cancel()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-f.wake:
				continue
			}
		}
		from := members[0].next.Load()
		for _, m := range members[1:] {
			from = min(from, m.next.Load())
		}
		err := f.log.Follow(fctx, f.o.Filter, from, func(r events.Record) error {
			for i := 0; i < len(members); i++ {
				m := members[i]
				if r.Seq < m.next.Load() {
					continue
				}
				select {
				case m.queue <- item{rec: r, epoch: epoch}:
				default:
					// Too far behind: it catches up on its own.
					f.mu.Lock()
					close(m.detach)
					f.mu.Unlock()
					members = slices.Delete(members, i, i+1)
					i--
				}
			}
			return nil
		}, unionTypes(members)...)
		f.mu.Lock()
		f.interrupt = nil
		f.mu.Unlock()
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fctx.Err() == nil {
			return fmt.Errorf("follow: %w", err)
		}
	}
}

// work is a consumer's goroutine: it delivers what the common follow
// queues for it, and catches up on its own when detached, until ctx ends
// or the consumer fails.
func (f *Follower) work(ctx context.Context, m *member) {
	for {
		f.mu.Lock()
		detach := m.detach
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case it := <-m.queue:
			if !f.handle(ctx, m, it) {
				return
			}
		case <-detach:
			for drained := false; !drained; {
				select {
				case it := <-m.queue:
					if !f.handle(ctx, m, it) {
						return
					}
				default:
					drained = true
				}
			}
			if !f.catchUp(ctx, m) {
				return
			}
			f.join(m)
		}
	}
}

// handle delivers a queued record, unless it is of a start of the common
// follow before the consumer rewound, or the consumer has it already. It
// reports whether the consumer goes on.
func (f *Follower) handle(ctx context.Context, m *member, it item) bool {
	if it.epoch < m.minEpoch || it.rec.Seq < m.next.Load() {
		return true
	}
	err := f.deliver(ctx, m, it.rec)
	var rw *rewind
	switch {
	case err == nil:
		return true
	case errors.As(err, &rw):
		f.mu.Lock()
		defer f.mu.Unlock()
		m.minEpoch = f.epoch + 1
		f.restartLocked()
		return true
	case ctx.Err() != nil:
		return false
	default:
		f.fail(m, err)
		return false
	}
}

// catchUp delivers the log to m from its position, on a follow of its
// own, until it is within JoinGap of the end. It reports whether m goes
// on.
func (f *Follower) catchUp(ctx context.Context, m *member) bool {
	target, err := f.log.LastSeq(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.fail(m, fmt.Errorf("last sequence: %w", err))
		}
		return false
	}
	caughtUp := errors.New("caught up")
	for m.next.Load()+f.o.JoinGap <= target {
		err := f.log.Follow(ctx, f.o.Filter, m.next.Load(), func(r events.Record) error {
			if err := f.deliver(ctx, m, r); err != nil {
				return err
			}
			if r.Seq+f.o.JoinGap < target {
				return nil
			}
			// Near the end seen when it began: the end may have moved on
			// meanwhile (a long catching up under traffic).
			end, err := f.log.LastSeq(ctx)
			if err != nil {
				return err
			}
			if target = end; r.Seq+f.o.JoinGap < target {
				return nil
			}
			return caughtUp
		}, m.typeOption()...)
		var rw *rewind
		switch {
		case errors.Is(err, caughtUp), errors.As(err, &rw):
		case ctx.Err() != nil:
			return false // closed with the others
		default:
			f.fail(m, err)
			return false
		}
	}
	return true
}

// join hands m, caught up on its own, to the common follow.
func (f *Follower) join(m *member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m.detach = make(chan struct{})
	f.joining = append(f.joining, m)
	f.restartLocked()
}

// restartLocked makes the common follow start again, from the least
// position of its members. Callers hold f.mu.
func (f *Follower) restartLocked() {
	if f.interrupt != nil {
		f.interrupt()
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// open opens c and registers it with the saver; nil if it failed. A
// consumer opened detached catches up on its own before it joins.
func (f *Follower) open(ctx context.Context, c Consumer, last uint64, detached bool) *member {
	pos, err := c.Open(ctx, last)
	if err != nil {
		if ctx.Err() == nil {
			f.report(c, fmt.Errorf("open: %w", err))
		}
		return nil
	}
	m := &member{c: c, from: pos, queue: make(chan item, f.o.QueueMax), detach: make(chan struct{})}
	m.next.Store(pos + 1)
	if detached {
		close(m.detach)
	}
	if ts := c.Types(); len(ts) > 0 {
		m.types = make(map[string]bool, len(ts))
		for _, t := range ts {
			m.types[t] = true
		}
	}
	f.mu.Lock()
	f.opened = append(f.opened, m)
	f.every = append(f.every, m)
	f.mu.Unlock()
	return m
}

// deliver hands r to m (its envelope dropped if m does not read its type)
// and moves m on; a rewind moves m back.
func (f *Follower) deliver(ctx context.Context, m *member, r events.Record) error {
	if m.types != nil && r.Envelope.Type != "" && !m.types[r.Envelope.Type] {
		r = events.Record{Seq: r.Seq}
	}
	err := m.c.Deliver(ctx, r)
	m.delivered.Add(1)
	var rw *rewind
	switch {
	case err == nil:
		m.next.Store(r.Seq + 1)
	case errors.As(err, &rw):
		m.next.Store(rw.seq + 1)
	}
	return err
}

func (m *member) typeOption() []events.FollowOption {
	if m.types == nil {
		return nil
	}
	ts := make([]string, 0, len(m.types))
	for t := range m.types {
		ts = append(ts, t)
	}
	return []events.FollowOption{events.WithTypes(ts...)}
}

// unionTypes is the Follow option for members: the union of their types,
// or none if one of them reads every type.
func unionTypes(members []*member) []events.FollowOption {
	var ts []string
	for _, m := range members {
		if m.types == nil {
			return nil
		}
		for t := range m.types {
			ts = append(ts, t)
		}
	}
	return []events.FollowOption{events.WithTypes(ts...)}
}

// fail stops m on err: it is closed and saved (its position stays below
// the record it failed on) and the error reported.
func (f *Follower) fail(m *member, err error) {
	f.mu.Lock()
	m.failed = true
	f.opened = slices.DeleteFunc(f.opened, func(o *member) bool { return o == m })
	f.restartLocked()
	f.mu.Unlock()
	f.closeOne(m)
	f.report(m.c, err)
}

func (f *Follower) report(c Consumer, err error) {
	err = fmt.Errorf("%s: %w", c.Name(), err)
	f.o.Logger.Error("follow: consumer stopped", "consumer", c.Name(), "err", err)
	f.mu.Lock()
	f.failures = append(f.failures, err)
	f.restartLocked()
	f.mu.Unlock()
	if f.o.OnError != nil {
		f.o.OnError(c.Name(), err)
	}
}

// saver saves every opened consumer every SaveInterval until ctx ends.
func (f *Follower) saver(ctx context.Context) {
	t := time.NewTicker(f.o.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		opened := slices.Clone(f.opened)
		f.mu.Unlock()
		for _, m := range opened {
			if err := m.c.Save(ctx); err != nil && ctx.Err() == nil {
				f.o.Logger.Warn("follow: save position", "consumer", m.c.Name(), "err", err)
			}
		}
	}
}

// closeAll closes and saves every consumer still open.
func (f *Follower) closeAll() {
	f.mu.Lock()
	opened := f.opened
	f.opened = nil
	f.mu.Unlock()
	for _, m := range opened {
		f.closeOne(m)
	}
}

func (f *Follower) closeOne(m *member) {
	m.c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), saveTimeout)
	defer cancel()
	if err := m.c.Save(ctx); err != nil {
		f.o.Logger.Warn("follow: save position", "consumer", m.c.Name(), "err", err)
	}
}
