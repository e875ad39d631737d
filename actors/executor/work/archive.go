package work

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A workspace travels as a tar of its regular files and directories.
// Anything else a program left there (a symlink, a fifo) stays behind:
// unpacked on another machine a symlink could name a path outside the
// workspace.

// An agent's workspace is stored as versions, each one object (a tar)
// named for what wrote it: VersionName for an attempt of an execution,
// <agent id>.put-<time> for what the economy stored itself. The object
// named by the agent's id is a pointer, empty, whose metadata names the
// current version; only the economy's Runner moves it, when it accepts
// the result of the attempt it waits for. A worker writes only its own
// attempt's version, so a stale one (frozen past its order's ack wait)
// can write nothing that is read: the object store has no
// compare-and-set, and this needs none. An object named by the agent's
// id with no such metadata is a workspace stored before versions, read
// as it is and replaced by the first pointer.

// versionKey is the pointer's metadata entry naming the current version.
const versionKey = "agora-workspace-version"

// VersionName is the object the worker running attempt of executionID
// writes agentID's workspace to. Ids have no '.', so no version of one
// agent is named like another agent or its versions.
func VersionName(agentID, executionID string, attempt int) string {
	return agentID + "." + executionID + "." + strconv.Itoa(attempt)
}

// putVersion stores dir as the object name.
func putVersion(ctx context.Context, store jetstream.ObjectStore, name, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(pack(pw, dir)) }()
	_, err := store.Put(ctx, jetstream.ObjectMeta{Name: name}, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("work: store the workspace %s: %w", name, err)
	}
	return nil
}

// putWorkspace stores dir as a new version of agentID's workspace and
// makes it the current one: what the economy does for an agent it
// creates, or whose workspace the store does not have yet.
func putWorkspace(ctx context.Context, store jetstream.ObjectStore, agentID, dir string) error {
	version := agentID + ".put-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := putVersion(ctx, store, version, dir); err != nil {
		return err
	}
	return point(ctx, store, agentID, version)
}

// current names the object holding agentID's workspace;
// jetstream.ErrObjectNotFound when there is none.
func current(ctx context.Context, store jetstream.ObjectStore, agentID string) (string, error) {
	info, err := store.GetInfo(ctx, agentID)
	if err != nil {
		return "", err
	}
	if v := info.Metadata[versionKey]; v != "" {
		return v, nil
	}
	return agentID, nil
}

// point makes version, which must be stored, agentID's workspace, then
// deletes the version it replaces.
func point(ctx context.Context, store jetstream.ObjectStore, agentID, version string) error {
	if _, err := store.GetInfo(ctx, version); err != nil {
		return fmt.Errorf("work: workspace %s: %w", version, err)
	}
	prev, err := current(ctx, store, agentID)
	if err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("work: workspace of %s: %w", agentID, err)
	}
	_, err = store.Put(ctx, jetstream.ObjectMeta{Name: agentID, Description: "the current version of the workspace",
		Metadata: map[string]string{versionKey: version}}, bytes.NewReader(nil))
	if err != nil {
		return fmt.Errorf("work: workspace of %s: %w", agentID, err)
	}
	// A workspace stored before versions was replaced by the pointer
	// itself (its chunks purged by the Put).
	if prev != "" && prev != agentID && prev != version {
		_ = store.Delete(ctx, prev)
	}
	return nil
}

// getWorkspace unpacks agentID's current workspace into dir, which must
// not exist; jetstream.ErrObjectNotFound when there is none.
func getWorkspace(ctx context.Context, store jetstream.ObjectStore, agentID, dir string) error {
	name, err := current(ctx, store, agentID)
	if err != nil {
		return err
	}
	r, err := store.Get(ctx, name)
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
