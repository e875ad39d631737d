package sandbox

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Who measures the program.
//
// The executor cannot take the program's rusage from its own child: with
// bwrap its child is the outer bwrap, which never waits for the sandbox's
// init (so the program's CPU is not in bwrap's rusage at all), and any
// process the Go runtime starts inherits the executor's own peak resident
// size as its maxrss (it is carried over exec, and Go starts processes
// with vfork). So the executor becomes a child subreaper, and the process
// it measures is a grandchild forked by a small C parent, which becomes
// its own child when that parent exits:
//   - with bwrap, the sandbox's init (pid 1 inside), whose pid bwrap
//     reports on --json-status-fd. Init reaps the program and everything
//     in the sandbox, so its rusage covers them all;
//   - without, a subshell of sh, which waits on releaseFd until sh has
//     exited, and then execs the program.
// The measured process is pinned by a pidfd, so no reused pid can be
// mistaken for it. It is also the process the limits are set on.

// becomeSubreaper makes orphaned descendants of this process its children
// instead of init's. Inside a bwrap sandbox orphans go to the sandbox's
// init, so only the measured processes are ever reparented here.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// execution is one started program and its supervision.
type execution struct {
	cmd      *exec.Cmd
	began    time.Time
	isolated bool // with bwrap

	output     *os.File // read end of the program's stdout and stderr
	outputDone <-chan *tail
	status     *os.File // read end of bwrap's JSON status, or of sh's "$!"
	release    *os.File // write end of releaseFd
	limits     []rlimit
	// meter measures the whole execution (its control group, or /proc);
	// the program joins it before it starts.
	meter meter
	// network is the kept network namespace bwrap runs in, nil when bwrap
	// makes its own (see netns.go); given back to networks once everything
	// of the execution is reaped.
	network  *network
	networks *networks

	mu      sync.Mutex
	pgid    int  // the leader's process group, killable while anything of it is unreaped
	pid     int  // the measured process
	pidfd   int  // its pidfd, or -1
	reaped  bool // after this, no pid or group of the execution may be signalled
	stopped stop
	failed  error // the supervision's own failure: the execution was killed for it
}

// observed is what supervise saw.
type observed struct {
	leader   *os.ProcessState
	measured bool // the measured process was reaped here: status and rusage are its
	status   syscall.WaitStatus
	rusage   syscall.Rusage
	// bwrapExitCode is the program's exit code as bwrap reported it on the
	// status fd; nil if bwrap never started it (the sandbox failed).
	bwrapExitCode *int
	err           error
}

// kill stops everything of the execution, once, for the given reason. It
// signals the leader's process group only while something of it is still
// unreaped, so the group id cannot have been reused.
func (e *execution) kill(why stop) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped == stopNone {
		e.stopped = why
	}
	e.killLocked()
}

func (e *execution) killLocked() {
	if e.reaped {
		return
	}
	_ = syscall.Kill(-e.pgid, syscall.SIGKILL)
	if e.pidfd >= 0 {
		_ = unix.PidfdSendSignal(e.pidfd, unix.SIGKILL, nil, 0)
	}
}

// supervise follows the execution to its end; it runs on its own
// goroutine while Run watches the deadline and the caller.
func (e *execution) supervise() observed {
	var o observed
	if e.isolated {
		pids, exit := readBwrapStatus(e.status)
		pid := <-pids
		e.track(pid)
		e.begin(pid)
		o.leader, o.err = e.waitLeader()
		o.bwrapExitCode = <-exit
	} else {
		pid := readPid(e.status)
		e.track(pid)
		o.leader, o.err = e.waitLeader()
		// sh has exited, so the subshell is this process's child now.
		e.begin(pid)
	}
	o.measured, o.status, o.rusage = e.reapMeasured()
	// The sandbox's init is reaped: its PID namespace, and every process
	// that was in the network namespace with it, are gone.
	e.releaseNetwork()
	_ = e.release.Close()
	if o.err == nil && o.leader == nil {
		o.err = errors.New("leader not reaped")
	}
	e.mu.Lock()
	o.err = errors.Join(e.failed, o.err)
	e.mu.Unlock()
	return o
}

// releaseNetwork gives the network namespace back, once.
func (e *execution) releaseNetwork() {
	if e.network != nil {
		e.networks.release(e.network)
		e.network = nil
	}
}

// begin sets the limits on the sandbox's first process, puts it in the
// execution's control group, and then lets it start the program. If they cannot be set, the program must not start:
// the execution is killed instead, and fails. releaseFd then stays open
// until everything is reaped (supervise closes it), because bwrap's init
// takes EOF on it for a go as well as a byte.
func (e *execution) begin(pid int) {
	e.mu.Lock()
	tracked := e.pidfd >= 0
	e.mu.Unlock()
	err := fmt.Errorf("%w: the sandbox's first process is gone", ErrSandboxFailed)
	if tracked {
		err = applyLimits(pid, e.limits)
	}
	if err == nil && e.meter != nil {
		err = e.meter.join(pid)
	}
	if err == nil {
		if _, err = e.release.Write([]byte(releaseWord)); err == nil {
			_ = e.release.Close()
			return
		}
		err = fmt.Errorf("%w: release the program: %w", ErrSandboxFailed, err)
	}
	e.mu.Lock()
	// Killed already (the caller's stop, the deadline) while the first
	// process waited: that is why it could not be limited, moved or
	// released, and the kill is the execution's end, not a failure.
	if e.stopped == stopNone {
		e.failed = err
	}
	e.killLocked()
	e.mu.Unlock()
}

// watchUsage kills the execution when all its processes together reach
// its memory limit (stopMemory) or its CPU seconds plus CPUGraceSeconds
// (stopCPU), looking every envelopeCheckInterval until stop is closed.
// At the CPU seconds themselves every process of the program gets
// SIGXCPU, as RLIMIT_CPU would send it to one process: most programs die
// of it, and one that catches it has the grace to save its state. With
// bwrap the sandbox's init is spared: its death would kill the program
// at once.
func (e *execution) watchUsage(stop <-chan struct{}, sp Spec) {
	soft := time.Duration(sp.CPUSeconds) * time.Second
	hard := soft + CPUGraceSeconds*time.Second
	warned := false
	tick := time.NewTicker(envelopeCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		u, err := e.meter.read()
		switch {
		case err != nil:
		case u.oomKills > 0:
			e.kill(stopMemory)
			return
		case u.cpu >= hard:
			e.kill(stopCPU)
			return
		case u.cpu >= soft && !warned:
			warned = true
			// bwrap itself is in the group too (forker.go), and its
			// death would end the sandbox as well.
			var except []int
			e.mu.Lock()
			if e.isolated {
				except = []int{e.pid, e.cmd.Process.Pid}
			}
			e.mu.Unlock()
			e.meter.signal(unix.SIGXCPU, except...)
		}
	}
}

// waitLeader reaps bwrap or sh.
func (e *execution) waitLeader() (*os.ProcessState, error) {
	err := e.cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("%w: wait: %w", ErrSandboxFailed, err)
	}
	return e.cmd.ProcessState, err
}

// track pins the measured process with a pidfd, after checking that it is
// the leader's child (the pid came through a pipe the program cannot
// write, but the check is cheap). A pid of 0 means there is none: bwrap
// failed before it forked.
func (e *execution) track(pid int) {
	if pid <= 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	if parent, err := parentOf(pid); err != nil || parent != e.cmd.Process.Pid && parent != os.Getpid() {
		_ = unix.Close(fd)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pid, e.pidfd = pid, fd
	if e.stopped != stopNone {
		e.killLocked()
	}
}

// reapMeasured waits for the measured process to end, kills what is left
// of its process group, and reaps it with its status and rusage. Waiting
// first without reaping (WNOWAIT) keeps the process a zombie, so its pid
// and group cannot be reused while the group is killed.
func (e *execution) reapMeasured() (ok bool, ws syscall.WaitStatus, ru syscall.Rusage) {
	e.mu.Lock()
	pid, fd := e.pid, e.pidfd
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.reaped = true
		if e.pidfd >= 0 {
			_ = unix.Close(e.pidfd)
			e.pidfd = -1
		}
		e.mu.Unlock()
	}()
	if fd < 0 {
		return false, 0, ru
	}
	var info unix.Siginfo
	if err := retryEINTR(func() error { return unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOWAIT, nil) }); err != nil {
		// Not this process's child: its parent reaped it (bwrap does when
		// its setup fails). There is nothing to measure.
		return false, 0, ru
	}
	e.mu.Lock()
	e.killLocked()
	e.reaped = true
	e.mu.Unlock()
	if err := retryEINTR(func() error { _, err := syscall.Wait4(pid, &ws, 0, &ru); return err }); err != nil {
		return false, 0, ru
	}
	return true, ws, ru
}

// readBwrapStatus reads bwrap's --json-status-fd: the first document
// names the sandbox's init ("child-pid"), sent on pids (0 if none comes);
// the last, written only if the program was exec'd, its exit code.
func readBwrapStatus(r *os.File) (pids <-chan int, exit <-chan *int) {
	pidc, exitc := make(chan int, 1), make(chan *int, 1)
	go func() {
		defer r.Close()
		dec := json.NewDecoder(r)
		sent := false
		var code *int
		for {
			var doc struct {
				ChildPid int  `json:"child-pid"`
				ExitCode *int `json:"exit-code"`
			}
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if doc.ChildPid > 0 && !sent {
				pidc <- doc.ChildPid
				sent = true
			}
			if doc.ExitCode != nil {
				code = doc.ExitCode
			}
		}
		if !sent {
			pidc <- 0
		}
		exitc <- code
	}()
	return pidc, exitc
}

// readPid reads the subshell's pid that sh writes, 0 if none.
func readPid(r *os.File) int {
	defer r.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}

// sweep kills every process of the sandbox user u and reaps those that
// were reparented here. Without bwrap a program can leave its process
// group (setsid); when it runs as a uid of its own, the uid still finds
// it. Each process is pinned by a pidfd before its owner is checked, so a
// pid reused meanwhile is never signalled.
func sweep(u user) {
	for range 100 {
		if sweepOnce(u) == 0 {
			return
		}
	}
}

func sweepOnce(u user) int {
	dirs, _ := os.ReadDir("/proc")
	killed := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		status := "/proc/" + d.Name() + "/status"
		if owner, _, ok := readStatus(status); !ok || owner != u.uid {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		// Pinned now: if the pid was reused since, the owner says so.
		if owner, _, ok := readStatus(status); ok && owner == u.uid {
			if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
				killed++
			}
			// Reap it if it was reparented here; otherwise ECHILD at once.
			var info unix.Siginfo
			_ = retryEINTR(func() error { return unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil) })
		}
		_ = unix.Close(fd)
	}
	return killed
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
