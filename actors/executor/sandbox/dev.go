package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// The program's /dev: the devices of bwrap's --dev (null, zero, full,
// random, urandom), the links to its own descriptors, and /dev/shm as a
// link to its /tmp, so that POSIX shared memory (shm_open, sem_open:
// Python's multiprocessing locks) lands in the one tmpfs sized to its
// memory limit. No terminal devices (tty, ptmx, pts): with a session of
// its own and no terminal, a program has no use for them.
//
// Each mount costs bwrap about a tenth of a millisecond (it reads the
// whole mount table again after every bind): its --dev makes eight (a
// tmpfs, six devices, a devpts) and needed a ninth, a tmpfs for /dev/shm.
// As root, the executor therefore keeps this /dev as a directory of the
// host's devtmpfs, devDir, made once and checked at New, which bwrap binds
// in one mount. Where it cannot (not root, a read-only or nodev /dev),
// bwrap mounts a tmpfs and binds the five devices onto it.

// devDir is the host directory the executor, as root, shows programs as
// /dev. It must be on a file system that allows device files: /run and
// /tmp are often mounted nodev, /dev never is.
const devDir = "/dev/agora-sandbox"

// devEntry is one entry of the program's /dev: a device with the same
// number and mode as the host's node, or a symbolic link.
type devEntry struct {
	name string
	node string // the host's device
	link string // the link's target
}

var devEntries = []devEntry{
	{name: "null", node: "/dev/null"},
	{name: "zero", node: "/dev/zero"},
	{name: "full", node: "/dev/full"},
	{name: "random", node: "/dev/random"},
	{name: "urandom", node: "/dev/urandom"},
	{name: "fd", link: "/proc/self/fd"},
	{name: "stdin", link: "/proc/self/fd/0"},
	{name: "stdout", link: "/proc/self/fd/1"},
	{name: "stderr", link: "/proc/self/fd/2"},
	{name: "shm", link: "/tmp"},
}

// devMounts are bwrap's arguments that make /dev: one bind of dir if it
// is not empty (a directory prepareDevDir accepted), otherwise a tmpfs
// with the devices bound one by one.
func devMounts(dir string) []string {
	if dir != "" {
		// Read-write, as --dev is: the directory and its links belong to
		// root, so the sandbox user can write nothing but the devices.
		return []string{"--dev-bind", dir, "/dev"}
	}
	args := []string{"--perms", "0755", "--tmpfs", "/dev"}
	for _, e := range devEntries {
		if e.link != "" {
			args = append(args, "--symlink", e.link, "/dev/"+e.name)
		} else {
			args = append(args, "--dev-bind", e.node, "/dev/"+e.name)
		}
	}
	return args
}

// prepareDevDir makes devDir if it does not exist yet, and says whether it
// is exactly what devEntries describe, belongs to root, and allows its
// devices to be used. Another executor on the host may make it at the
// same time: each builds a directory of its own and renames it into
// place; the loser removes its own.
func prepareDevDir() error {
	if _, err := os.Lstat(devDir); errors.Is(err, fs.ErrNotExist) {
		if err := makeDevDir(devDir); err != nil {
			return err
		}
	}
	return checkDevDir(devDir)
}

func makeDevDir(dir string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, e := range devEntries {
		path := filepath.Join(tmp, e.name)
		if e.link != "" {
			if err := os.Symlink(e.link, path); err != nil {
				return err
			}
			continue
		}
		var host unix.Stat_t
		if err := unix.Stat(e.node, &host); err != nil {
			return err
		}
		if err := unix.Mknod(path, unix.S_IFCHR|host.Mode&0o777, int(host.Rdev)); err != nil {
			return err
		}
		// Mknod's mode went through the umask.
		if err := unix.Chmod(path, host.Mode&0o777); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return err
	}
	return nil
}

// checkDevDir refuses dir unless it holds exactly devEntries, all of
// root's, no more writable than the host's own, and its null device can
// be opened (the file system is not nodev).
func checkDevDir(dir string) error {
	if err := ownedByRoot(dir, 0o022); err != nil {
		return err
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	want := make([]string, 0, len(devEntries))
	for _, e := range devEntries {
		want = append(want, e.name)
	}
	var got []string
	for _, d := range names {
		got = append(got, d.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("%s holds %v, not %v", dir, got, want)
	}
	for _, e := range devEntries {
		path := filepath.Join(dir, e.name)
		if e.link != "" {
			if target, err := os.Readlink(path); err != nil || target != e.link {
				return fmt.Errorf("%s is not a link to %s", path, e.link)
			}
			if err := ownedByRoot(path, 0); err != nil {
				return err
			}
			continue
		}
		var host, st unix.Stat_t
		if err := unix.Stat(e.node, &host); err != nil {
			return err
		}
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Mode != host.Mode || st.Rdev != host.Rdev || st.Uid != 0 {
			return fmt.Errorf("%s is not the device %s is", path, e.node)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "null"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// ownedByRoot refuses path unless root owns it and none of the
// permission bits in forbidden is set.
func ownedByRoot(path string, forbidden fs.FileMode) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid != 0 || fi.Mode().Perm()&forbidden != 0 {
		return fmt.Errorf("%s must belong to root, without mode bits %v", path, forbidden)
	}
	return nil
}
