package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
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
	e, err := s.start(sp, u)
	if err != nil {
		return Result{}, err
	}
	o := e.watch(ctx, sp.Timeout)
	if u.switched && !e.isolated {
		sweep(u)
	}
	out := drain(e.output, e.outputDone)
	res, err := e.result(o, sp, out)
	if err != nil {
		return res, err
	}
	return res, writeOutputLog(sp.Workspace, out, res, u)
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
func (s *Sandbox) start(sp Spec, u user) (*execution, error) {
	e := &execution{isolated: s.Isolated(), pidfd: -1}
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
		err = e.network.start(cmd)
	} else {
		err = cmd.Start()
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
// deadline or when ctx ends.
func (e *execution) watch(ctx context.Context, timeout time.Duration) observed {
	done := make(chan observed, 1)
	go func() { done <- e.supervise() }()
	deadline := time.NewTimer(time.Until(e.began.Add(timeout)))
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
func (e *execution) result(o observed, sp Spec, out *tail) (Result, error) {
	e.mu.Lock()
	stopped := e.stopped
	e.mu.Unlock()
	res := Result{Wall: time.Since(e.began), OutputBytes: out.total}
	if o.measured {
		res.CPU = time.Duration(o.rusage.Utime.Nano() + o.rusage.Stime.Nano())
		res.MemoryPeakBytes = o.rusage.Maxrss << 10
	}
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
	case e.isolated && o.err == nil && commandNotRun(out):
		// The sandbox was built but the command could not be executed:
		// the program's own error, as a shell reports it.
		res.ExitCode = exitCommandNotRun
	default:
		return res, e.failure(o, out)
	}
	if o.err != nil {
		return res, o.err
	}
	res.Cause = classify(ending{stopped: stopped, exitCode: res.ExitCode, signal: res.Signal,
		cpu: res.CPU, memoryPeakBytes: res.MemoryPeakBytes}, sp)
	return res, nil
}

// exitCommandNotRun is the exit code of a command that could not be
// executed (not found, not executable), as shells report it.
const exitCommandNotRun = 127

// commandNotRun tells, from the output of a bwrap that reported no exit
// code, that it built the sandbox and failed only to execute the command.
// Nothing of the program ran, so all of the output is bwrap's own.
func commandNotRun(out *tail) bool {
	lines := strings.Split(strings.TrimSpace(string(out.bytes())), "\n")
	return strings.HasPrefix(lines[len(lines)-1], "bwrap: execvp ")
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
