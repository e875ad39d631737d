package economy

import (
	"context"
	"errors"
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

// readAheadBatch is how many records the reader hands the fold at once.
const readAheadBatch = 256

// readAheadBatchesMax bounds the batches read and not yet folded.
const readAheadBatchesMax = 16

// ReadAhead hands fold, in order and on one goroutine, every record that
// read delivers, each already read (its envelope checked, its event
// decoded, its chain digest computed) on the goroutine that read it:
// reading needs nothing of the fold, so the two overlap on two cores, the
// fold taking batches of readAheadBatch records while the reader fills the
// next. Two stages, not a pool of readers: on two cores shared with the
// log's server a pool added hand-offs and copies that cost more than they
// saved (docs/decisions.md), and a batch the fold is done with is handed
// back to the reader, not left to the collector. The first error of fold
// stops it: nothing after the record that caused it is folded, and that
// error is returned; otherwise the error of read. fold must not keep the
// *Read it is given after it returns: its batch is reused.
func ReadAhead(ctx context.Context, read func(context.Context, func(events.Record) error) error, fold func(*Read) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped atomic.Bool // fold returned an error
	full := make(chan []Read, readAheadBatchesMax)
	free := make(chan []Read, readAheadBatchesMax+2)
	folded := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			for i := 0; err == nil && i < len(b); i++ {
				if err = fold(&b[i]); err != nil {
					stopped.Store(true)
					cancel()
				}
			}
			free <- b[:0] // free has room for every batch there can be
		}
		folded <- err
	}()
	batch := make([]Read, 0, readAheadBatch)
	send := func() {
		full <- batch
		select {
		case batch = <-free:
		default:
			batch = make([]Read, 0, readAheadBatch)
		}
	}
	err := read(ctx, func(r events.Record) error {
		if stopped.Load() {
			return errFolded
		}
		a := Read{Record: r}
		a.Event, a.Err = events.Read(r)
		if r.Bad == nil {
			a.digest, a.digestErr = chain.DigestOf(r)
		}
		batch = append(batch, a)
		if len(batch) == readAheadBatch {
			send()
		}
		return nil
	})
	if len(batch) > 0 {
		full <- batch
	}
	close(full)
	if ferr := <-folded; ferr != nil {
		return ferr
	}
	return err
}

// errFolded stops a read once the fold has returned an error.
var errFolded = errors.New("the fold stopped")
