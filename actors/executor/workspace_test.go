package executor_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/agents/genesis"
	"github.com/agora-econ/agora/events"
)

func TestWorkspaceCreate(t *testing.T) {
	w, err := executor.NewWorkspaces(filepath.Join(t.TempDir(), "workspaces"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"main.py": "print(1)\n", "lib/agora.py": "x = 1\n", "a/b/c/d.txt": "", "state.json": "{}"}
	dir, err := w.Create("genesis", bytesOf(files))
	if err != nil {
		t.Fatal(err)
	}
	if dir != filepath.Join(w.Root(), "genesis") {
		t.Fatalf("dir %s", dir)
	}
	for p, content := range files {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(b) != content {
			t.Fatalf("%s: %q, %v", p, b, err)
		}
	}
	if got, err := w.Dir("genesis"); err != nil || got != dir {
		t.Fatalf("Dir: %s, %v", got, err)
	}
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, %v", info.Mode(), err)
	}
	// Once only: a workspace persists, it is never overwritten.
	if _, err := w.Create("genesis", nil); !errors.Is(err, executor.ErrWorkspaceExists) {
		t.Fatalf("second create: %v", err)
	}
	// An empty workspace is a workspace.
	if _, err := w.Create("empty", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Dir("nobody"); !errors.Is(err, executor.ErrNoWorkspace) {
		t.Fatalf("Dir of nobody: %v", err)
	}
	for _, bad := range []string{"", "Bad", "../x", "a/b"} {
		if _, err := w.Dir(bad); !errors.Is(err, events.ErrInvalidID) {
			t.Errorf("Dir(%q): %v", bad, err)
		}
		if _, err := w.Create(bad, nil); !errors.Is(err, events.ErrInvalidID) {
			t.Errorf("Create(%q): %v", bad, err)
		}
	}
	// Nothing but the workspaces is left in the root (no temporary dirs).
	entries, err := os.ReadDir(w.Root())
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("root holds %v", entries)
	}
}

// TestWorkspaceRefusesBadFiles: a bad path or size writes nothing at all.
func TestWorkspaceRefusesBadFiles(t *testing.T) {
	w, err := executor.NewWorkspaces(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range executor.FilesPerWorkspaceMax + 1 {
		many[strings.Repeat("f", 1+i%50)+"/"+time.Duration(i).String()] = ""
	}
	big := map[string]string{}
	for i := range executor.WorkspaceBytesMax/executor.FileBytesMax + 1 {
		big["f"+time.Duration(i).String()] = strings.Repeat("x", executor.FileBytesMax)
	}
	cases := map[string]struct {
		files map[string]string
		err   error
	}{
		"absolute":             {map[string]string{"/etc/passwd": "x"}, executor.ErrInvalidPath},
		"climbs out":           {map[string]string{"../other/main.py": "x"}, executor.ErrInvalidPath},
		"climbs out midway":    {map[string]string{"a/../../x": "x"}, executor.ErrInvalidPath},
		"just dot-dot":         {map[string]string{"..": "x"}, executor.ErrInvalidPath},
		"dot":                  {map[string]string{"./main.py": "x"}, executor.ErrInvalidPath},
		"empty element":        {map[string]string{"a//b": "x"}, executor.ErrInvalidPath},
		"trailing slash":       {map[string]string{"a/": "x"}, executor.ErrInvalidPath},
		"empty path":           {map[string]string{"": "x"}, executor.ErrInvalidPath},
		"NUL":                  {map[string]string{"a\x00b": "x"}, executor.ErrInvalidPath},
		"newline":              {map[string]string{"a\nb": "x"}, executor.ErrInvalidPath},
		"backslash":            {map[string]string{`..\x`: "x"}, executor.ErrInvalidPath},
		"too long":             {map[string]string{strings.Repeat("a", executor.PathBytesMax+1): "x"}, executor.ErrInvalidPath},
		"too deep":             {map[string]string{strings.Repeat("a/", executor.PathDepthMax) + "b": "x"}, executor.ErrInvalidPath},
		"file and directory":   {map[string]string{"lib": "x", "lib/a.py": "y"}, executor.ErrInvalidPath},
		"file too large":       {map[string]string{"big": strings.Repeat("x", executor.FileBytesMax+1)}, executor.ErrWorkspaceTooLarge},
		"too many files":       {many, executor.ErrWorkspaceTooLarge},
		"too many bytes":       {big, executor.ErrWorkspaceTooLarge},
		"one bad among good":   {map[string]string{"main.py": "x", "../evil": "y"}, executor.ErrInvalidPath},
		"absolute in a subdir": {map[string]string{"a//etc/passwd": "x"}, executor.ErrInvalidPath},
	}
	for name, c := range cases {
		if _, err := w.Create("a", bytesOf(c.files)); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", name, err, c.err)
		}
	}
	entries, err := os.ReadDir(w.Root())
	if err != nil || len(entries) != 0 {
		t.Fatalf("a refused workspace left %v (%v)", entries, err)
	}
	// At the limits is fine.
	if _, err := w.Create("a", bytesOf(map[string]string{strings.Repeat("a/", executor.PathDepthMax-1) + "b": strings.Repeat("x", executor.FileBytesMax)})); err != nil {
		t.Fatal(err)
	}
}

// TestGenesisFitsAWorkspace: the program shipped for genesis is a valid
// workspace, and its command a valid agent command.
func TestGenesisFitsAWorkspace(t *testing.T) {
	if err := executor.ValidateFiles(genesis.Files()); err != nil {
		t.Fatal(err)
	}
	if err := agent.ValidateCommand(genesis.Command()); err != nil {
		t.Fatal(err)
	}
}

func bytesOf(files map[string]string) map[string][]byte {
	if files == nil {
		return nil
	}
	out := make(map[string][]byte, len(files))
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}
