package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/memlog"
)

// TestGroupCommit: concurrent commands to one actor are decided in order on
// the state their predecessors leave, appended in batches, and each is
// answered with its own outcome. An overdraft can never slip through a
// batch, and the log passes the audit.
func TestGroupCommit(t *testing.T) {
	log, store := &countingLog{Log: memlog.New()}, memlog.NewStore()
	_, acc := newHost(t, log, store, runtime.Options{BatchMax: 64, SnapshotEvery: 7})
	create(t, acc, "payer", 100)
	for i := range 5 {
		create(t, acc, fmt.Sprintf("r%d", i), 1)
	}
	var ok, poor atomic.Int64
	var wg sync.WaitGroup
	seqs := sync.Map{}
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := acc.Do(ctxT(t), "payer", "", agent.Transfer{
				TransferID: fmt.Sprintf("t%d", i), To: fmt.Sprintf("r%d", i%5), AmountMicros: events.Credits(1)})
			switch {
			case err == nil:
				ok.Add(1)
				if _, dup := seqs.LoadOrStore(res.Seq, i); dup {
					t.Errorf("sequence %d answered twice", res.Seq)
				}
			case errors.Is(err, agent.ErrInsufficientCredits):
				poor.Add(1)
			default:
				t.Errorf("transfer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || poor.Load() != 300 {
		t.Fatalf("%d accepted, %d refused; want 100 and 300", ok.Load(), poor.Load())
	}
	if got := get(t, acc, "payer"); got.BalanceMicros != 0 {
		t.Fatalf("payer balance %s", got.BalanceMicros)
	}
	eco := audit(t, log)
	if n := countTypes(records(t, log, "events.>"))["transfer_sent"]; n != 100 {
		t.Fatalf("%d transfer_sent in the log", n)
	}
	freshEqualsReplayed(t, log, store, runtime.Options{}, eco, "payer")
	t.Logf("%d appends carried %d events; the largest %d", log.appends.Load(), log.events.Load(), log.largest.Load())
}

// countingLog counts how appends are grouped, to show batching at work.
type countingLog struct {
	*memlog.Log
	appends, events, largest atomic.Int64
}

func (c *countingLog) Append(ctx context.Context, filter string, expected uint64, envs ...events.Envelope) (uint64, error) {
	c.appends.Add(1)
	c.events.Add(int64(len(envs)))
	for n := int64(len(envs)); ; {
		cur := c.largest.Load()
		if n <= cur || c.largest.CompareAndSwap(cur, n) {
			break
		}
	}
	return c.Log.Append(ctx, filter, expected, envs...)
}

// TestGroupCommitRetriesInOneBatch: the same idempotency key sent many
// times at once is written once; every caller gets the same sequence.
func TestGroupCommitRetriesInOneBatch(t *testing.T) {
	log, store := memlog.New(), memlog.NewStore()
	_, acc := newHost(t, log, store, runtime.Options{BatchMax: 64})
	create(t, acc, "a", 10)
	create(t, acc, "b", 10)
	var wg sync.WaitGroup
	results := make([]runtime.Result, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := acc.Do(ctxT(t), "a", "same-key", agent.Transfer{TransferID: "t1", To: "b", AmountMicros: 5})
			if err != nil {
				t.Errorf("retry %d: %v", i, err)
			}
			results[i] = res
		}()
	}
	wg.Wait()
	replayed := 0
	for _, r := range results {
		if r.Seq != results[0].Seq || r.Seq == 0 {
			t.Fatalf("results differ: %+v vs %+v", r, results[0])
		}
		if r.Replayed {
			replayed++
		}
	}
	if replayed != len(results)-1 {
		t.Fatalf("%d replayed answers, want %d", replayed, len(results)-1)
	}
	if n := countTypes(records(t, log, "events.>"))["transfer_sent"]; n != 1 {
		t.Fatalf("%d transfer_sent in the log", n)
	}
	audit(t, log)
}
