package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Control groups make the envelope the execution's rather than each
// process's (see doc.go, "The envelope of the whole execution"). Each
// execution gets a group of its own, made in the group the executor itself
// runs in (so that whatever bounds the executor still bounds its programs),
// named agora-sandbox-p<executor pid>-<n>.
//
// Making a v1 group costs the kernel several milliseconds in each
// hierarchy (7 ms for memory, 5 for cpuacct here, more than bwrap's whole
// start), and so does moving a process into one (forker.go); reusing a
// group costs nothing. So the v1 groups are a pool: a group is made with
// its forker thread in it, kept when its execution ends, emptied (its
// processes killed, its memory reclaimed), and taken by a later
// execution, with its counters reset (CPU time and peak) or taken as a
// baseline (OOM kills). When an execution takes the last idle group,
// another is made in the background for the next one. Close removes the
// groups kept.

// cgroupPrefix starts the name of every group the sandbox makes.
const cgroupPrefix = "agora-sandbox-"

// cgroups is where the executor makes the executions' groups.
type cgroups struct {
	v2 bool
	// v1: the executor's own group in the memory, cpuacct and pids
	// hierarchies (pids may be ""); memsw: swap is accounted, so the
	// limit can cover memory and swap together.
	memory, cpuacct, pids string
	memsw                 bool
	// v2: the executor's own group in the unified hierarchy.
	unified string

	mu sync.Mutex
	// idle are the v1 groups kept for the next executions; making says
	// one is being made in the background. ahead counts what runs in the
	// background: a group being made, or emptied after its execution.
	idle   []*group
	making bool
	ahead  sync.WaitGroup
}

// cgroupMount is one mounted hierarchy from /proc/self/mountinfo.
type cgroupMount struct{ root, point string }

// findCgroups locates the hierarchies the executor can make groups in:
// cgroup v2 if the unified hierarchy has the memory controller where the
// executor runs, else v1 with memory and cpuacct mounted. whyNot says
// why neither is usable.
func findCgroups() (c *cgroups, whyNot string) {
	v1, unified, err := cgroupMounts()
	if err != nil {
		return nil, fmt.Sprintf("cannot read the mounts: %v", err)
	}
	own, ownUnified, err := ownCgroups()
	if err != nil {
		return nil, fmt.Sprintf("cannot read /proc/self/cgroup: %v", err)
	}
	dir := func(m cgroupMount, path string) string {
		rel, ok := strings.CutPrefix(path, m.root)
		if !ok {
			return ""
		}
		return filepath.Join(m.point, rel)
	}
	if unified != nil && ownUnified != "" {
		if d := dir(*unified, ownUnified); d != "" {
			if ctrl, err := os.ReadFile(filepath.Join(d, "cgroup.controllers")); err == nil &&
				slices.Contains(strings.Fields(string(ctrl)), "memory") && slices.Contains(strings.Fields(string(ctrl)), "pids") {
				return &cgroups{v2: true, unified: d}, ""
			}
		}
	}
	c = &cgroups{}
	for _, ctl := range []struct {
		name string
		into *string
	}{{"memory", &c.memory}, {"cpuacct", &c.cpuacct}, {"pids", &c.pids}} {
		m, mounted := v1[ctl.name]
		path, member := own[ctl.name]
		if mounted && member {
			*ctl.into = dir(m, path)
		}
	}
	if c.memory == "" || c.cpuacct == "" {
		return nil, "neither cgroup v2 with the memory and pids controllers nor cgroup v1 with memory and cpuacct is mounted here"
	}
	_, err = os.Stat(filepath.Join(c.memory, "memory.memsw.limit_in_bytes"))
	c.memsw = err == nil
	return c, ""
}

// cgroupMounts reads the cgroup hierarchies mounted in this mount
// namespace: v1 by controller, and the unified one.
func cgroupMounts() (v1 map[string]cgroupMount, unified *cgroupMount, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return parseMountinfo(f)
}

func parseMountinfo(r io.Reader) (v1 map[string]cgroupMount, unified *cgroupMount, err error) {
	v1 = map[string]cgroupMount{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		// id parent dev root point options [optional...] - type source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		m := cgroupMount{root: unescapeMount(fields[3]), point: unescapeMount(fields[4])}
		switch tail[0] {
		case "cgroup2":
			if unified == nil {
				unified = &m
			}
		case "cgroup":
			for _, opt := range strings.Split(tail[2], ",") {
				if _, seen := v1[opt]; !seen {
					v1[opt] = m
				}
			}
		}
	}
	return v1, unified, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups reads the groups this process is in: v1 by controller, and
// the unified one.
func ownCgroups() (v1 map[string]string, unified string, err error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, "", err
	}
	v1, unified = parseProcCgroup(string(b))
	return v1, unified, nil
}

// parseProcCgroup reads /proc/<pid>/cgroup: "id:controllers:path" lines,
// "0::path" for the unified hierarchy.
func parseProcCgroup(s string) (v1 map[string]string, unified string) {
	v1 = map[string]string{}
	for line := range strings.Lines(s) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			unified = parts[2]
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			v1[ctl] = parts[2]
		}
	}
	return v1, unified
}

// newName is the name of a new group.
func (c *cgroups) newName() string {
	return fmt.Sprintf("%sp%d-%d", cgroupPrefix, os.Getpid(), groupSeq.Add(1))
}

// groupSeq numbers the groups of this process, of every Sandbox in it.
var groupSeq atomic.Uint64

// parents are the directories the groups are made in.
func (c *cgroups) parents() []string {
	if c.v2 {
		return []string{c.unified}
	}
	dirs := []string{c.memory, c.cpuacct}
	if c.pids != "" {
		dirs = append(dirs, c.pids)
	}
	return dirs
}

// prepare makes v2's controllers available to the executions' groups: a
// group with processes of its own cannot give controllers to its
// children, so the executor first moves itself into a leaf of its group,
// agora-executor, as systemd's delegation expects. Nothing to do for v1.
func (c *cgroups) prepare() error {
	if !c.v2 {
		return nil
	}
	enable := func() error {
		return os.WriteFile(filepath.Join(c.unified, "cgroup.subtree_control"), []byte("+memory +pids"), 0)
	}
	if err := enable(); err == nil || !errors.Is(err, unix.EBUSY) {
		return err
	}
	leaf := filepath.Join(c.unified, "agora-executor")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return err
	}
	return enable()
}

// removeStale removes the groups a crashed executor left: those of an
// executor pid that no longer runs, and those named by a sandbox uid (as
// root, before the groups were a pool) that claim can hold (no execution
// uses it). Whatever runs in them is killed.
func (c *cgroups) removeStale(claim func(uid int) (release func(), ok bool)) {
	seen := map[string]bool{}
	for _, parent := range c.parents() {
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), cgroupPrefix)
			if !ok || !e.IsDir() || seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			if p, ok := strings.CutPrefix(name, "p"); ok {
				pidText, _, _ := strings.Cut(p, "-")
				pid, err := strconv.Atoi(pidText)
				if err == nil && pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
					c.group(e.Name()).remove()
				}
				continue
			}
			if uid, err := strconv.Atoi(name); err == nil {
				if release, ok := claim(uid); ok {
					c.group(e.Name()).remove()
					release()
				}
			}
		}
	}
}

// group is one execution's control group.
type group struct {
	c    *cgroups
	name string
	dirs []string // one per hierarchy; dirs[0] holds memory
	// peak is the largest memory.current seen, for v2 kernels without
	// memory.peak.
	peak int64
	// oomBase is the OOM kill count of a reused group before this
	// execution.
	oomBase int64
	// forker is the thread in the group that starts its executions'
	// sandboxes (v1); cpuBase its CPU time when the group's was reset.
	forker  *forker
	cpuBase time.Duration
	// atLimit: the group's processes were seen waiting at its memory
	// limit (v1, where the kernel does not kill them).
	atLimit bool
}

func (c *cgroups) group(name string) *group {
	g := &group{c: c, name: name}
	for _, p := range c.parents() {
		g.dirs = append(g.dirs, filepath.Join(p, name))
	}
	return g
}

// take is the group of one execution, with sp's limits: for v1 one kept
// idle, or a new one when none is (then made on the execution's path);
// when it takes the last idle one, another is made ahead for the next
// execution. A v2 group is made for the execution.
func (c *cgroups) take(sp Spec, pids int) (*group, error) {
	if c.v2 {
		g := c.group(c.newName())
		if err := g.make(sp, pids); err != nil {
			g.remove()
			return nil, fmt.Errorf("%w: control group %s: %w", ErrSandboxFailed, g.name, err)
		}
		return g, nil
	}
	for {
		c.mu.Lock()
		var g *group
		if n := len(c.idle); n > 0 {
			g, c.idle = c.idle[n-1], c.idle[:n-1]
		}
		c.mu.Unlock()
		if g == nil {
			break
		}
		c.makeAhead()
		if err := g.reset(sp, pids); err == nil {
			return g, nil
		}
		g.remove()
	}
	g, err := c.makeKept()
	if err == nil {
		c.makeAhead()
		if err = g.reset(sp, pids); err != nil {
			g.remove()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: control group: %w", ErrSandboxFailed, err)
	}
	return g, nil
}

// makeKept makes a v1 group to keep, with its forker in it.
func (c *cgroups) makeKept() (*group, error) {
	g := c.group(c.newName())
	for _, d := range g.dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			g.remove()
			return nil, fmt.Errorf("%s: %w", g.name, err)
		}
	}
	// The kernel's OOM killer chooses among the processes with a thread
	// in the group, and the executor would be the largest: it is kept out
	// of the group, whose processes then wait at the limit until the
	// executor kills them all (watchUsage, at its next look).
	if err := write(g.dirs[0], "memory.oom_control", "1"); err != nil {
		g.remove()
		return nil, fmt.Errorf("%s: %w", g.name, err)
	}
	f, err := newForker(g.dirs)
	if err != nil {
		g.remove()
		return nil, fmt.Errorf("%s: %w", g.name, err)
	}
	g.forker = f
	return g, nil
}

// makeAhead makes a group in the background when none is idle, so that the
// next execution finds one.
func (c *cgroups) makeAhead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) > 0 || c.making {
		return
	}
	c.making = true
	c.ahead.Go(func() {
		g, err := c.makeKept()
		c.mu.Lock()
		defer c.mu.Unlock()
		c.making = false
		if err == nil {
			c.idle = append(c.idle, g)
		}
	})
}

// release ends the execution's use of its group: a v1 group is emptied
// (its processes killed, then the memory still charged to it, page cache
// of the files its programs wrote, reclaimed, so that the next execution's
// peak is its own) and kept; a v2 group is removed.
func (g *group) release() {
	if g.c.v2 {
		g.remove()
		return
	}
	g.kill()
	// After the answer: the reclaim takes a millisecond or more.
	g.c.ahead.Go(func() {
		if len(g.members()) > 0 || !g.forker.alive() {
			g.remove()
			return
		}
		if used, err := number(g.dirs[0], "memory.usage_in_bytes"); err != nil || used > 0 {
			_ = write(g.dirs[0], "memory.force_empty", "0")
		}
		g.c.mu.Lock()
		g.c.idle = append(g.c.idle, g)
		g.c.mu.Unlock()
	})
}

// close removes the groups kept: call it once no execution runs.
func (c *cgroups) close() {
	c.ahead.Wait()
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, g := range idle {
		g.remove()
	}
}

// reset readies a kept v1 group for a new execution: nothing left running
// in it, its CPU time and peak reset, its OOM kills so far the baseline,
// sp's limits.
func (g *group) reset(sp Spec, pids int) error {
	g.kill()
	if len(g.members()) > 0 {
		return errors.New("processes left in it")
	}
	if !g.forker.alive() {
		return errors.New("its thread has ended")
	}
	if err := write(g.dirs[0], "memory.max_usage_in_bytes", "0"); err != nil {
		return err
	}
	oom, err := keyed(g.dirs[0], "memory.oom_control")
	if err != nil {
		return err
	}
	g.oomBase, g.atLimit = oom["oom_kill"], false
	if err := write(g.dirs[1], "cpuacct.usage", "0"); err != nil {
		return err
	}
	g.cpuBase = g.forker.cpu()
	return g.limit(sp, pids)
}

func (g *group) make(sp Spec, pids int) error {
	for _, d := range g.dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	return g.limit(sp, pids)
}

// limit sets sp's limits on the group.
func (g *group) limit(sp Spec, pids int) error {
	mem := strconv.FormatInt(sp.memoryBytes(), 10)
	n := strconv.Itoa(pids)
	if g.c.v2 {
		d := g.dirs[0]
		// No swap: the limit is the memory the bid paid for. On OOM the
		// kernel kills the whole group, not only its largest process.
		return errors.Join(
			write(d, "memory.max", mem),
			writeIfThere(d, "memory.swap.max", "0"),
			writeIfThere(d, "memory.oom.group", "1"),
			write(d, "pids.max", n))
	}
	var err error
	if g.c.memsw {
		// Memory and swap together: swap cannot extend the limit. The
		// kernel keeps the memory limit at most the memsw limit at every
		// step: raising both, memsw goes first.
		if err = write(g.dirs[0], "memory.limit_in_bytes", mem); err == nil {
			err = write(g.dirs[0], "memory.memsw.limit_in_bytes", mem)
		} else if err = write(g.dirs[0], "memory.memsw.limit_in_bytes", mem); err == nil {
			err = write(g.dirs[0], "memory.limit_in_bytes", mem)
		}
	} else {
		err = write(g.dirs[0], "memory.limit_in_bytes", mem)
	}
	if err == nil && g.c.pids != "" {
		err = write(g.dirs[2], "pids.max", n)
	}
	return err
}

func write(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0)
}

// writeIfThere writes a file the kernel may not have (older kernels,
// swap accounting off).
func writeIfThere(dir, file, value string) error {
	if err := write(dir, file, value); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// join puts pid, the sandbox's first process waiting before the program,
// in the group: every process of the program is its descendant and is
// born in the group. A v1 group's sandbox was started by its forker, so
// pid was born in it, which join checks; it is moved only if it is not
// (which nothing but root outside the sandbox could do).
func (g *group) join(pid int) error {
	if g.forker != nil && g.has(pid) {
		return nil
	}
	for _, d := range g.dirs {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("%w: join control group %s: %w", ErrSandboxFailed, g.name, err)
		}
	}
	return nil
}

// has reports whether pid is in the group in every hierarchy, from
// /proc/<pid>/cgroup.
func (g *group) has(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	in, _ := parseProcCgroup(string(b))
	ctls := []string{"memory", "cpuacct", "pids"}[:len(g.dirs)]
	for _, ctl := range ctls {
		if !strings.HasSuffix(in[ctl], "/"+g.name) {
			return false
		}
	}
	return true
}

// spawn runs job on the group's forker, so that what it starts is born in
// the group (v1); a v2 group's execution joins it by a move.
func (g *group) spawn(job func() (keep bool, err error)) error {
	if g.forker == nil {
		return onOwnThread(job)
	}
	return g.forker.run(job)
}

// usage is what an execution has used so far.
type usage struct {
	cpu        time.Duration
	memoryPeak int64
	// oomKills counts the processes the kernel killed at the group's
	// memory limit.
	oomKills int64
	// charged: memoryPeak is what the kernel charged the execution, the
	// measure its limit holds to. A process's resident set may be larger:
	// it also counts the pages of shared libraries other processes
	// brought in.
	charged bool
}

// read is the group's usage now.
func (g *group) read() (usage, error) {
	u := usage{charged: true}
	if g.c.v2 {
		d := g.dirs[0]
		stat, err := keyed(d, "cpu.stat")
		if err != nil {
			return u, err
		}
		u.cpu = time.Duration(stat["usage_usec"]) * time.Microsecond
		if peak, err := number(d, "memory.peak"); err == nil {
			g.peak = max(g.peak, peak)
		} else if cur, err := number(d, "memory.current"); err == nil {
			g.peak = max(g.peak, cur)
		} else {
			return u, err
		}
		events, err := keyed(d, "memory.events")
		u.memoryPeak, u.oomKills = g.peak, events["oom_kill"]
		return u, err
	}
	cpu, err := number(g.dirs[1], "cpuacct.usage")
	if err != nil {
		return u, err
	}
	// Less what the forker spent since the reset, which is the
	// executor's: the start of the sandbox's first process.
	u.cpu = max(0, time.Duration(cpu)-(g.forker.cpu()-g.cpuBase))
	if u.memoryPeak, err = number(g.dirs[0], "memory.max_usage_in_bytes"); err != nil {
		return u, err
	}
	oom, err := keyed(g.dirs[0], "memory.oom_control")
	u.oomKills = oom["oom_kill"] - g.oomBase
	if oom["under_oom"] > 0 {
		g.atLimit = true
	}
	if g.atLimit {
		u.oomKills = max(u.oomKills, 1)
	}
	return u, err
}

func number(dir, file string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// keyed reads a file of "key value" lines.
func keyed(dir, file string) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// members are the processes in the group now, the executor's own (its
// forker thread) left out.
func (g *group) members() []int {
	b, err := os.ReadFile(filepath.Join(g.dirs[0], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signal sends sig to every process of the group but those in except. Each is
// pinned by a pidfd and found in the group again before it is signalled,
// so that a pid reused meanwhile is never signalled.
func (g *group) signal(sig unix.Signal, except ...int) int {
	sent := 0
	for _, pid := range g.members() {
		if slices.Contains(except, pid) {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if g.holds(pid) && unix.PidfdSendSignal(fd, sig, nil, 0) == nil {
			sent++
		}
		_ = unix.Close(fd)
	}
	return sent
}

// holds reports whether pid is in the group, from /proc/<pid>/cgroup.
func (g *group) holds(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if strings.HasSuffix(strings.TrimSpace(line), "/"+g.name) {
			return true
		}
	}
	return false
}

// kill kills every process of the group, until none is left (a process
// may fork while the others are killed; pids.max bounds how long).
func (g *group) kill() {
	if g.c.v2 && write(g.dirs[0], "cgroup.kill", "1") == nil {
		return
	}
	for range 100 {
		if g.signal(unix.SIGKILL) == 0 {
			return
		}
	}
}

// remove kills what is left in the group and removes it. The kernel
// refuses to remove a group until its killed processes are gone, which
// takes a moment; a group that still cannot be removed is left, and the
// next execution of its name, or the next start, removes it.
func (g *group) remove() {
	if g.forker != nil {
		g.forker.stop()
	}
	g.kill()
	for _, d := range slices.Backward(g.dirs) {
		for wait := time.Millisecond; ; wait *= 2 {
			err := unix.Rmdir(d)
			if err == nil || errors.Is(err, unix.ENOENT) || wait > groupRemoveWaitMax {
				break
			}
			if errors.Is(err, unix.EBUSY) {
				g.kill()
			}
			time.Sleep(wait)
		}
	}
}

// groupRemoveWaitMax bounds the wait between two attempts to remove a
// group whose processes are still on their way out.
const groupRemoveWaitMax = 256 * time.Millisecond
