package sandbox

import (
	"os"
	"syscall"
	"testing"
)

// The kept network namespaces: one per workspace, handed again to the
// same workspace, the least recently used dropped past the bound, never
// one in use; an execution past the bound gets one of its own, dropped
// after it.
func TestNetworksKeptPerWorkspace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the executor keeps network namespaces only as root")
	}
	n := newNetworks(2)
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	acquire := func(ws string) *network {
		t.Helper()
		nw, err := n.acquire(ws)
		if err != nil {
			t.Fatal(err)
		}
		return nw
	}

	na := acquire(a)
	if again := acquire(a); again != na {
		t.Errorf("a second execution of a workspace got another namespace")
	}
	n.release(na)
	n.release(na)
	nb := acquire(b)
	if nb == na || inode(t, nb) == inode(t, na) {
		t.Errorf("two workspaces share a network namespace")
	}
	// b is in use and a idle: c takes a's place.
	nc := acquire(c)
	if _, kept := n.kept[na.id]; kept || !nc.kept {
		t.Errorf("a still kept (%v), c not kept (%v)", kept, nc.kept)
	}
	if !closed(na) {
		t.Errorf("the dropped namespace's file is still open")
	}
	// Both kept ones are in use: a gets one of its own, closed after it.
	na = acquire(a)
	if na.kept {
		t.Errorf("a namespace past the bound is kept")
	}
	n.release(na)
	if !closed(na) {
		t.Errorf("a namespace past the bound outlived its execution")
	}
	n.release(nb)
	n.release(nc)
	n.dropIdle()
	if len(n.kept) != 0 {
		t.Errorf("dropIdle left %d namespaces", len(n.kept))
	}
}

func inode(t *testing.T, nw *network) uint64 {
	t.Helper()
	fi, err := nw.ns.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// closed: an os.File's descriptor is -1 once closed.
func closed(nw *network) bool { return nw.ns.Fd() == ^uintptr(0) }
