package sandbox

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// The trivial programs of the benchmarks: the cost of the sandbox alone,
// and beside a Python start-up, which is what an agent's execution at
// least costs.
var trivialPrograms = []struct {
	name    string
	command []string
	needs   string
}{
	{"true", []string{"/bin/true"}, "/bin/true"},
	{"python", []string{"/usr/bin/python3", "-c", "pass"}, "/usr/bin/python3"},
}

// BenchmarkTrivialSandboxed runs each trivial program through Run, with
// bwrap and without: validation, handing the workspace over, the
// sandbox, limits, measurement and the output log included. The
// "without-cgroups" modes measure the executions in /proc instead of a
// control group: the difference is what the groups cost.
func BenchmarkTrivialSandboxed(b *testing.B) {
	loadSandboxes()
	if sandboxesErr != nil {
		b.Fatal(sandboxesErr)
	}
	withoutCgroups := func(s *Sandbox) *Sandbox {
		if s == nil {
			return nil
		}
		c := *s
		c.cgroups = nil
		return &c
	}
	for _, mode := range []struct {
		name string
		s    *Sandbox
	}{{"bwrap", isolated}, {"bwrap-without-cgroups", withoutCgroups(isolated)}, {"bare", bare}, {"bare-without-cgroups", withoutCgroups(bare)}} {
		for _, p := range trivialPrograms {
			b.Run(mode.name+"/"+p.name, func(b *testing.B) {
				if mode.s == nil {
					b.Skip("bwrap does not work here")
				}
				skipWithout(b, p.needs)
				sp := Spec{Workspace: b.TempDir(), Command: p.command, CPUSeconds: 10, MemoryMB: 256, WorkspaceMB: 64, Processes: 16, Timeout: time.Minute}
				for b.Loop() {
					res, err := mode.s.Run(context.Background(), sp)
					if err != nil || res.Cause != CauseExited || res.ExitCode != 0 {
						b.Fatalf("Run = %s, %v", res, err)
					}
				}
			})
		}
	}
}

// BenchmarkTrivialDirect runs the same programs with os/exec, in the
// same directory and environment, and nothing else.
func BenchmarkTrivialDirect(b *testing.B) {
	for _, p := range trivialPrograms {
		b.Run(p.name, func(b *testing.B) {
			skipWithout(b, p.needs)
			dir := b.TempDir()
			env := Spec{}.environ(dir)
			for b.Loop() {
				cmd := exec.Command(p.command[0], p.command[1:]...)
				cmd.Dir, cmd.Env = dir, env
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func skipWithout(b *testing.B, path string) {
	if _, err := os.Stat(path); err != nil {
		b.Skipf("needs %s", path)
	}
}
