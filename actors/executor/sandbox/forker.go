package sandbox

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Moving a process into a v1 control group takes the kernel's global lock
// on migrations (cgroup_threadgroup_rwsem), and the first move after a
// quiet moment waits for an RCU grace period to take it: 5 to 10 ms here
// (HZ 250), more than bwrap's whole start, on every execution that comes
// alone. A process forked by a thread already in the group is born there
// and moves nothing: so each kept group has a forker, an OS thread of the
// executor moved into the group once, when the group is made, which starts
// the sandbox of each execution of the group. cgroup v1 lets a thread
// belong to groups other than its process's; what the thread's own memory
// costs is charged to the executor all the same (v1 charges a page to the
// group of the mm's owner), and the CPU it spends in the group is taken
// off the execution's (group.read). The kernel's OOM killer would choose
// the executor among the group's processes: it is off in these groups
// (makeKept), and the executor kills the execution at the limit. The
// thread is never the main thread (offMainThread).

// forker is an OS thread locked to a goroutine of its own, in a group.
type forker struct {
	tid  int
	jobs chan func() (keep bool)
	done chan struct{} // closed once the thread has ended
}

// newForker starts a thread and moves it into dirs, each a group's
// directory in one hierarchy ("tasks" moves one thread, not its process).
func newForker(dirs []string) (*forker, error) {
	f := &forker{jobs: make(chan func() bool), done: make(chan struct{})}
	started := make(chan error, 1)
	offMainThread(func() {
		defer close(f.done)
		// Never unlocked: when this goroutine returns, the thread ends
		// with it, and leaves the group; no other goroutine ever runs on
		// it.
		f.tid = unix.Gettid()
		for _, d := range dirs {
			if err := write(d, "tasks", strconv.Itoa(f.tid)); err != nil {
				started <- fmt.Errorf("move a thread into %s: %w", d, err)
				return
			}
		}
		started <- nil
		for job := range f.jobs {
			if !job() {
				return
			}
		}
	})
	if err := <-started; err != nil {
		return nil, err
	}
	return f, nil
}

// offMainThread runs fn on a goroutine locked to a thread other than the
// process's main thread: the main thread never ends (the runtime keeps it
// when its locked goroutine returns), and it leads the process, so that
// in a group it would put the executor itself there (its memory is
// charged to the group of its leader). fn must not unlock the thread.
func offMainThread(fn func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fn()
			return
		}
		// Held here, the main thread cannot run the other goroutine.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			fn()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// run runs job on the forker's thread: a process it starts is born in the
// group. job returns keep false when the thread must end (it could not be
// put back as it was, see onOwnThread); the forker is then gone.
func (f *forker) run(job func() (keep bool, err error)) error {
	errc := make(chan error, 1)
	select {
	case f.jobs <- func() bool { keep, err := job(); errc <- err; return keep }:
	case <-f.done:
		return fmt.Errorf("%w: the control group's thread has ended", ErrSandboxFailed)
	}
	return <-errc
}

// alive reports whether the thread still runs its jobs.
func (f *forker) alive() bool {
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// stop ends the thread, which leaves the group as it ends.
func (f *forker) stop() {
	if f.alive() {
		close(f.jobs)
	}
	<-f.done
}

// cpu is the CPU time the thread has used so far (its thread CPU clock,
// which the kernel charges to the group's cpuacct as it runs); 0 once it
// has ended.
func (f *forker) cpu() time.Duration {
	var ts unix.Timespec
	// MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) of the kernel's
	// posix-timers.h: another thread of this process.
	clock := int32((^f.tid)<<3 | 6)
	if unix.ClockGettime(clock, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
