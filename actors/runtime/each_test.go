package runtime_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agora-econ/agora/actors/runtime"
)

// TestEach runs fn once per id, never more than parallel at once, and
// joins the errors of the ids that failed in the order of the ids, after
// every other id has been tried.
func TestEach(t *testing.T) {
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("a-%02d", i)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var running, most atomic.Int64
	err := runtime.Each(ids, 3, func(id string) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		mu.Lock()
		seen[id]++
		mu.Unlock()
		if id == "a-07" || id == "a-03" {
			return errors.New("bad " + id)
		}
		return nil
	})
	if err == nil || err.Error() != "bad a-03\nbad a-07" {
		t.Errorf("err = %v; want bad a-03, then bad a-07", err)
	}
	if len(seen) != len(ids) {
		t.Errorf("%d ids run; want %d", len(seen), len(ids))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s run %d times", id, n)
		}
	}
	if most.Load() > 3 {
		t.Errorf("%d ran at once; want at most 3", most.Load())
	}
	if err := runtime.Each(nil, 0, func(string) error { return errors.New("never") }); err != nil {
		t.Errorf("no ids: %v", err)
	}
}
