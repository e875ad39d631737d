package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Closed before the leak check: each group a sandbox keeps has a
	// goroutine locked to its forker thread.
	for _, s := range []*Sandbox{isolated, bare} {
		if s != nil {
			s.Close()
		}
	}
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// requireBwrapEnv names the variable CI sets so that tests needing bwrap
// fail, instead of being skipped, where it does not work.
const requireBwrapEnv = "AGORA_REQUIRE_BWRAP"

// The sandboxes under test, made once: New probes the machine.
var (
	sandboxesOnce sync.Once
	isolated      *Sandbox // through bwrap, nil where bwrap does not work
	isolatedWhy   string   // why isolated is nil
	bare          *Sandbox // without bwrap
	sandboxesErr  error
)

func loadSandboxes() {
	sandboxesOnce.Do(func() {
		s, warning, err := New()
		if err != nil {
			sandboxesErr = err
			return
		}
		if s.Isolated() {
			isolated = s
		} else {
			isolatedWhy = warning
		}
		bare, _, sandboxesErr = New(WithBwrap(""))
	})
}

// withBwrap is the isolated sandbox; the test is skipped without bwrap,
// or fails when AGORA_REQUIRE_BWRAP=1.
func withBwrap(t *testing.T) *Sandbox {
	t.Helper()
	loadSandboxes()
	if sandboxesErr != nil {
		t.Fatal(sandboxesErr)
	}
	if isolated == nil {
		if os.Getenv(requireBwrapEnv) == "1" {
			t.Fatalf("%s=1 but bwrap does not work here: %s", requireBwrapEnv, isolatedWhy)
		}
		t.Skipf("bwrap does not work here (set %s=1 to fail instead): %s", requireBwrapEnv, isolatedWhy)
	}
	return isolated
}

// eachSandbox runs f as a subtest with the isolated sandbox (when bwrap
// works) and the bare one.
func eachSandbox(t *testing.T, f func(t *testing.T, s *Sandbox)) {
	t.Helper()
	t.Run("bwrap", func(t *testing.T) { f(t, withBwrap(t)) })
	t.Run("bare", func(t *testing.T) {
		loadSandboxes()
		if sandboxesErr != nil {
			t.Fatal(sandboxesErr)
		}
		f(t, bare)
	})
}

// needCgroups skips a test of the whole execution's envelope where the
// sandbox has no control groups (not root, or none mounted), or fails it
// when AGORA_REQUIRE_BWRAP=1: CI runs as root on machines that have them.
func needCgroups(t *testing.T, s *Sandbox) {
	t.Helper()
	if s.cgroups != nil {
		return
	}
	_, why := findCgroups()
	if os.Getenv(requireBwrapEnv) == "1" {
		t.Fatalf("%s=1 but the sandbox has no control groups here (%s)", requireBwrapEnv, why)
	}
	t.Skipf("the sandbox has no control groups here (%s; set %s=1 to fail instead)", why, requireBwrapEnv)
}

// needPython skips a test that needs /usr/bin/python3, the interpreter the
// sandbox's PATH finds.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		if os.Getenv(requireBwrapEnv) == "1" {
			t.Fatalf("%s=1 but /usr/bin/python3 is missing", requireBwrapEnv)
		}
		t.Skip("needs /usr/bin/python3 (Debian python3-minimal)")
	}
}

// spec is a workspace of its own and a comfortable envelope.
func spec(t *testing.T, command ...string) Spec {
	t.Helper()
	return Spec{Workspace: t.TempDir(), Command: command,
		CPUSeconds: 30, MemoryMB: 256, WorkspaceMB: 64, Processes: 32, Timeout: time.Minute}
}

// run runs sp, failing the test on an error, and returns the result and
// the output log.
func run(t *testing.T, s *Sandbox, sp Spec) (Result, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := s.Run(ctx, sp)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res, readLog(t, sp.Workspace)
}

func readLog(t *testing.T, workspace string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(workspace, OutputLogPath))
	if err != nil {
		t.Fatalf("output log: %v", err)
	}
	return string(b)
}

// marker is a string unique to one test, put in a program's command line
// so that its processes can be found in /proc.
func marker(t *testing.T) string {
	return fmt.Sprintf("agora-sandbox-test-%d-%s", time.Now().UnixNano(), strings.ReplaceAll(t.Name(), "/", "-"))
}

// processesWith lists the pids whose command line contains s.
func processesWith(s string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, filepath.Base(filepath.Dir(path)))
		}
	}
	return pids
}

// noneLeft fails if a process of the program outlived Run. A process
// killed a moment ago may still be on its way out: it gets a while.
func noneLeft(t *testing.T, mark string) {
	t.Helper()
	pids := processesWith(mark)
	for deadline := time.Now().Add(5 * time.Second); len(pids) > 0 && time.Now().Before(deadline); pids = processesWith(mark) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) > 0 {
		out, _ := exec.Command("ps", append([]string{"-o", "pid,ppid,uid,stat,args", "-p"}, strings.Join(pids, ","))...).CombinedOutput()
		t.Errorf("processes outlived the execution: %v\n%s", pids, out)
	}
}
