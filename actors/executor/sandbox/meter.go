package sandbox

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// meter measures the whole execution, every process of it together, while
// it runs: a control group (cgroup.go), or where none can be made the
// execution's processes found in /proc (procMeter).
type meter interface {
	// spawn runs job, which starts the sandbox, on a thread locked to it:
	// what it starts is born in the execution's group where it has one
	// (see forker.go).
	spawn(job func() (keep bool, err error)) error
	// join is called with the sandbox's first process, before the
	// program exists: every process of the program descends from it.
	join(pid int) error
	// read is the execution's usage so far.
	read() (usage, error)
	// signal sends sig to every process of the execution but those in
	// except, and says to how many.
	signal(sig unix.Signal, except ...int) int
	// release kills what is left and lets go of the execution.
	release()
}

var (
	_ meter = (*group)(nil)
	_ meter = (*procMeter)(nil)
)

// procMeter measures an execution without a control group: every
// envelopeCheckInterval it sums the CPU time and the proportional memory
// (Pss, which counts a shared page once in all) of the processes that
// descend from the sandbox's first process. It sees no process that left
// that tree (only possible without bwrap, where orphans go to the executor),
// and a process born and gone between two looks only through its parent's
// count of its reaped children; memory is bounded by the executor killing
// the execution, not by the kernel, so it may run over for an interval.
type procMeter struct {
	limit int64        // memory, bytes
	root  atomic.Int64 // set by join, on the supervisor's goroutine
	// The largest sums seen, by the one goroutine that reads.
	peak int64
	cpu  time.Duration
}

func newProcMeter(sp Spec) *procMeter { return &procMeter{limit: sp.memoryBytes()} }

func (m *procMeter) spawn(job func() (bool, error)) error { return onOwnThread(job) }

func (m *procMeter) join(pid int) error { m.root.Store(int64(pid)); return nil }

func (m *procMeter) read() (usage, error) {
	root := int(m.root.Load())
	if root == 0 {
		return usage{}, nil
	}
	var cpu time.Duration
	var mem int64
	for _, p := range descendants(root) {
		st, ok := readProcStat(p.pid)
		if !ok || st.start != p.start {
			continue
		}
		cpu += st.cpu
		mem += pss(p.pid)
	}
	m.cpu, m.peak = max(m.cpu, cpu), max(m.peak, mem)
	u := usage{cpu: m.cpu, memoryPeak: m.peak}
	if mem > m.limit {
		u.oomKills = 1 // no kernel kill: the executor's, at the next look
	}
	return u, nil
}

func (m *procMeter) signal(sig unix.Signal, except ...int) int {
	root := int(m.root.Load())
	if root == 0 {
		return 0
	}
	sent := 0
	for _, p := range descendants(root) {
		if slices.Contains(except, p.pid) {
			continue
		}
		fd, err := unix.PidfdOpen(p.pid, 0)
		if err != nil {
			continue
		}
		// Pinned: the same start time means the same process.
		if st, ok := readProcStat(p.pid); ok && st.start == p.start && unix.PidfdSendSignal(fd, sig, nil, 0) == nil {
			sent++
		}
		_ = unix.Close(fd)
	}
	return sent
}

// release has nothing to do: the sandbox's own kill (the PID namespace,
// the process group) ends the processes.
func (m *procMeter) release() {}

// proc is a process and its start time, which tells it from a later
// process given the same pid.
type proc struct {
	pid   int
	start uint64
}

// descendants are root and every process below it, from the children
// lists of /proc/<pid>/task/<tid>/children.
func descendants(root int) []proc {
	var out []proc
	queue := []int{root}
	for len(queue) > 0 && len(out) < ProcessesMax {
		pid := queue[0]
		queue = queue[1:]
		st, ok := readProcStat(pid)
		if !ok {
			continue
		}
		out = append(out, proc{pid, st.start})
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if child, err := strconv.Atoi(f); err == nil {
					queue = append(queue, child)
				}
			}
		}
	}
	return out
}

// procStat is what the sandbox reads of /proc/<pid>/stat.
type procStat struct {
	cpu   time.Duration // utime + stime + cutime + cstime
	start uint64        // starttime, in clock ticks since boot
}

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ, 100 on
// every Linux architecture the executor runs on).
const clockTick = 10 * time.Millisecond

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	// Fields after the name, from state (field 3): utime is field 14,
	// starttime field 22.
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return procStat{}, false
	}
	var ticks int64
	for _, k := range f[11:15] {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return procStat{}, false
		}
		ticks += n
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, false
	}
	return procStat{cpu: time.Duration(ticks) * clockTick, start: start}, true
}

// pss is the proportional set size of pid in bytes (its share of every
// page it maps), from smaps_rollup; 0 if the process is gone.
func pss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}
