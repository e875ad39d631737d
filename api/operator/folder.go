package operator

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agora-econ/agora/api/program"
)

// A client helper: the files of POST /admin/agents read from a folder
// (`agora agent add DIR`), with the rules the API applies to them, so that
// a folder the API would refuse is refused before anything is sent, with
// the name of the file at fault.

// ErrInvalidFolder is returned by ReadFolder for a folder that cannot be
// an agent's workspace: missing, not a directory, empty, with a symbolic
// link or a special file, a file that is not UTF-8 text (the API carries
// text), or past a limit of a program (program.FilesMax, FileBytesMax,
// FilesBytesMax, the path rules).
var ErrInvalidFolder = errors.New("invalid program folder")

// ReadFolder reads every regular file under dir, recursively, as the files
// of a new agent: path relative to dir, '/'-separated -> content. Empty
// directories are not kept (a workspace is its files). Symbolic links are
// refused rather than followed: one pointing outside dir would send a file
// the operator did not mean to give away, and one inside is a copy the
// workspace does not need; the error says where it points.
func ReadFolder(dir string) (map[string]string, error) {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrInvalidFolder, dir)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrInvalidFolder, err)
	case !info.IsDir():
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalidFolder, dir)
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidFolder, err)
	}
	files := map[string]string{}
	total := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == root {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return symlinkError(root, path, name)
		case d.IsDir():
			return nil
		case !t.IsRegular():
			return fmt.Errorf("%s is not a regular file (%s)", name, t)
		}
		if err := program.ValidatePath(name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(files) == program.FilesMax {
			return fmt.Errorf("more than %d files; the workspace may hold at most %d", program.FilesMax, program.FilesMax)
		}
		content, err := readLimited(path, program.FileBytesMax)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !utf8.Valid(content) {
			return fmt.Errorf("%s is not UTF-8 text; the API carries a workspace's files as text", name)
		}
		if total += len(content); total > program.FilesBytesMax {
			return fmt.Errorf("more than %d bytes in all (at %s); the workspace may hold at most %d", program.FilesBytesMax, name, program.FilesBytesMax)
		}
		files[name] = string(content)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidFolder, dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %s holds no file", ErrInvalidFolder, dir)
	}
	return files, nil
}

// readLimited reads a file of at most limit bytes; a larger one is refused
// without being read whole.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("larger than %d bytes, the most a file may hold", limit)
	}
	return b, nil
}

// symlinkError says where a symbolic link points: inside the folder or
// out of it.
func symlinkError(root, path, name string) error {
	target, err := os.Readlink(path)
	if err != nil {
		return fmt.Errorf("%s is a symbolic link: %w", name, err)
	}
	resolved := target
	if !filepath.IsAbs(resolved) {
		resolved = filepath.Join(filepath.Dir(path), resolved)
	}
	resolved = filepath.Clean(resolved)
	where := "inside the folder: copy the file instead"
	if resolved != root && !strings.HasPrefix(resolved, root+string(filepath.Separator)) {
		where = "outside the folder"
	}
	return fmt.Errorf("%s is a symbolic link to %s, %s; links are not followed", name, target, where)
}

// SplitCommand reads a program's command as the command line gives it: a
// JSON array of strings (`["python3", "main.py", "--mode", "a b"]`, for
// arguments with spaces), or words separated by white space (`python3
// main.py`). The result follows the API's rules (at most CommandArgsMax
// arguments and CommandBytesMax bytes, a program name, no NUL).
func SplitCommand(s string) ([]string, error) {
	var args []string
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
		if err := jsonStrings(t, &args); err != nil {
			return nil, fmt.Errorf("command: not a JSON array of strings: %w", err)
		}
	} else {
		args = strings.Fields(s)
	}
	if len(args) == 0 {
		return nil, errors.New("command: empty; name the program to run, e.g. \"python3 main.py\"")
	}
	if len(args) > program.CommandArgsMax {
		return nil, fmt.Errorf("command: %d arguments, at most %d", len(args), program.CommandArgsMax)
	}
	if args[0] == "" {
		return nil, errors.New("command: the program name is empty")
	}
	n := 0
	for _, a := range args {
		n += len(a)
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("command: %q has a NUL byte", a)
		}
	}
	if n > program.CommandBytesMax {
		return nil, fmt.Errorf("command: %d bytes, at most %d", n, program.CommandBytesMax)
	}
	return slices.Clip(args), nil
}
