package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// user is who the program runs as.
type user struct {
	uid, gid int
	// switched: the program runs as this sandbox user, not as the
	// executor's own user (the executor is root).
	switched bool
	lock     *os.File // holds the uid host-wide while the program runs
}

// users hands out the sandbox uids when the executor is root. Root is
// exempt from RLIMIT_NPROC, and the kernel counts that limit per user, so
// the program must run as an unprivileged uid of its own: one uid for two
// executions at once would let one's fork bomb starve the other. All of
// them share one group, the one the service socket is opened to.
//
// A workspace gets back the uid that owns it when that uid is free, and
// otherwise the uid released last, so that handing it over (handOver)
// rarely has anything to change.
type users struct {
	first, count, gid int
	lockDir           string
	tokens            chan struct{} // one for each uid this process does not use

	mu   sync.Mutex
	free []int // the uids this process does not use, the last released last
}

// newUsers is the pool of count uids from first on.
func newUsers(first, count int) (*users, error) {
	dir, err := uidLockDir()
	if err != nil {
		return nil, err
	}
	u := &users{first: first, count: count, gid: first, lockDir: dir, tokens: make(chan struct{}, count)}
	for i := range count {
		u.tokens <- struct{}{}
		u.free = append(u.free, first+count-1-i)
	}
	return u, nil
}

// acquire waits for a uid that no execution uses, in this process or any
// other, preferring the one that owns the workspace; release gives it
// back.
func (u *users) acquire(ctx context.Context, workspace string) (user, error) {
	preferred := -1
	if fi, err := os.Stat(workspace); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			preferred = int(st.Uid)
		}
	}
	for {
		select {
		case <-u.tokens:
		case <-ctx.Done():
			return user{}, context.Cause(ctx)
		}
		x, err := u.take(preferred)
		if err != nil || x.lock != nil {
			if err != nil {
				u.tokens <- struct{}{}
			}
			return x, err
		}
		// Every uid this process has free is another process's now.
		u.tokens <- struct{}{}
		select {
		case <-time.After(uidRetryInterval):
		case <-ctx.Done():
			return user{}, context.Cause(ctx)
		}
	}
}

// take locks and removes a free uid: the preferred one if it can, else the
// one released last that no other process holds. It returns no lock when
// other processes hold them all.
func (u *users) take(preferred int) (user, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	order := make([]int, 0, len(u.free))
	if i := slices.Index(u.free, preferred); i >= 0 {
		order = append(order, i)
	}
	for i := len(u.free) - 1; i >= 0; i-- {
		if u.free[i] != preferred {
			order = append(order, i)
		}
	}
	for _, i := range order {
		lock, err := lockUID(u.lockDir, u.free[i])
		if errors.Is(err, unix.EWOULDBLOCK) {
			continue
		}
		if err != nil {
			return user{}, err
		}
		uid := u.free[i]
		u.free = append(u.free[:i], u.free[i+1:]...)
		return user{uid: uid, gid: u.gid, switched: true, lock: lock}, nil
	}
	return user{}, nil
}

func (u *users) release(x user) {
	_ = x.lock.Close()
	u.mu.Lock()
	u.free = append(u.free, x.uid)
	u.mu.Unlock()
	u.tokens <- struct{}{}
}

// Sandbox uids are held host-wide by an flock on a file named after the
// uid, in a directory only root may write: two executors on one host (two
// economies, or the tests of two packages) must not give one uid to two
// executions at once, which would join their process limits and, without
// bwrap, let one's sweep kill the other's program. The kernel drops the
// locks of a process that dies.
var uidLockDirs = []string{"/run/agora-sandbox", filepath.Join(os.TempDir(), "agora-sandbox-uids")}

// uidRetryInterval is how long acquire waits when other processes hold
// every uid this one has free.
const uidRetryInterval = 50 * time.Millisecond

// uidLockDir makes the first usable lock directory: root's, a directory,
// not a link, writable by root alone.
func uidLockDir() (string, error) {
	var errs []error
	for _, dir := range uidLockDirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			errs = append(errs, err)
			continue
		}
		fi, err := os.Lstat(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			errs = append(errs, fmt.Errorf("%s is not a directory that root alone may write", dir))
			continue
		}
		return dir, nil
	}
	return "", fmt.Errorf("%w: no directory for the sandbox uids' locks: %w", ErrSandboxFailed, errors.Join(errs...))
}

// lockUID takes uid's lock, or fails with EWOULDBLOCK if another process
// (or another Sandbox of this one) holds it.
func lockUID(dir string, uid int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(uid)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: lock uid %d: %w", ErrSandboxFailed, uid, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: lock uid %d: %w", ErrSandboxFailed, uid, err)
	}
	return f, nil
}

// tasksOf counts the processes and threads the kernel charges to uid
// (RLIMIT_NPROC counts threads), from /proc. Without bwrap and without
// root, the program runs as the executor's own user, whose other
// processes count against the same limit; the limit is raised by them.
// The count is a snapshot: processes the user starts meanwhile make the
// limit tighter, never looser.
func tasksOf(uid int) (int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*/status")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, path := range dirs {
		owner, threads, ok := readStatus(path)
		if ok && owner == uid {
			n += threads
		}
	}
	return n, nil
}

// readStatus reads the real uid and the thread count of a /proc status
// file; ok is false when the process has gone meanwhile.
func readStatus(path string) (uid, threads int, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	uid, threads = -1, 1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "Uid":
			uid, err = strconv.Atoi(fields[0])
		case "Threads":
			threads, err = strconv.Atoi(fields[0])
		}
		if err != nil {
			return 0, 0, false
		}
	}
	return uid, threads, uid >= 0
}

// parentOf is the parent pid of pid, from /proc.
func parentOf(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces and parentheses: the fields
	// after it start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	fields := strings.Fields(s[i+1:])
	if i < 0 || len(fields) < 2 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.Atoi(fields[1])
}
