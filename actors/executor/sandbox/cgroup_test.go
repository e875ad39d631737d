package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The hierarchies are read from mountinfo: v1 by controller (several may
// share a mount), the unified one, escaped paths unescaped; other file
// systems ignored.
func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:21 / /proc rw,nosuid - proc proc rw
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /sup /sys/fs/cgroup/mem\040ory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`
	v1, unified, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if m := v1["cpuacct"]; m.point != "/sys/fs/cgroup/cpu,cpuacct" || m.root != "/" || v1["cpu"] != m {
		t.Errorf("cpuacct %+v, cpu %+v", m, v1["cpu"])
	}
	if m := v1["memory"]; m.point != "/sys/fs/cgroup/mem ory" || m.root != "/sup" {
		t.Errorf("memory %+v", m)
	}
	if unified == nil || unified.point != "/sys/fs/cgroup/unified" {
		t.Errorf("unified %+v", unified)
	}
	if _, ok := v1["proc"]; ok {
		t.Error("proc taken for a cgroup hierarchy")
	}
}

func TestParseProcCgroup(t *testing.T) {
	v1, unified := parseProcCgroup("9:name=systemd:/\n4:memory:/process_api/x\n2:cpu,cpuacct:/a\n0::/u\n")
	if v1["memory"] != "/process_api/x" || v1["cpuacct"] != "/a" || v1["cpu"] != "/a" || unified != "/u" {
		t.Errorf("v1 %v, unified %q", v1, unified)
	}
}

// Only the one line the tool that was to execute the command writes, naming
// the command, is a program that never started.
func TestLauncherFailed(t *testing.T) {
	for _, c := range []struct {
		out, command string
		want         bool
	}{
		{"bwrap: execvp nope: No such file or directory\n", "nope", true},
		{"unshare: failed to execute nope: No such file or directory\n", "nope", true},
		{"setpriv: failed to execute ./x: Permission denied\n", "./x", true},
		{"sh: 1: exec: nope: not found\n", "nope", true},
		{"unshare: failed to execute other: No such file or directory\n", "nope", false},
		{"working\nunshare: failed to execute nope: No such file or directory\n", "nope", false},
		{"sh: 1: nope: not found\n", "sh", false},
		{"", "nope", false},
	} {
		tl := newTail(OutputTailBytesMax)
		_, _ = tl.Write([]byte(c.out))
		if got := launcherFailed(tl, c.command); got != c.want {
			t.Errorf("launcherFailed(%q, %q) = %v; want %v", c.out, c.command, got, c.want)
		}
	}
}

// The workspace counts every entry at least diskEntryBytesMin, its blocks
// otherwise, and a file with two links once.
func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "big"), filepath.Join(dir, "big-again")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(dir, "sub", strings.Repeat("e", i+1)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got, err := diskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The big file once, 100 empty files, two directories and a link at
	// least 4 KiB each; nothing of /etc.
	least := int64(1<<20 + 103*diskEntryBytesMin)
	if got < least || got > least+1<<20 {
		t.Errorf("diskUsage = %d; want about %d", got, least)
	}
}
