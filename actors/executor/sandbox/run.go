package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Run runs one execution to its end and reports how it ended. It returns
// an error only when the program could not be started or supervised
// (ErrInvalidSpec, ErrWorkspace, ErrSocket, ErrSocketAccess,
// ErrSandboxFailed, or the context's error while it waited for a sandbox
// uid), and ErrOutputLog beside a complete Result when only the output log
// could not be written. Whatever the program does is in the Result.
//
// The context stops the execution: when it ends, every process of the
// program is killed and the cause is CauseKilled.
func (s *Sandbox) Run(ctx context.Context, sp Spec) (Result, error) {
	if err := sp.validate(); err != nil {
		return Result{}, err
	}
	if err := checkWorkspace(sp.Workspace); err != nil {
		return Result{}, err
	}
	u, giveBack, err := s.acquire(ctx, sp.Workspace)
	if err != nil {
		return Result{}, err
	}
	defer giveBack()
	if sp.Socket != "" {
		if err := checkSocket(sp.Socket, u); err != nil {
			return Result{}, err
		}
	}
	if u.switched {
		if err := handOver(sp.Workspace, u); err != nil {
			return Result{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Result{}, context.Cause(ctx)
	}
	// The workspace may not grow over its quota, nor over its size now
	// if it is over the quota already (an earlier execution killed for
	// its disk overran it until the next look): the program may shrink
	// it, not grow it.
	startSize, err := diskUsage(sp.Workspace)
	if err != nil {
		return Result{}, fmt.Errorf("%w: measure: %w", ErrWorkspace, err)
	}
	diskLimit := max(sp.workspaceBytes(), startSize)
	m, err := s.meter(sp)
	if err != nil {
		return Result{}, err
	}
	defer m.release()
	e, err := s.start(sp, u, m)
	if err != nil {
		return Result{}, err
	}
	o := e.watch(ctx, sp, diskLimit)
	if u.switched && !e.isolated {
		sweep(u)
	}
	// Everything of the execution has ended: what its group counted is
	// the whole execution's, whatever ended it.
	used, _ := m.read()
	size, err := diskUsage(sp.Workspace)
	overDisk := err == nil && size > diskLimit
	out := drain(e.output, e.outputDone)
	res, err := e.result(o, sp, out, used, overDisk)
	if err != nil {
		return res, err
	}
	return res, writeOutputLog(sp.Workspace, out, res, u)
}

// meter is what measures the execution: a control group of its own, or
// /proc where the sandbox has no control groups.
func (s *Sandbox) meter(sp Spec) (meter, error) {
	if s.cgroups == nil {
		return newProcMeter(sp), nil
	}
	pids := sp.Processes
	if s.Isolated() {
		pids++ // bwrap's init, in the group with the program
	}
	if !s.cgroups.v2 {
		// The forker thread, and the process it starts (bwrap, or sh
		// until it has started the subshell), both in the group.
		pids += 2
	}
	return s.cgroups.take(sp, pids)
}

// acquire is the user the program runs as, and the function that gives it
// back.
func (s *Sandbox) acquire(ctx context.Context, workspace string) (user, func(), error) {
	if s.users == nil {
		return s.self, func() {}, nil
	}
	u, err := s.users.acquire(ctx, workspace)
	if err != nil {
		return user{}, nil, err
	}
	return u, func() { s.users.release(u) }, nil
}

// start starts the leader (bwrap, or sh without it) in a process group of
// its own, with one pipe for stdout and stderr, and the status pipe.
func (s *Sandbox) start(sp Spec, u user, m meter) (*execution, error) {
	e := &execution{isolated: s.Isolated(), pidfd: -1, meter: m}
	nproc, err := processLimit(sp, u, e.isolated)
	if err != nil {
		return nil, err
	}
	e.limits = rlimits(sp, nproc)
	var args []string
	cmd := &exec.Cmd{SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	if e.isolated {
		if s.networks != nil && u.switched {
			if e.network, err = s.networks.acquire(sp.Workspace); err != nil {
				return nil, err
			}
			e.networks = s.networks
		}
		args = bwrapArgs(s.tools, s.system, s.dev, sp, u, e.network != nil)
		cmd.Env = sp.environ(WorkspaceMountPath)
	} else {
		args = fallbackArgs(s.tools, sp, u)
		cmd.Env = sp.environ(sp.Workspace)
		cmd.Dir = sp.Workspace
	}
	cmd.Path, cmd.Args = args[0], args

	p, err := openPipes()
	if err != nil {
		e.releaseNetwork()
		return nil, fmt.Errorf("%w: pipe: %w", ErrSandboxFailed, err)
	}
	cmd.Stdout, cmd.Stderr = p.outputW, p.outputW
	cmd.ExtraFiles = []*os.File{p.statusW, p.releaseR} // statusFd, releaseFd
	e.cmd, e.output, e.status, e.release = cmd, p.output, p.status, p.release
	e.began = time.Now()
	if e.network != nil {
		err = e.network.start(cmd, m.spawn)
	} else {
		err = m.spawn(func() (bool, error) { return true, cmd.Start() })
	}
	p.closeLeaderEnds()
	if err != nil {
		p.closeOurEnds()
		e.releaseNetwork()
		return nil, fmt.Errorf("%w: start %s: %w", ErrSandboxFailed, args[0], err)
	}
	e.pgid = cmd.Process.Pid
	e.outputDone = collect(e.output, OutputTailBytesMax)
	return e, nil
}

// watch supervises the execution until it has ended, killing it at the
// deadline, when ctx ends, or when the whole execution goes over its
// envelope (watchUsage, watchDisk).
func (e *execution) watch(ctx context.Context, sp Spec, diskLimit int64) observed {
	done := make(chan observed, 1)
	go func() { done <- e.supervise() }()
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	watchers.Go(func() { e.watchUsage(stop, sp) })
	watchers.Go(func() { e.watchDisk(stop, sp.Workspace, diskLimit) })
	defer func() { close(stop); watchers.Wait() }()
	deadline := time.NewTimer(time.Until(e.began.Add(sp.Timeout)))
	defer deadline.Stop()
	select {
	case o := <-done:
		return o
	case <-deadline.C:
		e.kill(stopDeadline)
	case <-ctx.Done():
		e.kill(stopCaller)
	}
	return <-done
}

// result turns what was observed into the Result. With bwrap, the
// program's status is the exit code bwrap reports (128+n for signal n);
// without, it is the measured process's own wait status.
func (e *execution) result(o observed, sp Spec, out *tail, used usage, overDisk bool) (Result, error) {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	res := Result{Wall: time.Since(e.began), OutputBytes: out.total}
	var processPeak int64
	if o.measured {
		res.CPU = time.Duration(o.rusage.Utime.Nano() + o.rusage.Stime.Nano())
		processPeak = o.rusage.Maxrss << 10
	}
	// Both count the program; the group (or /proc) counts all of it, the
	// rusage of the reaped first process also what ran before the program
	// joined its group. A group's memory is what the kernel charged it
	// (see usage.charged); /proc's sums are taken at intervals, and may
	// have missed a short program.
	res.CPU, res.MemoryPeakBytes = max(res.CPU, used.cpu), max(processPeak, used.memoryPeak)
	if used.charged {
		res.MemoryPeakBytes = used.memoryPeak
	}
	neverStarted := false
	switch {
	case e.isolated && o.bwrapExitCode != nil:
		res.ExitCode = *o.bwrapExitCode
		res.Signal = signalOfExitCode(res.ExitCode)
	case !e.isolated && o.measured && o.status.Signaled():
		res.Signal = o.status.Signal()
		res.ExitCode = 128 + int(res.Signal)
	case !e.isolated && o.measured:
		res.ExitCode = o.status.ExitStatus()
	case stopped != stopNone:
		// Killed before the program reported anything: it died of our
		// SIGKILL.
		res.Signal, res.ExitCode = syscall.SIGKILL, 128+int(syscall.SIGKILL)
	case e.isolated && o.err == nil && launcherFailed(out, sp.Command[0]):
		// bwrap built the sandbox but could not execute the command
		// itself (not as root), and reports no exit code: the shell's.
		res.ExitCode = exitNotFound
		if !strings.Contains(string(out.bytes()), "No such file") {
			res.ExitCode = exitNotExecutable
		}
		neverStarted = true
	default:
		return res, e.failure(o, out)
	}
	if o.err != nil {
		return res, o.err
	}
	if (res.ExitCode == exitNotFound || res.ExitCode == exitNotExecutable) && launcherFailed(out, sp.Command[0]) {
		neverStarted = true
	}
	res.Cause = classify(ending{stopped: stopped, exitCode: res.ExitCode, signal: res.Signal, neverStarted: neverStarted,
		cpu: res.CPU, processPeakBytes: processPeak, oomKilled: used.oomKills > 0, overDisk: overDisk}, sp)
	return res, nil
}

// The exit codes of a command that could not be executed, as shells and
// util-linux report them: not found, and found but not executable.
const (
	exitNotFound      = 127
	exitNotExecutable = 126
)

// launcherFailed tells that the program never started: the tool that was
// to execute the command (bwrap, unshare or setpriv as root, sh without
// bwrap) could not, and said so. Each of them writes nothing when it
// succeeds, so the whole output of a program that never ran is that one
// line, naming the command: "bwrap: execvp CMD: ...", "unshare: failed to
// execute CMD: ...", "setpriv: failed to execute CMD: ...", or dash's
// "sh: 1: exec: CMD: ...". A program that exits 126 or 127 having written
// anything else ran. One that writes exactly such a line and exits so
// imitates the failure and is taken at its word: it gains nothing by it
// (see the executor's rule for programs that never started).
func launcherFailed(out *tail, command string) bool {
	if out.total > int64(len(out.buf)) {
		return false
	}
	line, rest, _ := strings.Cut(string(out.bytes()), "\n")
	if strings.TrimSpace(rest) != "" {
		return false
	}
	for _, prefix := range []string{"bwrap: execvp ", "unshare: failed to execute ", "setpriv: failed to execute "} {
		if strings.HasPrefix(line, prefix+command+": ") {
			return true
		}
	}
	_, after, ok := strings.Cut(line, ": exec: ")
	return ok && strings.HasPrefix(line, "sh: ") && strings.HasPrefix(after, command+": ")
}

// failure explains an execution whose program never ran: bwrap's own
// message is the last thing it wrote.
func (e *execution) failure(o observed, out *tail) error {
	msg := strings.TrimSpace(string(out.bytes()))
	if len(msg) > 1000 {
		msg = msg[len(msg)-1000:]
	}
	code := -1
	if o.leader != nil {
		code = o.leader.ExitCode()
	}
	return errors.Join(fmt.Errorf("%w: %s exited with %d before the program started: %s",
		ErrSandboxFailed, e.cmd.Path, code, msg), o.err)
}

// pipes connect the executor and the leader: output (the program's stdout
// and stderr), status (bwrap's JSON status or sh's "$!"), and release.
type pipes struct {
	output, outputW   *os.File
	status, statusW   *os.File
	releaseR, release *os.File
}

func openPipes() (p pipes, err error) {
	if p.output, p.outputW, err = os.Pipe(); err != nil {
		return p, err
	}
	if p.status, p.statusW, err = os.Pipe(); err == nil {
		p.releaseR, p.release, err = os.Pipe()
	}
	if err != nil {
		p.closeLeaderEnds()
		p.closeOurEnds()
	}
	return p, err
}

// closeLeaderEnds closes the leader's ends once it has its copies, so that
// the executor sees EOF when the last process holding them ends.
func (p pipes) closeLeaderEnds() { closeFiles(p.outputW, p.statusW, p.releaseR) }

func (p pipes) closeOurEnds() { closeFiles(p.output, p.status, p.release) }

func closeFiles(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
}
