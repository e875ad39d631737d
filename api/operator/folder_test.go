package operator_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/program"
	"github.com/agora-econ/agora/events"
)

// write makes the files under dir, path -> content.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadFolder: every regular file, at any depth, by its '/' path;
// empty directories are not files.
func TestReadFolder(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{"main.py": "print('hi')\n", "lib/util.py": "X = 1\n", "lib/deep/data.txt": "", "é.txt": "ü"}
	write(t, dir, want)
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := operator.ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
	// At the limits exactly.
	limit := t.TempDir()
	write(t, limit, map[string]string{"big": strings.Repeat("x", program.FileBytesMax),
		strings.Repeat("d/", program.PathDepthMax-1) + "f": "deep"})
	if got, err := operator.ReadFolder(limit); err != nil || len(got) != 2 {
		t.Fatalf("a folder at the limits: %d files, %v", len(got), err)
	}
}

// TestReadFolderRefuses: each folder the API would refuse, or that cannot
// be a workspace, is refused with the name of what is wrong.
func TestReadFolderRefuses(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, map[string]string{"secret": "s3cret"})
	cases := map[string]struct {
		make  func(t *testing.T, dir string) string // returns the folder to read
		words []string
	}{
		"missing": {func(t *testing.T, dir string) string { return filepath.Join(dir, "nope") }, []string{"nope", "does not exist"}},
		"a file": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"f": "x"})
			return filepath.Join(dir, "f")
		}, []string{"not a directory"}},
		"empty": {func(t *testing.T, dir string) string {
			return dir
		}, []string{"holds no file"}},
		"only empty directories": {func(t *testing.T, dir string) string {
			if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o700); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"holds no file"}},
		"a symbolic link out": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"main.py": "x"})
			if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "key")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"key is a symbolic link", "outside the folder"}},
		"a relative symbolic link out": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"main.py": "x"})
			if err := os.Symlink("../../etc/passwd", filepath.Join(dir, "passwd")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"passwd is a symbolic link", "outside the folder"}},
		"a symbolic link to a directory": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"main.py": "x"})
			if err := os.Symlink(outside, filepath.Join(dir, "lib")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"lib is a symbolic link", "outside the folder"}},
		"a symbolic link inside": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"main.py": "x"})
			if err := os.Symlink("main.py", filepath.Join(dir, "alias.py")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"alias.py is a symbolic link", "inside the folder"}},
		"a named pipe": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"main.py": "x"})
			if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"pipe is not a regular file"}},
		"a file too big": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"big.txt": strings.Repeat("x", program.FileBytesMax+1)})
			return dir
		}, []string{"big.txt", fmt.Sprintf("larger than %d bytes", program.FileBytesMax)}},
		"too many files": {func(t *testing.T, dir string) string {
			files := map[string]string{}
			for i := range program.FilesMax + 1 {
				files[fmt.Sprintf("f%03d", i)] = "x"
			}
			write(t, dir, files)
			return dir
		}, []string{fmt.Sprintf("more than %d files", program.FilesMax)}},
		"too many bytes in all": {func(t *testing.T, dir string) string {
			files := map[string]string{}
			for i := range 9 {
				files[fmt.Sprintf("big%d", i)] = strings.Repeat("x", 1<<20)
			}
			write(t, dir, files)
			return dir
		}, []string{fmt.Sprintf("more than %d bytes in all", program.FilesBytesMax)}},
		"not text": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{"a.bin": "\xff\xfe\x00"})
			return dir
		}, []string{"a.bin is not UTF-8 text"}},
		"a backslash in a name": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{`a\b.txt`: "x"})
			return dir
		}, []string{`a\b.txt`, "character"}},
		"too deep": {func(t *testing.T, dir string) string {
			write(t, dir, map[string]string{strings.Repeat("d/", program.PathDepthMax) + "f": "x"})
			return dir
		}, []string{"deeper than"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := c.make(t, t.TempDir())
			files, err := operator.ReadFolder(dir)
			if !errors.Is(err, operator.ErrInvalidFolder) {
				t.Fatalf("read %d files, err %v; want ErrInvalidFolder", len(files), err)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the linked file's content: %v", err)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	good := map[string][]string{
		"python3 main.py":          {"python3", "main.py"},
		"  sh   -c  true ":         {"sh", "-c", "true"},
		`["sh", "-c", "echo a b"]`: {"sh", "-c", "echo a b"},
		`["./run"]`:                {"./run"},
		strings.Repeat("a ", program.CommandArgsMax): slices.Repeat([]string{"a"}, program.CommandArgsMax),
	}
	for in, want := range good {
		if got, err := operator.SplitCommand(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                        "empty",
		"   ":                     "empty",
		"[]":                      "empty",
		`["sh", 1]`:               "not a string",
		`["sh"`:                   "not a JSON array",
		`[""]`:                    "program name is empty",
		`["sh", "a\u0000b"]`:      "NUL",
		strings.Repeat("a ", 65):  "65 arguments",
		strings.Repeat("a", 4097): "4097 bytes",
	}
	for in, words := range bad {
		if got, err := operator.SplitCommand(in); err == nil || !strings.Contains(err.Error(), words) {
			t.Errorf("SplitCommand(%.40q) = %q, %v; want an error saying %q", in, got, err, words)
		}
	}
}

func TestParseBidSpec(t *testing.T) {
	b, err := operator.ParseBidSpec("cpu_seconds=1.5, memory_mb=64,tokens=0.000001,amount=20.25")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]events.Units{"cpu_seconds": 1_500_000, "memory_mb": events.WholeUnits(64), "tokens": 1}
	if !maps.Equal(b.Resources, want) || b.AmountMicros != 20_250_000 {
		t.Fatalf("parsed %+v", b)
	}
	b.Payload = "go"
	body, err := json.Marshal(b.Body())
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != `{"amount":20.25,"payload":"go","resources":{"cpu_seconds":1.5,"memory_mb":64,"tokens":0.000001}}` {
		t.Fatalf("body %s", body)
	}
	bad := map[string]string{
		"":                                     "empty",
		"cpu_seconds=1,memory_mb=64":           "no amount",
		"amount=5":                             "no resource",
		"cpu_seconds=1,amount=5,amount=6":      "amount given twice",
		"cpu_seconds=1,cpu_seconds=2,amount=5": "cpu_seconds given twice",
		"cpu_seconds,amount=5":                 "not name=number",
		"cpu_seconds=,amount=5":                "not name=number",
		"cpu_seconds=1,,amount=5":              "not name=number",
		"cpu_seconds=x,amount=5":               "not a number",
		"cpu_seconds=1,amount=1.0000001":       "more than 6 decimals",
		"cpu_seconds=1,amount=-5":              "must be positive",
		"cpu_seconds=0,amount=5":               "must be positive",
		"CPU=1,amount=5":                       "not a resource name",
		"cpu_seconds=1,amount=1e13":            "above the maximum",
	}
	for in, words := range bad {
		if _, err := operator.ParseBidSpec(in); !errors.Is(err, operator.ErrInvalidBidSpec) || !strings.Contains(err.Error(), words) {
			t.Errorf("ParseBidSpec(%q): %v; want ErrInvalidBidSpec saying %q", in, err, words)
		}
	}
}
