package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkWorkspace refuses a workspace that is not a directory before
// anything starts.
func checkWorkspace(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWorkspace, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrWorkspace, path)
	}
	return nil
}

// checkSocket refuses a service socket the program could not use: missing,
// not a socket, or (when the program runs as a sandbox user) not writable
// by that user, since connect(2) needs write permission on the socket.
func checkSocket(path string, u user) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSocket, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s is not a Unix socket", ErrSocket, path)
	}
	if !u.switched {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	perm := fi.Mode().Perm()
	if perm&0o002 != 0 || ok && int(st.Gid) == u.gid && perm&0o020 != 0 || ok && int(st.Uid) == u.uid && perm&0o200 != 0 {
		return nil
	}
	return fmt.Errorf("%w: %s has mode %s; give it group %d and mode 0660 (Sandbox.GrantSocket)", ErrSocketAccess, path, perm, u.gid)
}

// handOver makes the sandbox user u the owner of every entry of the
// workspace, so that the program can write what the executor (root) put
// there: a spawned program's files, the previous output log, files of a
// run under another sandbox uid. It runs while nothing of the agent runs.
//
// The walk goes through an os.Root, so a symbolic link in the workspace
// can never lead it outside, and it changes links themselves (lchown),
// never their targets. A non-directory with more than one hard link is
// left alone: the agent could have linked a file of the host into its
// workspace (where the kernel allows it), and handing it over would give
// the host's file away.
func handOver(workspace string, u user) error {
	root, err := os.OpenRoot(workspace)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrWorkspace, err)
	}
	defer root.Close()
	return fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWorkspace, err)
		}
		fi, err := root.Lstat(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWorkspace, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) == u.uid && int(st.Gid) == u.gid {
			return nil
		}
		if !fi.IsDir() && st.Nlink > 1 {
			return nil
		}
		if err := root.Lchown(name, u.uid, u.gid); err != nil {
			return fmt.Errorf("%w: hand over %s: %w", ErrWorkspace, name, err)
		}
		return nil
	})
}

// writeOutputLog replaces OutputLogPath in the workspace with the tail of
// the output, a line saying how much was dropped if anything was, and the
// result. The file is written beside and renamed over the old one, so a
// reader never sees half of it, and all of it goes through an os.Root: a
// symbolic link the agent left at that path is replaced, never followed
// out of the workspace.
func writeOutputLog(workspace string, t *tail, res Result, u user) error {
	root, err := os.OpenRoot(workspace)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	defer root.Close()
	dir := filepath.Dir(OutputLogPath)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	tmp := OutputLogPath + ".tmp"
	if err := root.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	if n := t.dropped(); n > 0 {
		_, err = fmt.Fprintf(f, "[agora] output truncated: the first %d bytes were dropped, the last %d follow\n", n, len(t.buf))
	}
	if err == nil {
		_, err = f.Write(t.bytes())
	}
	if err == nil {
		_, err = fmt.Fprintf(f, "\n[agora] execution ended: %s\n", res)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// Renaming over the old log would make ext4 flush the new one to disk
	// first (auto_da_alloc), most of the time the whole sandbox takes; the
	// old log goes first, so a reader may find none for a moment, never half
	// of one.
	if err == nil {
		if rerr := root.Remove(OutputLogPath); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	if err == nil {
		err = root.Rename(tmp, OutputLogPath)
	}
	if err == nil && u.switched {
		err = errors.Join(root.Lchown(dir, u.uid, u.gid), root.Lchown(OutputLogPath, u.uid, u.gid))
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	return nil
}
