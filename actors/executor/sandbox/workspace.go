package sandbox

import (
	"bytes"
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
//
// It runs after every execution, so it keeps to the fewest file system
// operations (about 0.15 ms on ext4, most of it the create, unlink and
// rename themselves): one write, the owner set on the open file, the
// directory's only when it is not the sandbox user's already.
func writeOutputLog(workspace string, t *tail, res Result, u user) error {
	if err := replaceOutputLog(workspace, outputLog(t, res), u); err != nil {
		return fmt.Errorf("%w: %w", ErrOutputLog, err)
	}
	return nil
}

// outputLog is the content of the output log.
func outputLog(t *tail, res Result) []byte {
	var b bytes.Buffer
	b.Grow(len(t.buf) + 256)
	if n := t.dropped(); n > 0 {
		fmt.Fprintf(&b, "[agora] output truncated: the first %d bytes were dropped, the last %d follow\n", n, len(t.buf))
	}
	b.Write(t.bytes())
	fmt.Fprintf(&b, "\n[agora] execution ended: %s\n", res)
	return b.Bytes()
}

func replaceOutputLog(workspace string, content []byte, u user) error {
	root, err := os.OpenRoot(workspace)
	if err != nil {
		return err
	}
	defer root.Close()
	dir, name := filepath.Split(OutputLogPath)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logs, err := root.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer logs.Close()
	tmp := name + ".tmp"
	f, err := logs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// Left by an execution that ended mid-way, or put there by the
		// agent (a link, say): removed, never followed.
		if err := logs.Remove(tmp); err != nil {
			return err
		}
		f, err = logs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if err == nil && u.switched {
		err = f.Chown(u.uid, u.gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	// Renaming over the old log would make ext4 flush the new one to disk
	// first (auto_da_alloc), most of the time the whole sandbox takes; the
	// old log goes first, so a reader may find none for a moment, never half
	// of one.
	if err == nil {
		if rerr := logs.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	if err == nil {
		err = logs.Rename(tmp, name)
	}
	if err == nil && u.switched {
		err = handOverDir(root, logs, dir, u)
	}
	return err
}

// handOverDir gives the log directory to the sandbox user, unless it is
// theirs already (a chown that changes nothing still costs a journal
// write).
func handOverDir(root, logs *os.Root, dir string, u user) error {
	fi, err := logs.Stat(".")
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == u.uid && int(st.Gid) == u.gid {
		return nil
	}
	return root.Lchown(filepath.Clean(dir), u.uid, u.gid)
}
