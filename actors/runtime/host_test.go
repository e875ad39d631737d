package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// TestStopWhileAsking: a host stopped while commands are in flight
// answers each either with success, whose event is in the log, or with
// ErrStopped (nothing was sent) or ErrUnavailable (unknown outcome); a
// command written to the log was never answered ErrStopped. After Stop
// every Ask is refused with ErrStopped.
func TestStopWhileAsking(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{SnapshotEvery: 5, AskTimeout: 10 * time.Second})
	for _, id := range []string{"a", "b"} {
		create(t, acc, id, 1000)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		outcome = map[string]error{}
		started = make(chan struct{}, 8)
	)
	for w := range 4 {
		wg.Go(func() {
			id := []string{"a", "b"}[w%2]
			for i := range 100 {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := acc.Do(ctxT(t), id, key, agent.Burn{AmountMicros: 1, Reason: "x"})
				mu.Lock()
				outcome[key] = err
				mu.Unlock()
				if i == 5 {
					started <- struct{}{}
				}
				if errors.Is(err, runtime.ErrStopped) {
					return
				}
			}
		})
	}
	for range 4 {
		<-started
	}
	h.Stop()
	wg.Wait()
	if _, err := acc.Do(ctxT(t), "a", "", agent.Burn{AmountMicros: 1, Reason: "x"}); !errors.Is(err, runtime.ErrStopped) {
		t.Fatalf("Ask after Stop: %v, want ErrStopped", err)
	}
	written := byKey(records(t, log, events.SubjectRoot+".>"))
	for key, err := range outcome {
		switch {
		case err == nil:
			if written[key] != 1 {
				t.Errorf("%s answered success, written %d times", key, written[key])
			}
		case errors.Is(err, runtime.ErrStopped):
			if written[key] != 0 {
				t.Errorf("%s answered ErrStopped, but written", key)
			}
		case errors.Is(err, runtime.ErrUnavailable):
			if written[key] > 1 {
				t.Errorf("%s written %d times", key, written[key])
			}
		default:
			t.Errorf("%s: %v", key, err)
		}
	}
	for key := range written {
		if _, asked := outcome[key]; !asked {
			t.Errorf("%s written but never asked", key)
		}
	}
	eco := audit(t, log)
	freshEqualsReplayed(t, log, store, runtime.Options{}, eco, "a", "b")
}

// TestAskHonoursCancelledContext: a caller whose context is already done
// gets its error and no command is applied.
func TestAskHonoursCancelledContext(t *testing.T) {
	log, store := jetStream(t)
	_, acc := newHost(t, log, store, runtime.Options{})
	create(t, acc, "a", 10)
	before := lastSeq(t, log)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := acc.Do(ctx, "a", "", agent.Burn{AmountMicros: 1, Reason: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Ask with a cancelled context: %v, want context.Canceled", err)
	}
	if after := lastSeq(t, log); after != before {
		t.Fatalf("a cancelled Ask wrote %d events", after-before)
	}
}

// TestInspectWrongStateType: asking an actor for a state type it does not
// have is a programming error, reported as such, not an outage.
func TestInspectWrongStateType(t *testing.T) {
	log, store := jetStream(t)
	h, acc := newHost(t, log, store, runtime.Options{})
	create(t, acc, "a", 10)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := runtime.Inspect(ctx, h, events.KindAgent, "a", func(s int) int { return s })
	if err == nil || errors.Is(err, runtime.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Inspect with the wrong state type: %v, want a typed error", err)
	}
}
