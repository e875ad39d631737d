package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
)

// The command lines, built as plain data so that tests can read them.

// tools are the host programs the sandbox is made of.
type tools struct {
	bwrap   string // "" without bwrap
	sh      string // used without bwrap
	unshare string // used by root, with bwrap
	setpriv string // used by root, without bwrap
}

// The file descriptors the leader gets besides stdin, stdout and stderr.
const (
	statusFd = 3 // bwrap's --json-status-fd, or where sh writes "$!"
	// releaseFd: the sandbox's first process (bwrap's init, or the
	// fallback's subshell) waits on it, before the program exists, until
	// the executor has set the limits on it (see rlimits.go).
	releaseFd = 4
)

// userArgs switch from root to the sandbox user for good, with no
// supplementary groups and no capabilities, and exec the rest of the
// command line.
//
// Inside bwrap, which already set no_new_privs and left root only the
// capabilities needed here, unshare(1) with no namespace to unshare does
// it: it sets the real, effective and saved ids, which empties the
// permitted, effective and ambient capabilities (no_new_privs keeps
// setuid binaries and file capabilities from giving any back), in half
// the time setpriv(1) takes, a tenth of the sandbox's whole cost. Without
// bwrap, setpriv does it and sets no_new_privs itself.
func userArgs(t tools, u user, isolated bool) []string {
	switch {
	case !u.switched:
		return nil
	case isolated:
		return []string{t.unshare, "--setgid=" + strconv.Itoa(u.gid), "--setuid=" + strconv.Itoa(u.uid), "--"}
	}
	return []string{
		t.setpriv,
		"--reuid=" + strconv.Itoa(u.uid), "--regid=" + strconv.Itoa(u.gid), "--clear-groups",
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
		"--",
	}
}

// systemMounts are bwrap's arguments that show the system runtime read
// only: /usr and /etc, and /bin, /sbin and the /lib directories as the
// host has them (symbolic links into /usr on a merged-/usr system, which
// cost no mount).
func systemMounts() []string {
	args := []string{"--ro-bind", "/usr", "/usr"}
	for _, dir := range []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"} {
		fi, err := os.Lstat(dir)
		switch {
		case err != nil:
			continue
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(dir)
			if err != nil {
				continue
			}
			args = append(args, "--symlink", target, dir)
		case fi.IsDir():
			args = append(args, "--ro-bind", dir, dir)
		}
	}
	return append(args, "--ro-bind", "/etc", "/etc")
}

// bwrapArgs is the whole command line of an isolated execution: system
// is systemMounts, dev is devMounts.
//
// As root, bwrap keeps the host's user namespace and the program becomes
// the sandbox user through userArgs: a user namespace made by root maps
// the program to uid 0 outside, which RLIMIT_NPROC exempts. Not as root,
// bwrap makes a user namespace (it cannot do otherwise), in which the
// kernel counts the program's processes apart from the user's others, and
// forbids the program to make more.
//
// keptNetwork: bwrap is started inside the network namespace the executor
// keeps for the workspace (see netns.go), and makes none.
func bwrapArgs(t tools, system, dev []string, sp Spec, u user, keptNetwork bool) []string {
	args := []string{t.bwrap}
	if u.switched {
		args = append(args, "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
		if !keptNetwork {
			args = append(args, "--unshare-net")
		}
		// What is left of root's capabilities until userArgs drops them:
		// entering the workspace, which belongs to the sandbox user, and
		// becoming that user.
		args = append(args, "--cap-drop", "ALL", "--cap-add", "CAP_DAC_READ_SEARCH", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")
	} else {
		args = append(args, "--unshare-all", "--unshare-user", "--disable-userns")
	}
	args = append(args,
		"--hostname", "agora",
		"--die-with-parent", "--new-session",
		"--json-status-fd", strconv.Itoa(statusFd), "--block-fd", strconv.Itoa(releaseFd))
	args = append(args, system...)
	args = append(args, "--proc", "/proc")
	args = append(args, dev...)
	args = append(args,
		// /dev/shm is a link to /tmp (see devMounts): this one tmpfs,
		// sized to the memory limit, holds the program's temporary files
		// and its POSIX shared memory.
		"--perms", "1777", "--size", strconv.FormatInt(sp.memoryBytes(), 10), "--tmpfs", "/tmp",
		"--bind", filepath.Clean(sp.Workspace), WorkspaceMountPath)
	if sp.Socket != "" {
		// bwrap makes missing parents of a mount point for root only.
		args = append(args, "--perms", "0755", "--dir", filepath.Dir(ServiceSocketPath),
			"--bind", filepath.Clean(sp.Socket), ServiceSocketPath)
	}
	if !u.switched {
		// The root of the sandbox, and the tmpfs under /dev, are bwrap's,
		// which a program running as the user who made them could
		// otherwise fill without bound. As root, bwrap makes them and
		// every directory in them root's, mode 0755: the sandbox user
		// cannot write there, and the remounts would only cost more
		// passes over the mount table.
		args = append(args, "--remount-ro", "/", "--remount-ro", "/dev")
	}
	args = append(args, "--chdir", WorkspaceMountPath, "--")
	args = append(args, userArgs(t, u, true)...)
	return append(args, sp.Command...)
}

// fallbackScript runs its arguments as a background subshell, writes the
// subshell's pid to statusFd and exits without waiting: the subshell
// becomes the executor's child (see process.go). The subshell execs its
// arguments only once it reads releaseWord on releaseFd, which the
// executor writes once the limits are set; at EOF it exits instead.
const fallbackScript = `{ IFS= read -r go <&4 && [ "$go" = go ] && exec "$@" 4<&-; exit 125; } 3>&- & echo "$!" >&3`

// releaseWord is what the executor writes on releaseFd to let the program
// start (bwrap reads one byte of it, the fallback's subshell a line).
const releaseWord = "go\n"

// fallbackArgs is the whole command line of an execution without bwrap,
// run with the workspace as working directory.
func fallbackArgs(t tools, sp Spec, u user) []string {
	args := []string{t.sh, "-c", fallbackScript, "sh"}
	args = append(args, userArgs(t, u, false)...)
	return append(args, sp.Command...)
}
