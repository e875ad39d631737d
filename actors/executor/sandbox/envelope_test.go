package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The envelope is the whole execution's: its processes together. Each
// test is one way around a per-process limit, which the sandbox allowed
// before it gave every execution a control group.

// Eight children spinning 0.85 s of CPU each, under 1 CPU second: each
// stays below RLIMIT_CPU, together they are stopped near the bid.
func TestCPUIsSummedOverProcesses(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		needCgroups(t, s)
		sp := spec(t, "python3", "-c", `import os, sys
def spin():
    while sum(os.times()[:2]) < 0.85:
        pass
    os._exit(0)
for _ in range(8):
    if os.fork() == 0:
        spin()
for _ in range(8):
    os.wait()
print('all children ran to the end', flush=True)`)
		sp.CPUSeconds = 1
		res, log := run(t, s, sp)
		t.Logf("result %s", res)
		if res.Cause != CauseCPU {
			t.Fatalf("result %s; want cpu\n%s", res, log)
		}
		if strings.Contains(log, "all children ran to the end") {
			t.Errorf("the children ran their 6.8 s of CPU to the end:\n%s", log)
		}
		// The limit is looked at every envelopeCheckInterval, and the
		// kill takes a moment on a loaded machine: at least the second
		// paid for, and far below what the eight would use (6.8 s).
		if res.CPU < 900*time.Millisecond || res.CPU > 3500*time.Millisecond {
			t.Errorf("CPU %s recorded; want about the 1 s paid for", res.CPU)
		}
	})
}

// A child that catches SIGXCPU at the execution's CPU seconds is killed
// CPUGraceSeconds later, and that is cpu.
func TestCPUGraceIsTheExecutions(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		needCgroups(t, s)
		sp := spec(t, "python3", "-c", `import os, signal
signal.signal(signal.SIGXCPU, lambda *a: print('SIGXCPU caught', flush=True))
for _ in range(2):
    if os.fork() == 0:
        while True:
            pass
while True:
    os.wait()`)
		sp.CPUSeconds = 1
		res, log := run(t, s, sp)
		if res.Cause != CauseCPU || res.Signal != syscall.SIGKILL {
			t.Fatalf("result %s; want cpu by SIGKILL\n%s", res, log)
		}
		if !strings.Contains(log, "SIGXCPU caught") {
			t.Errorf("the program was not warned by SIGXCPU first:\n%s", log)
		}
		if hard := time.Duration(1+CPUGraceSeconds) * time.Second; res.CPU < hard*9/10 || res.CPU > hard+2*time.Second {
			t.Errorf("CPU %s; want about %s", res.CPU, hard)
		}
	})
}

// Eight children holding 48 MB each under a 64 MB envelope: each is below
// RLIMIT_DATA, together they are killed for memory.
func TestMemoryIsSummedOverProcesses(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		needCgroups(t, s)
		sp := spec(t, "python3", "-c", `import os, time
for _ in range(8):
    if os.fork() == 0:
        held = bytearray(48 << 20)
        for i in range(0, len(held), 4096):
            held[i] = 1
        time.sleep(600)
for _ in range(8):
    os.wait()`)
		sp.MemoryMB = 64
		res, log := run(t, s, sp)
		t.Logf("result %s", res)
		if res.Cause != CauseMemory {
			t.Fatalf("result %s; want memory\n%s", res, log)
		}
		if res.MemoryPeakBytes > 64<<20+1<<20 || res.MemoryPeakBytes < 32<<20 {
			t.Errorf("peak %.1f MiB recorded; want at most the 64 MiB paid for (8 x 48 MiB held before)", float64(res.MemoryPeakBytes)/(1<<20))
		}
		if res.Wall > 30*time.Second {
			t.Errorf("wall %s: the execution was not stopped, it ran to its deadline", res.Wall)
		}
	})
}

// 48 shared anonymous mappings of 8 MB, touched: RLIMIT_DATA does not
// count them, the execution's memory does.
func TestSharedMappingsCountAsMemory(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		needCgroups(t, s)
		sp := spec(t, "python3", "-c", `import mmap
maps = []
for _ in range(48):
    m = mmap.mmap(-1, 8 << 20, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    for i in range(0, len(m), 4096):
        m[i] = 1
    maps.append(m)
print('48 mappings held', flush=True)`)
		sp.MemoryMB = 64
		res, log := run(t, s, sp)
		if res.Cause != CauseMemory || strings.Contains(log, "48 mappings held") {
			t.Fatalf("result %s; want memory before the mappings are all held\n%s", res, log)
		}
		if res.MemoryPeakBytes > 64<<20+1<<20 {
			t.Errorf("peak %.1f MiB recorded; want at most the 64 MiB paid for", float64(res.MemoryPeakBytes)/(1<<20))
		}
	})
}

// Files of 1 MB written until something stops the program: the workspace
// quota does, with cause disk, and the workspace holds little more than
// the quota.
func TestWorkspaceQuota(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "python3", "-c", `import os
chunk = b'x' * (1 << 20)
n = 0
while True:
    with open('fill-%d' % n, 'wb') as f:
        f.write(chunk)
    n += 1`)
		sp.WorkspaceMB = 16
		res, log := run(t, s, sp)
		t.Logf("result %s", res)
		if res.Cause != CauseDisk {
			t.Fatalf("result %s; want disk\n%s", res, log)
		}
		size, err := diskUsage(sp.Workspace)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the workspace holds %.1f MiB", float64(size)/(1<<20))
		// Between two looks the program writes on: as much as the disk
		// takes in envelopeCheckInterval, far below the deadline's worth.
		if size < 16<<20 || size > 256<<20 {
			t.Errorf("the workspace holds %.1f MiB; want a little over the 16 MiB quota", float64(size)/(1<<20))
		}
	})
}

// One file written past the quota is cut at it (RLIMIT_FSIZE), and that is
// disk too, even when the program stops by itself at once.
func TestOneFileAtTheQuota(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", "head -c 64000000 /dev/zero > big; echo status $?")
		sp.WorkspaceMB = 8
		res, log := run(t, s, sp)
		if res.Cause != CauseDisk {
			t.Fatalf("result %s; want disk\n%s", res, log)
		}
		fi, err := os.Stat(filepath.Join(sp.Workspace, "big"))
		if err != nil || fi.Size() > 8<<20 {
			t.Errorf("big: %v, %d bytes; want at most the 8 MiB quota", err, fi.Size())
		}
	})
}

// A workspace over its quota before the program starts (an earlier
// execution overran it before it was stopped) does not fail the next
// execution at once: the program may shrink it, not grow it.
func TestWorkspaceOverTheQuotaMayShrink(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		sp := spec(t, "sh", "-c", "rm old && echo cleaned")
		if err := os.WriteFile(filepath.Join(sp.Workspace, "old"), make([]byte, 3<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		sp.WorkspaceMB = 1
		if res, log := run(t, s, sp); res.Cause != CauseExited || res.ExitCode != 0 {
			t.Fatalf("result %s; want exited 0\n%s", res, log)
		}
	})
}

// A fork bomb killed at its deadline records what the bomb used, not what
// the sandbox's first process did.
func TestDeadlineRecordsTheWholeExecution(t *testing.T) {
	needPython(t)
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		needCgroups(t, s)
		mark := marker(t)
		// Every process of the bomb forks until it is refused, spins
		// 0.1 s of its own CPU, writes one byte to "spun" and sleeps: the
		// file is a lower bound of the CPU the bomb used.
		sp := spec(t, "python3", "-c", "import os, time  # "+mark+`
while True:
    try:
        os.fork()
    except OSError:
        break
while sum(os.times()[:2]) < 0.1:
    pass
spun = os.open('spun', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.write(spun, b'.')
time.sleep(600)`)
		sp.Processes, sp.Timeout = 12, 3*time.Second
		res, log := run(t, s, sp)
		if res.Cause != CauseDeadline {
			t.Fatalf("result %s; want deadline\n%s", res, log)
		}
		t.Logf("result %s", res)
		spun, _ := os.ReadFile(filepath.Join(sp.Workspace, "spun"))
		if len(spun) < 2 {
			t.Skipf("the machine is too busy: %d processes of the bomb had spun by the deadline", len(spun))
		}
		// The first process's own usage was some milliseconds.
		if least := time.Duration(len(spun)) * 100 * time.Millisecond; res.CPU < least {
			t.Errorf("CPU %s recorded; %d processes of the bomb used at least %s", res.CPU, len(spun), least)
		}
		noneLeft(t, mark)
	})
}

// A command that cannot be executed never started: failed, with the exit
// code the shell would give it, and the tool's message in the log.
func TestCommandThatCannotStart(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		res, log := run(t, s, spec(t, "no-such-program-anywhere"))
		if res.Cause != CauseFailed || res.ExitCode != 127 {
			t.Fatalf("result %s; want failed 127", res)
		}
		if !strings.Contains(log, "no-such-program-anywhere") {
			t.Errorf("output log does not say what failed:\n%s", log)
		}
		sp := spec(t, "./not-executable")
		if err := os.WriteFile(filepath.Join(sp.Workspace, "not-executable"), []byte("data\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, log := run(t, s, sp); res.Cause != CauseFailed || res.ExitCode != 126 {
			t.Fatalf("result %s; want failed 126\n%s", res, log)
		}
	})
}

// A program that exits 127 by itself, or whose own child is not found,
// ran: exited.
func TestExit127ByTheProgramIsExited(t *testing.T) {
	eachSandbox(t, func(t *testing.T, s *Sandbox) {
		for _, script := range []string{"echo working; exit 127", "no-such-program-anywhere"} {
			res, log := run(t, s, spec(t, "sh", "-c", script))
			if res.Cause != CauseExited || res.ExitCode != 127 {
				t.Errorf("%q: result %s; want exited 127\n%s", script, res, log)
			}
		}
	})
}

// An execution's group is emptied when it ends and kept for a later
// execution, which starts from zero; Close removes it, and a group left by
// an executor that crashed is removed at the next start.
func TestControlGroupsAreReusedAndRemoved(t *testing.T) {
	needPython(t)
	for _, bwrap := range []string{"bwrap", ""} {
		t.Run(fmt.Sprintf("bwrap=%q", bwrap), func(t *testing.T) {
			s, _, err := New(WithBwrap(bwrap))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			needCgroups(t, s)
			if bwrap != "" && !s.Isolated() {
				t.Skip("bwrap does not work here")
			}
			// The group the next execution takes: the last one idle, once
			// what New's probe left in the background is done.
			next := func() *group {
				s.cgroups.ahead.Wait()
				s.cgroups.mu.Lock()
				defer s.cgroups.mu.Unlock()
				if len(s.cgroups.idle) == 0 {
					t.Fatal("no group kept after an execution")
				}
				return s.cgroups.idle[len(s.cgroups.idle)-1]
			}
			g := next()
			sp := spec(t, "python3", "-c", `import os
while sum(os.times()[:2]) < 0.3:
    pass
`)
			first, log := run(t, s, sp)
			if first.CPU < 300*time.Millisecond {
				t.Fatalf("result %s:\n%s", first, log)
			}
			if used, err := number(g.dirs[1], "cpuacct.usage"); err != nil || time.Duration(used) < 300*time.Millisecond {
				t.Errorf("%s counted %v (%v) of the program's %s", g.name, time.Duration(used), err, first.CPU)
			}
			if len(g.members()) > 0 {
				t.Errorf("processes left in %s after the execution: %v", g.name, g.members())
			}
			if again := next(); again != g {
				t.Fatalf("%s is not kept for the next execution (%s is next)", g.name, again.name)
			}
			sp.Command = []string{"true"}
			second, _ := run(t, s, sp)
			if second.CPU > first.CPU/2 {
				t.Errorf("the reused group kept the first execution's CPU: %s then %s", first.CPU, second.CPU)
			}
			if used, err := number(g.dirs[1], "cpuacct.usage"); err != nil || time.Duration(used) > first.CPU/2 {
				t.Errorf("%s counted %v (%v) for the second execution", g.name, time.Duration(used), err)
			}
			s.Close()
			for _, parent := range s.cgroups.parents() {
				if _, err := os.Stat(filepath.Join(parent, g.name)); err == nil {
					t.Errorf("%s is left in %s after Close", g.name, parent)
				}
			}
		})
	}

	loadSandboxes()
	if sandboxesErr != nil {
		t.Fatal(sandboxesErr)
	}
	needCgroups(t, bare)
	// A pid that no process has: the largest the kernel may give, plus one.
	stale := fmt.Sprintf("%sp%d-1", cgroupPrefix, 1<<22+1)
	for _, parent := range bare.cgroups.parents() {
		if err := os.Mkdir(filepath.Join(parent, stale), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, _, err := New(WithBwrap(""))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, parent := range bare.cgroups.parents() {
		if _, err := os.Stat(filepath.Join(parent, stale)); err == nil {
			t.Errorf("the stale group %s is left in %s", stale, parent)
			_ = os.Remove(filepath.Join(parent, stale))
		}
	}
}

// Without control groups the execution is measured in /proc: the CPU of
// several processes is summed there too.
func TestProcMeterSumsProcesses(t *testing.T) {
	needPython(t)
	loadSandboxes()
	if sandboxesErr != nil {
		t.Fatal(sandboxesErr)
	}
	s := *bare
	s.cgroups = nil
	sp := spec(t, "python3", "-c", `import os
def spin():
    while sum(os.times()[:2]) < 0.85:
        pass
    os._exit(0)
for _ in range(4):
    if os.fork() == 0:
        spin()
for _ in range(4):
    os.wait()
print('all children ran to the end', flush=True)`)
	sp.CPUSeconds = 1
	res, log := run(t, &s, sp)
	if res.Cause != CauseCPU || strings.Contains(log, "all children ran to the end") {
		t.Fatalf("result %s; want cpu\n%s", res, log)
	}
	if res.CPU > 3500*time.Millisecond {
		t.Errorf("CPU %s recorded; want about the 1 s paid for", res.CPU)
	}
}

// Without control groups, the memory of several processes is summed in
// /proc too (their Pss), and the execution is killed when the sum is over
// its memory.
func TestProcMeterSumsMemory(t *testing.T) {
	needPython(t)
	loadSandboxes()
	if sandboxesErr != nil {
		t.Fatal(sandboxesErr)
	}
	s := *bare
	s.cgroups = nil
	sp := spec(t, "python3", "-c", `import os, time
for _ in range(8):
    if os.fork() == 0:
        held = bytearray(48 << 20)
        for i in range(0, len(held), 4096):
            held[i] = 1
        time.sleep(600)
for _ in range(8):
    os.wait()`)
	sp.MemoryMB = 64
	res, log := run(t, &s, sp)
	if res.Cause != CauseMemory {
		t.Fatalf("result %s; want memory\n%s", res, log)
	}
}

// The sandbox is started by its group's forker thread, so bwrap's init is
// born in the group: the cgroup namespace it makes has the group as its
// root, and the program sees itself at "/" there (a process moved in after
// the namespace was made sees the group's name). The executor itself, its
// leader thread, is in no group of an execution.
func TestSandboxIsBornInItsGroup(t *testing.T) {
	s := withBwrap(t)
	needCgroups(t, s)
	if s.cgroups.v2 {
		t.Skip("v2 groups are joined by a move")
	}
	_, log := run(t, s, spec(t, "cat", "/proc/self/cgroup"))
	in, _ := parseProcCgroup(log)
	for _, ctl := range []string{"memory", "cpuacct", "pids"}[:len(s.cgroups.parents())] {
		if in[ctl] != "/" {
			t.Errorf("the program is at %q in the %s hierarchy of its cgroup namespace; want /:\n%s", in[ctl], ctl, log)
		}
	}
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(own), cgroupPrefix) {
		t.Errorf("the executor is in an execution's group:\n%s", own)
	}
}
