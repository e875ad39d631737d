package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agora-econ/agora/events"
)

// Workspaces are the agents' directories, <root>/<agent id>/. An agent's
// workspace is created once, with the agent (genesis at the first start, a
// spawned child or an operator's agent from the files it is given), and
// persists between executions: its state.json is the agent's memory. It is
// kept after the agent's death, for analysis.
//
// Create the workspace before the account (agent.Create): an agent whose
// account exists always has its program on disk. A workspace left behind
// by a creation the account then refused is harmless (no execution ever
// runs there) and is refused by the next Create for that id.
type Workspaces struct {
	root string
	// created, when set, is told of each workspace Create made (OnCreate).
	created func(agentID, dir string) error
}

// OnCreate has Create hand each new workspace to f before it returns:
// where executions run on other machines (package work), f puts it in the
// store they fetch workspaces from. A workspace f refuses is removed, and
// Create fails with f's error.
func (w *Workspaces) OnCreate(f func(agentID, dir string) error) { w.created = f }

// workspaceMode keeps every workspace private to the process's user;
// the sandbox exposes each execution to its own only.
const workspaceMode = 0o700

// NewWorkspaces opens (creating it if needed) the root directory of the
// workspaces.
func NewWorkspaces(root string) (*Workspaces, error) {
	if root == "" {
		return nil, errors.New("executor: empty workspaces root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("executor: workspaces root: %w", err)
	}
	if err := os.MkdirAll(abs, workspaceMode); err != nil {
		return nil, fmt.Errorf("executor: workspaces root: %w", err)
	}
	return &Workspaces{root: abs}, nil
}

// Root is the absolute path of the directory holding every workspace.
func (w *Workspaces) Root() string { return w.root }

// Dir returns the path of agentID's workspace, which must exist.
func (w *Workspaces) Dir(agentID string) (string, error) {
	if err := events.ValidateID(agentID); err != nil {
		return "", err
	}
	dir := filepath.Join(w.root, agentID)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: agent %s", ErrNoWorkspace, agentID)
	case err != nil:
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	case !info.IsDir():
		return "", fmt.Errorf("%w: %s is not a directory", ErrNoWorkspace, dir)
	}
	return dir, nil
}

// Create makes agentID's workspace from files (path inside the workspace
// -> content, as genesis.Files gives them) and returns its path. Every path and size is checked before
// anything is written; the files are written into a temporary directory
// renamed into place, so a workspace exists whole or not at all.
func (w *Workspaces) Create(agentID string, files map[string][]byte) (string, error) {
	if err := events.ValidateID(agentID); err != nil {
		return "", err
	}
	if err := ValidateFiles(files); err != nil {
		return "", err
	}
	dir := filepath.Join(w.root, agentID)
	if _, err := os.Lstat(dir); err == nil {
		return "", fmt.Errorf("%w: agent %s", ErrWorkspaceExists, agentID)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	}
	tmp, err := os.MkdirTemp(w.root, ".new-"+agentID+"-")
	if err != nil {
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	}
	if err := writeFiles(tmp, files); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	}
	if err := os.Chmod(tmp, workspaceMode); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
	}
	if w.created != nil {
		if err := w.created(agentID, dir); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("executor: workspace of %s: %w", agentID, err)
		}
	}
	return dir, nil
}

func writeFiles(dir string, files map[string][]byte) error {
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), workspaceMode); err != nil {
			return err
		}
		// O_EXCL: the directory is new, so nothing may be there already;
		// a path that somehow names an existing file is a bug, not an
		// overwrite.
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = f.Write(files[p])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// ValidateFiles checks the files of a new workspace: at most
// FilesPerWorkspaceMax files of at most FileBytesMax bytes each and
// WorkspaceBytesMax in all, every path valid (ValidatePath), and no path
// both a file and the directory of another.
func ValidateFiles(files map[string][]byte) error {
	if len(files) > FilesPerWorkspaceMax {
		return fmt.Errorf("%w: %d files, at most %d", ErrWorkspaceTooLarge, len(files), FilesPerWorkspaceMax)
	}
	total := 0
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := ValidatePath(p); err != nil {
			return err
		}
		n := len(files[p])
		if n > FileBytesMax {
			return fmt.Errorf("%w: %s has %d bytes, at most %d", ErrWorkspaceTooLarge, p, n, FileBytesMax)
		}
		total += n
		if total > WorkspaceBytesMax {
			return fmt.Errorf("%w: more than %d bytes in all", ErrWorkspaceTooLarge, WorkspaceBytesMax)
		}
		if dir, ok := FileAsDirectory(files, p); ok {
			return fmt.Errorf("%w: %s is a file and the directory of %s", ErrInvalidPath, dir, p)
		}
	}
	return nil
}

// FileAsDirectory finds the nearest directory of path p that files also
// names as a file: a workspace cannot hold both, so such a set of files
// is refused by every door that brings a program in.
func FileAsDirectory[V any](files map[string]V, p string) (string, bool) {
	for dir := p; ; {
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			return "", false
		}
		dir = dir[:i]
		if _, isFile := files[dir]; isFile {
			return dir, true
		}
	}
}

// ValidatePath checks one file path inside a workspace: relative, with
// '/' between its elements, clean (no empty, "." or ".." element, no
// trailing slash), at most PathBytesMax bytes and PathDepthMax elements,
// and free of NUL, control characters and backslashes, so that it can
// name nothing outside the workspace.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%w: empty", ErrInvalidPath)
	case len(p) > PathBytesMax:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidPath, len(p), PathBytesMax)
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("%w: %q is absolute", ErrInvalidPath, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: %q has the character %q", ErrInvalidPath, p, r)
		}
	}
	elems := strings.Split(p, "/")
	if len(elems) > PathDepthMax {
		return fmt.Errorf("%w: %q is deeper than %d", ErrInvalidPath, p, PathDepthMax)
	}
	for _, e := range elems {
		switch e {
		case "":
			return fmt.Errorf("%w: %q has an empty element", ErrInvalidPath, p)
		case ".", "..":
			return fmt.Errorf("%w: %q has a %q element", ErrInvalidPath, p, e)
		}
	}
	return nil
}
