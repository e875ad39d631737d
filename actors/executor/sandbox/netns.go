package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Network namespaces kept between executions.
//
// Making a network namespace is the dearest single step of the sandbox:
// about 0.7 ms of the 6 ms bwrap takes for a trivial program, and tearing
// it down costs the kernel as much again afterwards (cleanup_net, on
// another CPU). As root, the executor therefore keeps one namespace per
// workspace, that is per agent, and starts bwrap inside it instead of
// letting bwrap make a fresh one for every execution (--unshare-net).
//
// The isolation stays what it was: each namespace is made empty, with
// only loopback, and belongs to the host's user namespace, so a program
// (which keeps no capability) can change nothing in it: no address, route,
// interface or sysctl. All it can leave there are sockets, and they end
// with its processes, which all end with the execution (the PID namespace
// dies with it). A namespace is only ever handed to executions of the same
// workspace, so what one execution could still observe of an earlier one
// (a TCP connection in TIME_WAIT, in /proc/net/tcp, for a minute) comes from
// the same agent. Two agents never share one: their programs never see
// each other's sockets, abstract Unix sockets included, nor the host's (the
// embedded NATS server's port). Two executions of one workspace at once
// would share one, as they share the workspace.
//
// Without root, bwrap makes the namespace itself: it must, from inside
// its user namespace.

// networksKeptMax bounds the namespaces kept: each holds about 200 KiB of
// kernel memory (measured on Linux 6.18), so 64 about 12 MiB. Past it,
// the one used longest ago is dropped; when every kept one is in use, an
// execution gets one that is dropped after it.
const networksKeptMax = 64

// networks are the kept namespaces, by workspace.
type networks struct {
	max  int // networksKeptMax but in tests
	mu   sync.Mutex
	kept map[workspaceID]*network
	tick uint64 // counts acquisitions, for the least recently used
}

// workspaceID names a workspace by its path and its inode: a workspace
// removed and made again at the same path is another one.
type workspaceID struct {
	path     string
	dev, ino uint64
}

// network is one namespace and who uses it.
type network struct {
	ns       *os.File // the namespace (an nsfs file)
	id       workspaceID
	users    int    // executions inside it now
	lastUsed uint64 // networks.tick of its last acquisition
	kept     bool   // in networks.kept; otherwise closed by its last release
}

func newNetworks(keep int) *networks { return &networks{max: keep, kept: map[workspaceID]*network{}} }

// acquire is the namespace of the workspace, made if there is none.
func (n *networks) acquire(workspace string) (*network, error) {
	id, err := workspaceIDOf(workspace)
	if err != nil {
		return nil, err
	}
	if nw := n.take(id); nw != nil {
		return nw, nil
	}
	ns, err := newNetworkNamespace()
	if err != nil {
		return nil, fmt.Errorf("%w: network namespace: %w", ErrSandboxFailed, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if nw := n.takeLocked(id); nw != nil {
		// Made meanwhile for another execution of the same workspace.
		_ = ns.Close()
		return nw, nil
	}
	n.tick++
	nw := &network{ns: ns, id: id, users: 1, lastUsed: n.tick}
	if len(n.kept) >= n.max {
		n.evictLocked()
	}
	if len(n.kept) < n.max {
		nw.kept = true
		n.kept[id] = nw
	}
	return nw, nil
}

func (n *networks) take(id workspaceID) *network {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.takeLocked(id)
}

func (n *networks) takeLocked(id workspaceID) *network {
	nw := n.kept[id]
	if nw == nil {
		return nil
	}
	n.tick++
	nw.users++
	nw.lastUsed = n.tick
	return nw
}

// evictLocked drops the kept namespace used longest ago that nothing
// uses now, if there is one.
func (n *networks) evictLocked() {
	var oldest *network
	for _, nw := range n.kept {
		if nw.users == 0 && (oldest == nil || nw.lastUsed < oldest.lastUsed) {
			oldest = nw
		}
	}
	if oldest != nil {
		delete(n.kept, oldest.id)
		_ = oldest.ns.Close()
	}
}

// dropIdle closes every kept namespace nothing uses (New's probe's).
func (n *networks) dropIdle() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, nw := range n.kept {
		if nw.users == 0 {
			delete(n.kept, id)
			_ = nw.ns.Close()
		}
	}
}

// release gives the namespace back once nothing of the execution runs
// in it.
func (n *networks) release(nw *network) {
	n.mu.Lock()
	defer n.mu.Unlock()
	nw.users--
	if nw.users == 0 && !nw.kept {
		_ = nw.ns.Close()
	}
}

func workspaceIDOf(path string) (workspaceID, error) {
	path = filepath.Clean(path)
	fi, err := os.Stat(path)
	if err != nil {
		return workspaceID{}, fmt.Errorf("%w: %w", ErrWorkspace, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return workspaceID{}, fmt.Errorf("%w: no inode for %s", ErrWorkspace, path)
	}
	return workspaceID{path: path, dev: st.Dev, ino: st.Ino}, nil
}

// start starts cmd inside the namespace, on a thread that on runs (its
// own, or the execution's control group's forker): a process starts in
// the network namespace of the thread that forks it.
func (nw *network) start(cmd *exec.Cmd, on threadRunner) error {
	started := false
	err := on(func() (bool, error) {
		return awayAndBack(func() error {
			if err := unix.Setns(int(nw.ns.Fd()), unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("%w: enter the network namespace: %w", ErrSandboxFailed, err)
			}
			if err := cmd.Start(); err != nil {
				return err
			}
			started = true
			return nil
		})
	})
	if err != nil && started {
		// The thread could not be put back and ends, and bwrap with it
		// (--die-with-parent follows the thread that forked it): it is
		// killed and reaped here rather than left to the supervision of
		// an execution that failed to start.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}
	return err
}

// newNetworkNamespace makes a network namespace with loopback up (the
// kernel gives it 127.0.0.1 and ::1 then) and nothing else.
func newNetworkNamespace() (ns *os.File, err error) {
	err = onOwnThread(func() (bool, error) {
		return awayAndBack(func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return err
			}
			f, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				return err
			}
			if err := loopbackUp(); err != nil {
				_ = f.Close()
				return fmt.Errorf("loopback: %w", err)
			}
			ns = f
			return nil
		})
	})
	if err != nil && ns != nil {
		_ = ns.Close()
		ns = nil
	}
	return ns, err
}

// loopbackUp brings up the loopback interface of the calling thread's
// network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// threadRunner runs job on an OS thread locked to it; when job says the
// thread cannot be used again (keep false), the thread ends.
type threadRunner func(job func() (keep bool, err error)) error

// onOwnThread runs job on an OS thread locked to a goroutine of its own.
// If job says the thread cannot be used again, it stays locked, and the
// runtime ends it with the goroutine: no other goroutine ever runs in a
// sandbox's namespace (and threads the runtime starts meanwhile are cloned
// from a clean one, not from a locked thread).
func onOwnThread(job func() (keep bool, err error)) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		keep, err := job()
		if keep {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// awayAndBack runs f, which may move the calling thread (locked) into
// another network namespace, then puts the thread back into the one it was
// in; keep is false when that fails.
func awayAndBack(f func() error) (keep bool, err error) {
	home, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return true, fmt.Errorf("%w: %w", ErrSandboxFailed, err)
	}
	defer home.Close()
	err = f()
	if rerr := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); rerr != nil {
		return false, errors.Join(err, fmt.Errorf("%w: back to the executor's network namespace: %w", ErrSandboxFailed, rerr))
	}
	return true, err
}
