package genesis

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// pythonTestsTimeout bounds the Python suite; it takes a few seconds.
const pythonTestsTimeout = 5 * time.Minute

// TestPython runs the Python tests of this directory: the strategy's pure
// functions, the client helper against a fake service on a Unix socket and
// on TCP, and genesis's executions end to end. Without python3 it skips,
// unless AGORA_REQUIRE_PYTHON=1 (CI) makes that a failure: genesis cannot
// run without python3 either.
func TestPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("AGORA_REQUIRE_PYTHON") == "1" {
			t.Fatalf("python3 not found and AGORA_REQUIRE_PYTHON=1: %v", err)
		}
		t.Skip("python3 not found: skipping the genesis agent's Python tests (set AGORA_REQUIRE_PYTHON=1 to fail instead)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), pythonTestsTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, "-m", "unittest", "discover", "-s", ".", "-p", "test_*.py")
	cmd.Dir = "."
	// No __pycache__ left in the source tree.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3 -m unittest discover: %v\n%s", err, out.String())
	}
	t.Logf("python3 -m unittest discover:\n%s", lastLines(out.Bytes(), 3))
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return bytes.Join(lines[max(0, len(lines)-n):], []byte("\n"))
}

func TestFilesAreTheProgram(t *testing.T) {
	files := Files()
	names := make([]string, 0, len(files))
	for name, data := range files {
		names = append(names, name)
		disk, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, disk) {
			t.Errorf("embedded %s differs from the file on disk", name)
		}
	}
	slices.Sort(names)
	if want := []string{"agora.py", "helper.py", "main.py"}; !slices.Equal(names, want) {
		t.Fatalf("Files() = %v, want %v", names, want)
	}
	if !bytes.Contains(files["main.py"], []byte("import agora")) {
		t.Error("main.py does not import the client helper")
	}
}

func TestFilesReturnsCopies(t *testing.T) {
	a := Files()
	a["main.py"][0] = 'X'
	delete(a, "agora.py")
	b := Files()
	if b["main.py"][0] == 'X' || b["agora.py"] == nil {
		t.Fatal("Files() shares its result between calls")
	}
}

func TestCommand(t *testing.T) {
	if got := Command(); !slices.Equal(got, []string{"python3", "main.py"}) {
		t.Fatalf("Command() = %v", got)
	}
	if _, ok := Files()[Command()[1]]; !ok {
		t.Fatalf("Command() runs %s, which is not among Files()", Command()[1])
	}
}
