package work

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
)

// A workspace travels as a tar of its regular files and directories.
// Anything else a program left there (a symlink, a fifo) stays behind:
// unpacked on another machine a symlink could name a path outside the
// workspace.

// putWorkspace stores dir as agentID's workspace.
func putWorkspace(ctx context.Context, store jetstream.ObjectStore, agentID, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(pack(pw, dir)) }()
	_, err := store.Put(ctx, jetstream.ObjectMeta{Name: agentID}, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("work: store the workspace of %s: %w", agentID, err)
	}
	return nil
}

// getWorkspace unpacks agentID's stored workspace into dir, which must
// not exist; jetstream.ErrObjectNotFound when there is none.
func getWorkspace(ctx context.Context, store jetstream.ObjectStore, agentID, dir string) error {
	r, err := store.Get(ctx, agentID)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("work: workspace of %s: %w", agentID, err)
	}
	if err := unpack(io.LimitReader(r, WorkspaceBytesMax+1), dir); err != nil {
		return fmt.Errorf("work: workspace of %s: %w", agentID, err)
	}
	return nil
}

// Put stores dir, an agent's workspace on this machine, as agentID's in
// the workspaces' bucket of js: what the economy does for an agent it
// creates, when its executions run on workers.
func Put(ctx context.Context, js jetstream.JetStream, q Queue, agentID, dir string) error {
	store, err := js.ObjectStore(ctx, q.withDefaults().Bucket)
	if err != nil {
		return missing(err, "bucket "+q.withDefaults().Bucket)
	}
	return putWorkspace(ctx, store, agentID, dir)
}

func pack(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm()), ModTime: info.ModTime()}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			return tw.WriteHeader(hdr)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, info.Size())
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// unpack writes the tar r into dir, refusing any entry that is not a
// regular file or a directory at a local path. The directories
// it goes through are its own (made here, never links), so nothing lands
// outside dir.
func unpack(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrWorkspaceArchive, err)
		}
		name := hdr.Name
		if hdr.Typeflag == tar.TypeDir && len(name) > 0 && name[len(name)-1] == '/' {
			name = name[:len(name)-1]
		}
		// Looser than executor.ValidatePath: a program may have made paths
		// deeper or longer than those a new workspace may be given.
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%w: %q is not a path inside the workspace", ErrWorkspaceArchive, name)
		}
		perm := fs.FileMode(hdr.Mode).Perm()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, perm|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			total += hdr.Size
			if total > WorkspaceBytesMax {
				return fmt.Errorf("%w: more than %d bytes", ErrWorkspaceArchive, WorkspaceBytesMax)
			}
			if d := filepath.Dir(name); d != "." {
				if err := root.MkdirAll(d, 0o700); err != nil {
					return err
				}
			}
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
			if err != nil {
				return err
			}
			_, err = io.CopyN(f, tr, hdr.Size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s is not a regular file or a directory", ErrWorkspaceArchive, name)
		}
	}
}
