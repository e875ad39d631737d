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

// flakyLog fails chosen appends to one actor's subjects, as a full disk or
// a lost connection would: nothing is written and the caller gets an error.
type flakyLog struct {
	*memlog.Log
	filter string
	n      atomic.Int64
	failAt map[int64]bool
}

func (f *flakyLog) Append(ctx context.Context, filter string, expected uint64, envs ...events.Envelope) (uint64, error) {
	if filter == f.filter && f.failAt[f.n.Add(1)] {
		return 0, errors.New("injected append failure")
	}
	return f.Log.Append(ctx, filter, expected, envs...)
}

// TestPipelinedManagerSurvivesFailedAppends: the transfer manager pipelines
// many credits to one recipient; some of the recipient's appends fail. The
// fence makes the manager resend from the first failed credit, so every
// transfer settles exactly once and none is hidden behind a later one.
func TestPipelinedManagerSurvivesFailedAppends(t *testing.T) {
	log := &flakyLog{Log: memlog.New(), filter: events.Filter(events.KindAgent, "sink"),
		failAt: map[int64]bool{3: true, 4: true, 9: true, 20: true}}
	store := memlog.NewStore()
	h, acc := newHost(t, log, store, runtime.Options{BatchMax: 16})
	create(t, acc, "sink", 1) // append 1 on the sink
	var wg sync.WaitGroup
	const senders, each = 8, 25
	for s := range senders {
		create(t, acc, fmt.Sprintf("s%d", s), 100)
	}
	mgr := startManager(t, h, log, store)
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := acc.Transfer(ctxT(t), fmt.Sprintf("s%d", s), "", agent.Transfer{
					TransferID: fmt.Sprintf("t%d-%d", s, i), To: "sink", AmountMicros: 1}); err != nil {
					t.Errorf("transfer: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	mgr.settle(t, log)
	eco := settledAudit(t, log)
	rs := records(t, log, "events.>")
	if got := transferIDs(t, rs, "transfer_received"); len(got) != senders*each {
		t.Fatalf("%d transfers received, want %d", len(got), senders*each)
	}
	sink := get(t, acc, "sink")
	if sink.BalanceMicros != 1_000_000+senders*each {
		t.Fatalf("sink balance %d", sink.BalanceMicros)
	}
	freshEqualsReplayed(t, log, store, runtime.Options{}, eco, "sink")
}
