package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A trivial program exits 0 with cause exited, and its output (stdout and
// stderr, in order) is in the output log with the result.
func TestTrivialProgramExits(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		res, log := run(t, s, spec(t, "sh", "-c", "echo to-stdout; echo to-stderr >&2"))
		if res.Cause != CauseExited || res.ExitCode != 0 || res.Signal != 0 {
			t.Fatalf("result %s; want exited 0", res)
		}
		if !strings.Contains(log, "to-stdout\nto-stderr\n") || !strings.Contains(log, "[agora] execution ended: cause=exited exit_code=0") {
			t.Errorf("output log:\n%s", log)
		}
		if res.OutputBytes != int64(len("to-stdout\nto-stderr\n")) || res.Wall <= 0 || res.MemoryPeakBytes <= 0 {
			t.Errorf("figures missing: %s", res)
		}
	})
}

// A program's own exit code is reported as such, and is not a cause.
func TestExitCodeIsReported(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		res, _ := run(t, s, spec(t, "sh", "-c", "exit 3"))
		if res.Cause != CauseExited || res.ExitCode != 3 {
			t.Fatalf("result %s; want exited 3", res)
		}
	})
}

// The output log keeps only the last OutputTailBytesMax bytes and says
// how many were dropped; the result counts them all.
func TestOutputTailIsBounded(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		const total = 300_000
		res, log := run(t, s, spec(t, "sh", "-c",
			fmt.Sprintf("echo FIRST-LINE; head -c %d /dev/zero | tr '\\0' x; echo; echo LAST-LINE", total)))
		if res.Cause != CauseExited || res.OutputBytes < total {
			t.Fatalf("result %s; want exited with at least %d bytes of output", res, total)
		}
		if strings.Contains(log, "FIRST-LINE") || !strings.Contains(log, "LAST-LINE") {
			t.Errorf("the log should hold the end of the output, not its beginning")
		}
		if !strings.Contains(log, "[agora] output truncated") {
			t.Errorf("the log does not say it was truncated")
		}
		if len(log) > OutputTailBytesMax+1024 {
			t.Errorf("log is %d bytes; want at most the tail and two lines", len(log))
		}
	})
}

// A CPU spinner with 1 s of CPU is stopped near 1 s of CPU with cause cpu.
func TestCPULimit(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "python3", "-c", "while True: pass")
		sp.CPUSeconds = 1
		res, _ := run(t, s, sp)
		if res.Cause != CauseCPU || res.Signal != syscall.SIGXCPU {
			t.Fatalf("result %s; want cpu by SIGXCPU", res)
		}
		// The kernel's tick-sampled CPU time, which the limit is checked
		// against, runs ahead of the precise figure on a busy machine.
		if res.CPU < 500*time.Millisecond || res.CPU > 3*time.Second {
			t.Errorf("CPU %s; want about 1 s", res.CPU)
		}
	})
}

// A program that catches SIGXCPU to go on is killed at the hard limit,
// and that is still cpu.
func TestCPUHardLimit(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "python3", "-c",
			"import signal\nsignal.signal(signal.SIGXCPU, lambda *a: print('SIGXCPU caught', flush=True))\nwhile True: pass")
		sp.CPUSeconds = 1
		res, log := run(t, s, sp)
		if res.Cause != CauseCPU || res.Signal != syscall.SIGKILL {
			t.Fatalf("result %s; want cpu by SIGKILL", res)
		}
		if !strings.Contains(log, "SIGXCPU caught") {
			t.Errorf("the program was not warned by SIGXCPU first:\n%s", log)
		}
		if hard := time.Duration(1+CPUGraceSeconds) * time.Second; res.CPU < hard/2 || res.CPU > 2*hard {
			t.Errorf("CPU %s; want about %s", res.CPU, hard)
		}
	})
}

// A memory hog with 64 MB is stopped with cause memory.
func TestMemoryLimit(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "python3", "-c", "chunks = []\nwhile True: chunks.append(b'x' * (1 << 20))")
		sp.MemoryMB = 64
		res, log := run(t, s, sp)
		if res.Cause != CauseMemory {
			t.Fatalf("result %s; want memory\n%s", res, log)
		}
		if !strings.Contains(log, "MemoryError") {
			t.Errorf("the program did not fail on an allocation:\n%s", log)
		}
		if res.MemoryPeakBytes > 256<<20 {
			t.Errorf("peak %d bytes; the limit did not hold", res.MemoryPeakBytes)
		}
	})
}

// An abnormal end far from the memory limit is not memory.
func TestSmallFailureIsNotMemory(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "python3", "-c", "raise SystemExit(1)")
		sp.MemoryMB = 256
		res, _ := run(t, s, sp)
		if res.Cause != CauseExited || res.ExitCode != 1 {
			t.Fatalf("result %s; want exited 1", res)
		}
	})
}

// A sleeper with a 1 s deadline is killed with cause deadline, and so is
// the child it forked into the background.
func TestDeadlineKillsTheProcessGroup(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		mark := marker(t)
		sp := spec(t, "python3", "-c", "import os, time  # "+mark+`
if os.fork() == 0:
    print('child in the background', flush=True)
    time.sleep(600)
else:
    time.sleep(600)`)
		sp.Timeout = time.Second
		res, log := run(t, s, sp)
		if res.Cause != CauseDeadline || res.Signal != syscall.SIGKILL {
			t.Fatalf("result %s; want deadline", res)
		}
		if res.Wall < time.Second || res.Wall > 30*time.Second {
			t.Errorf("wall %s; want about the 1 s deadline", res.Wall)
		}
		if !strings.Contains(log, "child in the background") {
			t.Skipf("the machine is too busy: the child had not started by the deadline\n%s", log)
		}
		noneLeft(t, mark)
	})
}

// A child that leaves the process group (a session of its own) is killed
// too: by the PID namespace with bwrap, by the sandbox uid without, when
// the executor is root.
func TestDeadlineKillsAChildThatLeftTheGroup(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		if !s.Isolated() && s.users == nil {
			t.Skip("without bwrap and without root, a process that leaves the group survives (documented)")
		}
		mark := marker(t)
		sp := spec(t, "python3", "-c", "import os, time  # "+mark+`
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        print('grandchild in a session of its own', flush=True)
        time.sleep(600)
    os._exit(0)
time.sleep(600)`)
		sp.Timeout = time.Second
		res, log := run(t, s, sp)
		if res.Cause != CauseDeadline {
			t.Fatalf("result %s; want deadline", res)
		}
		if !strings.Contains(log, "grandchild in a session of its own") {
			t.Skipf("the machine is too busy: the grandchild had not started by the deadline\n%s", log)
		}
		noneLeft(t, mark)
	})
}

// When the caller's context ends, the program is killed with cause killed.
func TestCallerStops(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		mark := marker(t)
		res, err := s.Run(ctx, spec(t, "python3", "-c", "import time  # "+mark+"\ntime.sleep(600)"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Cause != CauseKilled || res.Signal != syscall.SIGKILL {
			t.Fatalf("result %s; want killed", res)
		}
		noneLeft(t, mark)
	})
}

// A fork bomb is contained: its forks are refused at the process limit,
// the run ends, and meanwhile a second trivial run completes normally.
func TestForkBombIsContained(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		mark := marker(t)
		// Every process of the bomb writes one byte to "born" and none
		// ever exits, so the file counts the most processes at once.
		bomb := spec(t, "python3", "-c", "import os, time  # "+mark+`
born = os.open('born', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.write(born, b'.')
told = False
while True:
    try:
        if os.fork() == 0:
            os.write(born, b'.')
    except OSError:
        if not told:
            print('fork refused', flush=True)
            told = True
        time.sleep(0.01)`)
		bomb.Processes, bomb.CPUSeconds, bomb.Timeout = 12, 5, 3*time.Second

		var wg sync.WaitGroup
		var bombRes Result
		var bombErr error
		wg.Go(func() { bombRes, bombErr = s.Run(context.Background(), bomb) })
		time.Sleep(time.Second)
		calm, _ := run(t, s, spec(t, "sh", "-c", "echo calm"))
		wg.Wait()
		if bombErr != nil {
			t.Fatal(bombErr)
		}
		bombLog := readLog(t, bomb.Workspace)

		if calm.Cause != CauseExited || calm.ExitCode != 0 {
			t.Errorf("the run beside the bomb: %s; want exited 0", calm)
		}
		if bombRes.Cause != CauseDeadline && bombRes.Cause != CauseCPU {
			t.Errorf("bomb %s; want deadline or cpu", bombRes)
		}
		if !strings.Contains(bombLog, "fork refused") {
			t.Errorf("no fork was refused\n%s", bombLog)
		}
		born, err := os.ReadFile(filepath.Join(bomb.Workspace, "born"))
		if err != nil || len(born) < 2 || len(born) > bomb.Processes {
			t.Errorf("the bomb had %d processes (%v); want 2 to %d", len(born), err, bomb.Processes)
		}
		noneLeft(t, mark)
	})
}

// The program gets the spec's environment and the sandbox's PATH, and
// nothing of the executor's environment.
func TestEnvironment(t *testing.T) {
	t.Setenv("AGORA_HOST_SECRET", "must-not-leak")
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", `echo "token=$AGORA_TOKEN path=$PATH home=$HOME secret=$AGORA_HOST_SECRET"`)
		sp.Env = map[string]string{"AGORA_TOKEN": "tok-123"}
		_, log := run(t, s, sp)
		want := fmt.Sprintf("token=tok-123 path=%s home=%s secret=\n", SandboxPATH, s.WorkspacePath(sp.Workspace))
		if !strings.Contains(log, want) {
			t.Errorf("environment:\n%s\nwant %q", log, want)
		}
	})
}

// Files the executor (root) put in the workspace are the program's to
// write: the workspace is handed over to the sandbox user.
func TestWorkspaceIsHandedOver(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", "echo more >> state.json && mkdir -p sub/deeper && echo ok > sub/deeper/f && cat state.json")
		if err := os.WriteFile(filepath.Join(sp.Workspace, "state.json"), []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(sp.Workspace, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		res, log := run(t, s, sp)
		if res.Cause != CauseExited || res.ExitCode != 0 || !strings.Contains(log, "{}\nmore\n") {
			t.Fatalf("result %s\n%s", res, log)
		}
	})
}

// The output log is replaced, never written through a link the program
// left at its path, inside the workspace or out of it.
func TestOutputLogIgnoresLinks(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		outside := filepath.Join(t.TempDir(), "victim")
		if err := os.WriteFile(outside, []byte("host file\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		sp := spec(t, "sh", "-c", fmt.Sprintf("ln -sf %s %s && ln -sf ../state.json %s.tmp && echo done",
			outside, OutputLogPath, OutputLogPath))
		if err := os.MkdirAll(filepath.Join(sp.Workspace, filepath.Dir(OutputLogPath)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sp.Workspace, "state.json"), []byte("state\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		res, log := run(t, s, sp)
		if res.Cause != CauseExited || !strings.Contains(log, "done") {
			t.Fatalf("result %s\n%s", res, log)
		}
		for path, want := range map[string]string{outside: "host file\n", filepath.Join(sp.Workspace, "state.json"): "state\n"} {
			if b, _ := os.ReadFile(path); string(b) != want {
				t.Errorf("%s was written through a link: %q", path, b)
			}
		}
	})
}

// A workspace whose log directory leads out of it by an absolute link
// gets no log, and the result is complete anyway.
func TestOutputLogOutsideTheWorkspaceIsRefused(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		outside := t.TempDir()
		sp := spec(t, "sh", "-c", "ln -s "+outside+" "+filepath.Dir(OutputLogPath))
		res, err := s.Run(context.Background(), sp)
		if !errors.Is(err, ErrOutputLog) || res.Cause != CauseExited || res.ExitCode != 0 {
			t.Fatalf("Run = %s, %v; want exited 0 and ErrOutputLog", res, err)
		}
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("the log was written outside the workspace: %v", entries)
		}
	})
}

// Bad specs change nothing and say what is wrong.
func TestInvalidSpec(t *testing.T) {
	loadSandboxes()
	if sandboxesErr != nil {
		t.Fatal(sandboxesErr)
	}
	ws := t.TempDir()
	good := Spec{Workspace: ws, Command: []string{"true"}, CPUSeconds: 1, MemoryMB: 64, WorkspaceMB: 16, Processes: 4, Timeout: time.Second}
	notSocket := filepath.Join(ws, "file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(*Spec)
		want error
	}{
		{"relative workspace", func(sp *Spec) { sp.Workspace = "ws" }, ErrInvalidSpec},
		{"no command", func(sp *Spec) { sp.Command = nil }, ErrInvalidSpec},
		{"empty program", func(sp *Spec) { sp.Command = []string{""} }, ErrInvalidSpec},
		{"NUL in argument", func(sp *Spec) { sp.Command = []string{"echo", "a\x00b"} }, ErrInvalidSpec},
		{"bad variable", func(sp *Spec) { sp.Env = map[string]string{"A=B": "c"} }, ErrInvalidSpec},
		{"no cpu", func(sp *Spec) { sp.CPUSeconds = 0 }, ErrInvalidSpec},
		{"too much cpu", func(sp *Spec) { sp.CPUSeconds = CPUSecondsMax + 1 }, ErrInvalidSpec},
		{"no memory", func(sp *Spec) { sp.MemoryMB = 0 }, ErrInvalidSpec},
		{"no process", func(sp *Spec) { sp.Processes = 0 }, ErrInvalidSpec},
		{"no timeout", func(sp *Spec) { sp.Timeout = 0 }, ErrInvalidSpec},
		{"missing workspace", func(sp *Spec) { sp.Workspace = filepath.Join(ws, "missing") }, ErrWorkspace},
		{"workspace is a file", func(sp *Spec) { sp.Workspace = notSocket }, ErrWorkspace},
		{"missing socket", func(sp *Spec) { sp.Socket = filepath.Join(ws, "missing.sock") }, ErrSocket},
		{"socket is a file", func(sp *Spec) { sp.Socket = notSocket }, ErrSocket},
	} {
		t.Run(c.name, func(t *testing.T) {
			sp := good
			c.edit(&sp)
			if _, err := bare.Run(context.Background(), sp); !errors.Is(err, c.want) {
				t.Errorf("Run = %v; want %v", err, c.want)
			}
			if _, err := os.Stat(filepath.Join(ws, OutputLogPath)); err == nil {
				t.Errorf("a refused spec wrote an output log")
			}
		})
	}
}

// Options out of bounds are refused.
func TestInvalidOptions(t *testing.T) {
	for _, o := range []Option{WithUsers(0, 10), WithUsers(UIDFirstDefault, 0), WithUsers(UIDFirstDefault, UIDsMax+1), WithUsers(1<<32-5, 10)} {
		if _, _, err := New(o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("New = %v; want ErrInvalidOption", err)
		}
	}
}

// When every sandbox uid is in use, Run waits for one, and gives up with
// the caller's context.
func TestRunWaitsForAFreeUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sandbox uids are used only by root")
	}
	s, _, err := New(WithBwrap(""), WithUsers(UIDFirstDefault+UIDsDefault, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sleeper := spec(t, "sh", "-c", "touch started && sleep 2")
	done := make(chan Result, 1)
	go func() { r, _ := s.Run(context.Background(), sleeper); done <- r }()
	for waited := time.Duration(0); ; waited += 10 * time.Millisecond {
		if _, err := os.Stat(filepath.Join(sleeper.Workspace, "started")); err == nil {
			break
		}
		if waited > time.Minute {
			t.Fatal("the sleeper never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Run(ctx, spec(t, "true")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with every uid busy = %v; want the context's error", err)
	}
	if r := <-done; r.Cause != CauseExited {
		t.Errorf("sleeper: %s", r)
	}
	if r, _ := run(t, s, spec(t, "true")); r.Cause != CauseExited || r.ExitCode != 0 {
		t.Errorf("after the uid came back: %s", r)
	}
}

// Without a working bwrap, New still gives a sandbox, and a warning that
// says why and what programs can then do.
func TestNewWarnsWithoutBwrap(t *testing.T) {
	for name, bwrap := range map[string]string{"disabled": "", "missing": "/nonexistent/bwrap", "broken": "/bin/false"} {
		t.Run(name, func(t *testing.T) {
			s, warning, err := New(WithBwrap(bwrap))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Isolated() || !strings.Contains(warning, "SANDBOX WITHOUT ISOLATION") || !strings.Contains(warning, "network") {
				t.Errorf("isolated %v, warning %q", s.Isolated(), warning)
			}
			if res, _ := run(t, s, spec(t, "true")); res.Cause != CauseExited || res.ExitCode != 0 {
				t.Errorf("the fallback does not run programs: %s", res)
			}
		})
	}
}

// A uid that another process holds (another executor on the host) is not
// given to a program.
func TestUserHeldElsewhereIsSkipped(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sandbox uids are used only by root")
	}
	first := UIDFirstDefault + UIDsDefault + 10
	s, _, err := New(WithBwrap(""), WithUsers(first, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := lockUID(s.users.lockDir, first)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for range 3 {
		_, log := run(t, s, spec(t, "id", "-u"))
		if !strings.HasPrefix(log, fmt.Sprintf("%d\n", first+1)) {
			t.Fatalf("the program ran as %q; want uid %d, the one not held", strings.SplitN(log, "\n", 2)[0], first+1)
		}
	}
}
