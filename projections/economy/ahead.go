package economy

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
)

// Read is a record of the log read ahead of a fold (ReadAhead): its event
// as events.Read reads it, and its digest for the hash chain.
type Read struct {
	Record events.Record
	Event  events.Event
	Err    error

	digest    chain.Digest
	digestErr error
}

// Digest is the record's chain digest (chain.DigestOf), for
// chain.Verifier.CheckDigest.
func (a *Read) Digest() (chain.Digest, error) { return a.digest, a.digestErr }

// readAheadBatch is how many records a worker of ReadAhead reads as one
// unit of work.
const readAheadBatch = 256

// readAheadBatchesMax bounds the batches read and not yet folded.
const readAheadBatchesMax = 16

// readBatch is a run of consecutive records, read by one worker, which
// closes done.
type readBatch struct {
	recs []Read
	done chan struct{}
}

// ReadAhead hands fold, in order and on one goroutine, every record that
// read delivers, each already read (its envelope checked, its event
// decoded, its chain digest computed) on as many cores as there are:
// reading needs nothing of the fold, and reading each record in the
// fold's own goroutine made an audit of a large log three times as slow
// as a replay, one core working while the other waited
// (docs/decisions.md). The first error of fold stops it: nothing after
// the record that caused it is folded, and that error is returned;
// otherwise the error of read.
func ReadAhead(ctx context.Context, read func(context.Context, func(events.Record) error) error, fold func(*Read) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool // fold returned an error
	work := make(chan *readBatch, readAheadBatchesMax)
	order := make(chan *readBatch, readAheadBatchesMax)
	var wg sync.WaitGroup
	for range max(runtime.GOMAXPROCS(0), 1) {
		wg.Go(func() {
			for b := range work {
				for i := range b.recs {
					a := &b.recs[i]
					a.Event, a.Err = events.Read(a.Record)
					if a.Record.Bad == nil {
						a.digest, a.digestErr = chain.DigestOf(a.Record)
					}
				}
				close(b.done)
			}
		})
	}
	folded := make(chan error, 1)
	go func() {
		var err error
		for b := range order {
			<-b.done
			for i := 0; err == nil && i < len(b.recs); i++ {
				if err = fold(&b.recs[i]); err != nil {
					stopped.Store(true)
					cancel()
				}
			}
		}
		folded <- err
	}()
	batch := &readBatch{recs: make([]Read, 0, readAheadBatch), done: make(chan struct{})}
	send := func() {
		work <- batch
		order <- batch
		batch = &readBatch{recs: make([]Read, 0, readAheadBatch), done: make(chan struct{})}
	}
	err := read(ctx, func(r events.Record) error {
		if stopped.Load() {
			return errFolded
		}
		batch.recs = append(batch.recs, Read{Record: r})
		if len(batch.recs) == readAheadBatch {
			send()
		}
		return nil
	})
	if len(batch.recs) > 0 {
		send()
	}
	close(work)
	close(order)
	ferr := <-folded
	wg.Wait()
	if ferr != nil {
		return ferr
	}
	return err
}

// errFolded stops a read once the fold has returned an error.
var errFolded = errors.New("the fold stopped")
