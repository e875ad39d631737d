package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Sandbox runs executions. It is safe for concurrent use; with root, as
// many executions run at once as it has sandbox uids, and more wait.
type Sandbox struct {
	tools    tools
	system   []string  // bwrap's mounts of the system runtime
	dev      []string  // bwrap's mounts that make /dev (see dev.go)
	users    *users    // the sandbox uids; nil when the executor is not root
	self     user      // who the program runs as when users is nil
	networks *networks // kept network namespaces; nil when bwrap makes them (see netns.go)
	cgroups  *cgroups  // where executions' control groups are made; nil: measured in /proc (meter.go)
}

// Option configures New.
type Option func(*options) error

type options struct {
	bwrap              string
	uidFirst, uidCount int
}

// WithBwrap names the bwrap binary; the empty string runs without bwrap
// (rlimits and a process group only, as on a machine without it). The
// default is "bwrap" looked up in PATH.
func WithBwrap(path string) Option {
	return func(o *options) error { o.bwrap = path; return nil }
}

// WithUsers sets the host uids given to programs when the executor runs
// as root: count uids from first on, all in group first. They must be
// used by nothing else on the host: a sandbox kills every process of its
// uid without bwrap. Executors on one host may share a range: a uid in use
// is locked host-wide (see lockUID). The default is UIDFirstDefault and
// UIDsDefault.
func WithUsers(first, count int) Option {
	return func(o *options) error {
		if first < 1000 || count < 1 || count > UIDsMax || first+count-1 > 1<<32-2 {
			return fmt.Errorf("%w: users [%d, %d+%d) must be above the system's uids, at most %d, below 2^32-1",
				ErrInvalidOption, first, first, count, UIDsMax)
		}
		o.uidFirst, o.uidCount = first, count
		return nil
	}
}

// New finds the sandbox's tools and checks that it works by running a
// trivial program: through bwrap if bwrap is there and works on this
// kernel, otherwise with rlimits and a process group only. In that case
// warning says so, in words meant to be logged loudly: programs then see
// the whole host file system that their user may read, and the network.
// The caller's process becomes a child subreaper (see process.go).
func New(opts ...Option) (s *Sandbox, warning string, err error) {
	o := options{bwrap: "bwrap", uidFirst: UIDFirstDefault, uidCount: UIDsDefault}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, "", err
		}
	}
	s = &Sandbox{self: user{uid: os.Getuid(), gid: os.Getgid()}}
	if s.tools, err = findTools(os.Geteuid() == 0); err != nil {
		return nil, "", err
	}
	if os.Geteuid() == 0 {
		if s.users, err = newUsers(o.uidFirst, o.uidCount); err != nil {
			return nil, "", err
		}
	}
	if err := becomeSubreaper(); err != nil {
		return nil, "", fmt.Errorf("%w: become a child subreaper: %w", ErrSandboxFailed, err)
	}

	var warnings []string
	if reason := s.useBwrap(o.bwrap); reason != "" {
		if err := s.probe(); err != nil {
			return nil, "", fmt.Errorf("%w: without bwrap either (%s): %w", ErrProbeFailed, reason, err)
		}
		warnings = append(warnings, fmt.Sprintf("SANDBOX WITHOUT ISOLATION: %s. Agent programs run with CPU, memory and process "+
			"limits and are killed with their process group, but they can read every file their user may read, "+
			"use the network, and see other agents' workspaces. Install bubblewrap (Debian: apt-get install "+
			"bubblewrap) and make sure it can create namespaces here.", reason))
	}
	if reason := s.useCgroups(); reason != "" {
		warnings = append(warnings, fmt.Sprintf("NO CONTROL GROUPS FOR EXECUTIONS: %s. The CPU time and memory of an execution's "+
			"processes are summed from /proc every %s and the execution is killed at the next look past its envelope, "+
			"not by the kernel: a program may overrun its memory for that long, and a process that leaves the "+
			"execution's process tree (only possible without bwrap) is not counted. Run Agora as root on a machine "+
			"with cgroup v1 (memory, cpuacct, pids) or cgroup v2 (memory and pids delegated to it).", reason, envelopeCheckInterval))
	}
	return s, strings.Join(warnings, " "), nil
}

// useCgroups makes s give every execution a control group of its own if
// it can here, after removing the groups a crashed executor left;
// otherwise it says why not. The groups are checked by running the
// trivial program in one.
func (s *Sandbox) useCgroups() (whyNot string) {
	c, why := findCgroups()
	if c == nil {
		return why
	}
	if err := c.prepare(); err != nil {
		return fmt.Sprintf("cannot prepare the control groups: %v", err)
	}
	c.removeStale(s.claimUID)
	s.cgroups = c
	if err := s.probe(); err != nil {
		s.cgroups = nil
		c.close()
		return fmt.Sprintf("a program in a control group of its own did not run: %v", err)
	}
	return ""
}

// claimUID holds a sandbox uid that no execution uses, so that its stale
// control group can be removed; ok is false when the uid is in use, or
// there are no sandbox uids here.
func (s *Sandbox) claimUID(uid int) (release func(), ok bool) {
	if s.users == nil {
		return nil, false
	}
	lock, err := lockUID(s.users.lockDir, uid)
	if err != nil {
		return nil, false
	}
	return func() { _ = lock.Close() }, true
}

// useBwrap makes s run programs through bwrap if bwrap works here;
// otherwise it says why not.
func (s *Sandbox) useBwrap(name string) (whyNot string) {
	if name == "" {
		return "bwrap is disabled"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return fmt.Sprintf("bwrap not found (%v)", err)
	}
	s.tools.bwrap, s.system, s.dev = path, systemMounts(), devMounts("")
	if s.users == nil {
		err = s.probe()
	} else {
		// As root, the executor keeps the network namespaces and /dev
		// itself (netns.go, dev.go). Where it cannot, bwrap makes them
		// for each execution, as it does for any other user.
		s.networks = newNetworks(networksKeptMax)
		if prepareDevDir() == nil {
			s.dev = devMounts(devDir)
		}
		if err = s.probe(); err != nil {
			s.networks, s.dev = nil, devMounts("")
			err = s.probe()
		}
		if s.networks != nil {
			s.networks.dropIdle()
		}
	}
	if err != nil {
		s.tools.bwrap, s.system, s.dev = "", nil, nil
		return fmt.Sprintf("bwrap at %s does not work on this machine: %v", path, err)
	}
	return ""
}

// findTools locates sh, and unshare and setpriv for root: in the
// system directories, which the sandbox also shows the program.
func findTools(root bool) (tools, error) {
	var t tools
	var missing []string
	find := func(name string) string {
		for _, dir := range []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"} {
			path := dir + "/" + name
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return path
			}
		}
		missing = append(missing, name)
		return ""
	}
	t.sh = find("sh")
	if root {
		t.unshare, t.setpriv = find("unshare"), find("setpriv")
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("%w: %s (Debian: util-linux, dash)", ErrToolMissing, strings.Join(missing, ", "))
	}
	return t, nil
}

// probe runs "true" in a fresh workspace: the whole path an execution
// takes, limits and user switch included.
func (s *Sandbox) probe() error {
	dir, err := os.MkdirTemp("", "agora-sandbox-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	res, err := s.Run(ctx, Spec{Workspace: dir, Command: []string{"true"},
		CPUSeconds: 10, MemoryMB: 256, WorkspaceMB: 64, Processes: 16, Timeout: probeTimeout})
	if err != nil && !errors.Is(err, ErrOutputLog) {
		return err
	}
	if res.Cause != CauseExited || res.ExitCode != 0 {
		out, _ := os.ReadFile(dir + "/" + OutputLogPath)
		return fmt.Errorf("true ended with %s: %s", res, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close removes the control groups the sandbox keeps for reuse (see
// cgroup.go). Call it once no Run is in progress; a group it leaves (a
// crash) is removed by the next New in the same group, or the next
// execution of its uid.
func (s *Sandbox) Close() {
	if s.cgroups != nil {
		s.cgroups.close()
	}
}

// Isolated reports whether programs run inside bwrap.
func (s *Sandbox) Isolated() bool { return s.tools.bwrap != "" }

// SocketPath is the path at which the program finds the service socket
// whose host path is hostPath: ServiceSocketPath with bwrap, the host path
// without. AGORA_URL should name it.
func (s *Sandbox) SocketPath(hostPath string) string {
	if s.Isolated() {
		return ServiceSocketPath
	}
	return hostPath
}

// WorkspacePath is the path at which the program sees its workspace.
func (s *Sandbox) WorkspacePath(hostPath string) string {
	if s.Isolated() {
		return WorkspaceMountPath
	}
	return hostPath
}

// GrantSocket lets the sandbox users connect to the service socket at
// path: its group becomes theirs, with read and write for the group. It
// does nothing when the executor is not root (programs then run as its
// own user). The socket's owner keeps full access.
func (s *Sandbox) GrantSocket(path string) error {
	if s.users == nil {
		return nil
	}
	if err := os.Chown(path, -1, s.users.gid); err != nil {
		return fmt.Errorf("%w: %w", ErrSocketAccess, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		return fmt.Errorf("%w: %w", ErrSocketAccess, err)
	}
	return nil
}
