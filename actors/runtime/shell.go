package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
)

// shell is the protoactor actor around one actor's commit path (machine):
// it hands the machine each message, then carries out what the machine's
// ready says: publish, reply, save a snapshot, append (in its own turn,
// or beside it on the host's workers, which report with an appended
// message), recover or catch up from the log, and feed the outcome back.
// Everything it decides is the machine's; what it holds is the IO: the
// log, the store, the cell others read, its mailbox and the append on its
// way.
type shell[S, C any] struct {
	agg    Aggregate[S, C]
	id     string
	filter string
	deps   deps
	// public holds Aggregate.Public of the durable state (Host.Peek);
	// cell, which holds it, the actor's admissions too (Host.Admitted).
	public *atomic.Value
	cell   *cell
	// mailbox tells whether commands wait behind the one being handled.
	mailbox *mailboxRef

	m    *machine[S, C]
	self *actor.PID
	root *actor.RootContext
	// closeNow is set when a batch opens with nothing being appended and
	// nothing waiting in the mailbox: it is appended once the message that
	// opened it is handled (see run).
	closeNow bool
	// job is the append running beside the actor, if any.
	job *appendJob
}

// appendJob is an append running beside the actor.
type appendJob struct {
	done chan appendResult // the append's outcome (room for one)
	// taken is set by whoever takes the outcome first: the appending
	// goroutine, which then tells the actor with an appended message, or
	// the actor stopping, which waits for it then and there (a message
	// would come after the actor has gone, a dead letter).
	taken atomic.Bool
}

// flush asks the actor to append its open batch.
type flush struct{}

// appended tells the actor that the append of job has answered.
type appended struct{ job *appendJob }

func (s *shell[S, C]) Receive(ctx actor.Context) {
	msg, to := ctx.Message(), replyTo{}
	if c, ok := msg.(call); ok {
		msg, to = c.msg, c.to
	}
	switch m := msg.(type) {
	case *actor.Started:
		s.self, s.root = ctx.Self(), ctx.ActorSystem().Root
		s.m = newMachine(s.agg, s.id, s.deps.opts, s.deps.store != nil, s.deps.logger)
		if err := s.recover(); err != nil {
			s.deps.logger.Error("actor recovery failed; will retry on the next command",
				"kind", s.agg.Kind, "id", s.id, "err", err)
		}
	case Request:
		s.m.receive(call{msg: msg, to: to}, s.deps.clock())
	case flush:
		s.m.flush()
	case appended:
		if m.job == s.job { // else taken already, while stopping
			s.job = nil
			r := <-m.job.done
			s.m.appended(r.seqs, r.err)
		}
	case *actor.Stopping:
		s.stop()
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	default:
		s.m.receive(call{msg: msg, to: to}, time.Time{})
	}
	s.run()
	if s.closeNow {
		s.closeNow = false
		s.m.flush()
		s.run()
	}
	s.settleWaiters()
}

// run carries out what the machine asks, feeding back the outcome of each
// append made in the actor's turn and of each recovery, until it asks
// nothing more.
func (s *shell[S, C]) run() {
	for {
		rd := s.m.take()
		if rd.publish && s.public != nil {
			s.public.Store(published{rd.public})
		}
		if rd.admissions {
			s.publishAdmissions(rd.last, rd.skipped)
		}
		for _, o := range rd.replies {
			respond(o.to, o.r)
		}
		if rd.snapshot != nil {
			s.saveSnapshot(rd.snapshot)
		}
		if rd.opened {
			if s.mailbox.waiting() == 0 {
				s.closeNow = true
			} else {
				s.root.Send(s.self, flush{})
			}
		}
		again := false
		if o := rd.append; o != nil {
			if s.cell != nil {
				// Followers that see these events before the actor has
				// their answer wait for it (cell.await) rather than ask.
				s.cell.busy.Store(true)
			}
			if o.beside {
				s.appendBeside(o)
			} else {
				r := s.appendAll(o, o.b.seqsFirst[:0])
				s.m.appended(r.seqs, r.err)
				again = true
			}
		}
		if rd.recover {
			if err := s.recover(); err != nil {
				s.deps.logger.Error("actor recovery failed", "kind", s.agg.Kind, "id", s.id, "err", err)
			}
			again = true
		}
		if rd.catchUp {
			_ = s.catchUp() // the machine answers the admissions with its error
			again = true
		}
		if !again {
			return
		}
	}
}

// appendBeside appends o on the host's workers; the actor goes on
// deciding and hears of the outcome with an appended message.
func (s *shell[S, C]) appendBeside(o *appendOrder[S]) {
	job := &appendJob{done: make(chan appendResult, 1)}
	s.job = job
	self, root := s.self, s.root
	s.deps.background(func() {
		job.done <- s.appendAll(o, o.b.seqsFirst[:0])
		if job.taken.CompareAndSwap(false, true) {
			root.Send(self, appended{job: job})
		}
	})
}

// stop appends and answers everything decided or held before the actor
// stops, in its own turn: an answer coming back later would find no actor.
func (s *shell[S, C]) stop() {
	if s.m == nil {
		return
	}
	s.m.stop()
	s.run()
	for s.job != nil {
		job := s.job
		s.job = nil
		job.taken.Store(true)
		r := <-job.done
		s.m.appended(r.seqs, r.err)
		s.run()
	}
}

// respond answers a call (nothing when the message was not a call).
func respond(to replyTo, r reply) {
	switch {
	case to.then != nil:
		to.then(r)
	case to.ch != nil:
		select {
		case to.ch <- r:
		default:
		}
	}
}

// recover rebuilds the machine's state from the latest snapshot and the
// events after it, and tells the machine. Recovery time depends on the
// snapshot interval, not the log length.
func (s *shell[S, C]) recover() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.RecoverTimeout)
	defer cancel()
	s.m.reset()
	snap, ok, err := s.loadSnapshot(ctx)
	if err == nil && ok {
		// One read checks the snapshot and folds the tail: the record at
		// the snapshot's sequence must be this actor's, else the snapshot
		// belongs to another history (a restored stream) and is ignored.
		err = s.fold(ctx, snap.Seq, func(first events.Record) bool {
			if first.Seq != snap.Seq {
				s.deps.logger.Warn("ignoring snapshot that does not match the log", "key", s.m.snapshotKey(), "seq", snap.Seq)
				return false
			}
			if snap.Head != "" {
				if link, err := chain.Hash(first.Envelope); err != nil || link != snap.Head {
					s.deps.logger.Warn("ignoring snapshot whose head is not the hash of its event in the log",
						"key", s.m.snapshotKey(), "seq", snap.Seq, "head", snap.Head, "event", link)
					return false
				}
			}
			s.m.restore(snap, first.Envelope)
			return true
		})
		if errors.Is(err, errSnapshotMismatch) {
			s.m.reset()
			err = s.fold(ctx, 1, nil)
		}
	} else if err == nil {
		err = s.fold(ctx, 1, nil)
	}
	return s.m.recovered(err)
}

// published boxes a public value, so that one atomic.Value can hold values
// of any type, nil included.
type published struct{ v any }

// fold hands the machine the actor's records from sequence from. With
// first set, the first record read is handed to it instead: it returns
// false to reject the snapshot (errSnapshotMismatch), and the snapshot
// missing its record altogether is a mismatch too.
func (s *shell[S, C]) fold(ctx context.Context, from uint64, first func(events.Record) bool) error {
	checked := first == nil
	err := s.deps.log.Read(ctx, s.filter, from, func(r events.Record) error {
		if !checked {
			checked = true
			if !first(r) {
				return errSnapshotMismatch
			}
			return nil
		}
		s.m.fold(r)
		return nil
	})
	if err == nil && !checked {
		if first(events.Record{}) {
			return nil
		}
		return errSnapshotMismatch
	}
	return err
}

// loadSnapshot reads the actor's snapshot when there is a usable one;
// recover checks it against the log. A snapshot is only a shortcut: one
// that does not decode, names another actor, or covers a sequence that is
// not this actor's event in the log (a restored stream, a stray write) is
// ignored, and the state is folded from the log alone.
func (s *shell[S, C]) loadSnapshot(ctx context.Context) (snapshot[S], bool, error) {
	snap := snapshot[S]{State: s.agg.New(s.id)}
	if s.deps.store == nil {
		return snap, false, nil
	}
	b, ok, err := s.deps.store.Get(ctx, s.m.snapshotKey())
	if err != nil {
		return snap, false, fmt.Errorf("load snapshot: %v", err)
	}
	if !ok {
		return snap, false, nil
	}
	err = json.Unmarshal(b, &snap)
	switch {
	case err == nil && snap.Format != snapshotFormat:
		s.deps.logger.Warn("ignoring snapshot of another format", "key", s.m.snapshotKey(), "format", snap.Format,
			"want", snapshotFormat)
		return snapshot[S]{State: s.agg.New(s.id)}, false, nil
	case err != nil || snap.Kind != s.agg.Kind || snap.ID != s.id || snap.Seq == 0:
		s.deps.logger.Warn("ignoring unusable snapshot", "key", s.m.snapshotKey(), "err", err)
		return snapshot[S]{State: s.agg.New(s.id)}, false, nil
	}
	return snap, true, nil
}

// saveSnapshot saves a snapshot the machine encoded.
func (s *shell[S, C]) saveSnapshot(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), s.deps.opts.AppendTimeout)
	defer cancel()
	if err := s.deps.store.Put(ctx, s.m.snapshotKey(), b); err != nil {
		// Not fatal: the next recovery reads a longer tail.
		s.deps.logger.Warn("save snapshot", "key", s.m.snapshotKey(), "err", err)
	}
}

// appendAll writes o's envelopes after the actor's record at o.last and
// returns the sequences of those acknowledged, in order. An atomic order
// goes as one atomic append (one round trip for all); a small one as
// single appends chained on each other's sequence, which costs less than
// an atomic batch on JetStream (whose batches are staged through a store
// of their own). Either way each event is one command's and stands alone,
// so a failure part-way leaves a durable prefix, which the machine
// answers as such. It touches nothing of the actor's but its constant
// fields: it may run beside the actor.
func (s *shell[S, C]) appendAll(o *appendOrder[S], seqs []uint64) appendResult {
	ctx := s.deps.appends.get() // AppendTimeout from now
	if o.atomic {
		end, err := s.deps.log.Append(ctx, o.filter, o.last, o.envs...)
		if err != nil {
			return appendResult{err: err}
		}
		for i := range o.envs {
			seqs = append(seqs, end-uint64(len(o.envs)-1-i))
		}
		return appendResult{seqs: seqs}
	}
	prev := o.last
	for _, env := range o.envs {
		seq, err := s.deps.log.Append(ctx, o.filter, prev, env)
		if err != nil {
			return appendResult{seqs: seqs, err: err}
		}
		seqs = append(seqs, seq)
		prev = seq
	}
	return appendResult{seqs: seqs}
}

// deps are what every shell of a host shares.
type deps struct {
	log    events.Log
	store  events.Store
	opts   Options
	clock  func() time.Time
	logger *slog.Logger
	// background runs an actor's append beside it, on the host's parked
	// workers: a goroutine started for each append grew its stack anew
	// through the client's publish.
	background func(func())
	// appends bounds each append by opts.AppendTimeout.
	appends *deadlines
}
