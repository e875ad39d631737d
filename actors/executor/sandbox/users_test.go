package sandbox

import (
	"context"
	"testing"
)

// A workspace gets back the uid that owns it when it is free; otherwise
// the uid released last comes first; a uid another process holds is
// skipped.
func TestUsersOrder(t *testing.T) {
	u := &users{first: 100, count: 3, gid: 100, lockDir: t.TempDir(), tokens: make(chan struct{}, 3), free: []int{100, 101, 102}}
	for range 3 {
		u.tokens <- struct{}{}
	}
	held, err := lockUID(u.lockDir, 101)
	if err != nil {
		t.Fatal(err)
	}
	take := func(preferred int) int {
		t.Helper()
		x, err := u.take(preferred)
		if err != nil || x.lock == nil {
			t.Fatalf("take(%d) = %+v, %v", preferred, x, err)
		}
		t.Cleanup(func() { _ = x.lock.Close() })
		return x.uid
	}
	if got := take(100); got != 100 {
		t.Errorf("the owner of the workspace, free: got %d; want 100", got)
	}
	if got := take(-1); got != 102 {
		t.Errorf("no owner: got %d; want 102, released last", got)
	}
	if x, err := u.take(-1); err != nil || x.lock != nil {
		t.Errorf("only a uid held elsewhere is left: take = %+v, %v; want nothing", x, err)
	}
	_ = held.Close()
	if got := take(-1); got != 101 {
		t.Errorf("once released elsewhere: got %d; want 101", got)
	}

	v := &users{first: 200, count: 2, gid: 200, lockDir: t.TempDir(), tokens: make(chan struct{}, 2), free: []int{200, 201}}
	v.tokens <- struct{}{}
	v.tokens <- struct{}{}
	x, err := v.acquire(context.Background(), t.TempDir())
	if err != nil || x.uid != 201 {
		t.Fatalf("acquire = %+v, %v; want 201", x, err)
	}
	v.release(x)
	if y, err := v.acquire(context.Background(), t.TempDir()); err != nil || y.uid != 201 {
		t.Errorf("after release: acquire = %+v, %v; want 201 again", y, err)
	} else {
		v.release(y)
	}
}
