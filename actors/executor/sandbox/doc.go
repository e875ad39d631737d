// Package sandbox runs one execution of an agent's program inside its
// envelope (SPEC.md 1.4): its workspace, its CPU seconds, its memory, a
// process limit and a wall-clock deadline, and reports how it ended.
//
// # Isolation
//
// With bwrap (Debian bubblewrap) the program sees its workspace read-write
// at WorkspaceMountPath, the system runtime read only (/usr, /etc, and
// /bin, /sbin, /lib* as the host has them), a fresh /proc, a /dev with
// null, zero, full, random and urandom (no terminal devices), a private
// /tmp of at most its memory limit (/dev/shm is a link to it), the service
// socket at ServiceSocketPath, and nothing else of the host: no other
// workspace, no data directory, no operator token, no network (a network
// namespace of its workspace's own, with only loopback). It runs in its
// own PID, IPC, UTS and cgroup namespaces in a new session, and bwrap and
// everything in the sandbox die with the executor. New checks that bwrap
// works on this kernel by running a trivial program through it; if it
// does not, the sandbox runs programs with limits and a process group
// only, and New returns a warning to log loudly.
//
// Most of the sandbox's cost is bwrap's: its start, each namespace it
// makes and each mount (it reads the whole mount table again for every
// bind). As root, the executor therefore makes two parts of it once
// rather than for every execution: the network namespace, kept per
// workspace between its executions (netns.go), and /dev, a directory of
// the host's /dev bound in one mount (dev.go). Where it cannot, bwrap
// makes them each time.
//
// # Users and the process limit
//
// The kernel does not apply RLIMIT_NPROC to root, and counts it per user.
// When the executor is root, each execution running at once gets a host
// uid of its own (WithUsers; UIDFirstDefault by default), and Run first
// hands the workspace over to it (chown of every entry, see handOver).
// bwrap then runs as root without a user namespace, since one made by root
// maps the program to root outside; unshare(1) (setpriv(1) without bwrap)
// switches to the sandbox uid just before the program, which runs with no
// capabilities and no_new_privs. The service socket must be writable by
// that uid: GrantSocket gives it to their group. When the executor is not
// root, bwrap makes a user namespace, in which the program's processes are
// counted apart from the user's others, and which forbids further user
// namespaces. The limit counts threads too, as the kernel does.
//
// # Limits
//
// The executor sets the limits with prlimit(2) on the sandbox's first
// process (bwrap's init, or without bwrap a subshell) while that process
// waits, before the program exists; every process of the program inherits
// them (rlimits.go). They hold from the program's first instruction and
// cost no exec inside the sandbox:
//   - CPU: RLIMIT_CPU soft at CPUSeconds (SIGXCPU, which a program may
//     catch to save its state), hard CPUGraceSeconds later (SIGKILL).
//   - Memory: RLIMIT_DATA at MemoryMB MiB. Since Linux 4.7 it counts the
//     private writable mappings (heap, anonymous memory, thread stacks):
//     what a program allocates. RLIMIT_AS would also count shared
//     libraries and address space reserved but never used, which Go,
//     Java, V8 and glibc's per-thread arenas reserve by the gigabyte, so a
//     limit that suits Python would stop them before they start. Shared
//     memory (MAP_SHARED mappings, memfd, files in tmpfs) escapes
//     RLIMIT_DATA; /tmp, which holds /dev/shm too, is bounded to the
//     limit's size.
//   - Processes: RLIMIT_NPROC at Processes (see processLimit for what
//     else the kernel counts).
//   - Files: RLIMIT_FSIZE at the workspace quota.
//   - No core dumps (RLIMIT_CORE 0): they would land in the workspace.
//
// These are per process. The envelope is the whole execution's, below.
//
// # The envelope of the whole execution
//
// Each execution has a control group of its own (cgroup.go): cgroup v1
// (memory, cpuacct, pids) or v2, made in the executor's own group. A v1
// group is kept for later executions with a thread of the executor in it
// (forker.go) that starts the sandbox, so bwrap and its first process are
// born in the group; a v2 group's first process joins it while it waits,
// with its rlimits. Either way every process of the program is born in
// it. The kernel holds the
// memory of all of them together (shared mappings and tmpfs included) to
// MemoryMB, and the pids controller their number; the executor reads the
// group's CPU time every envelopeCheckInterval (watchUsage), sends SIGXCPU
// to every process of the program at CPUSeconds and kills the execution
// CPUGraceSeconds later, and kills it when its processes reach the
// memory limit (v1: they wait there, the kernel's OOM killer being off in
// the group; v2: the kernel kills them). Where no group can be made, New says
// so, and the execution's processes are summed from /proc instead
// (procMeter). The workspace is measured before, during (watchDisk) and
// after the run against WorkspaceMB (disk.go).
//
// # The end and the kill
//
// The execution is over when the program's first process ends, at the
// deadline, or when the caller's context ends; then nothing of it is left
// running. The leader (bwrap, or sh without it) is started in a process
// group of its own, which is killed with SIGKILL, and the measured process
// with it (below). With bwrap this kills the sandbox's init, and the kernel
// kills every process of its PID namespace, including any that started a
// session of its own. Without bwrap, a process that left the group
// survives; when the program runs as a sandbox uid, every process of that
// uid is killed once the program has ended (see sweep).
//
// # Measurement
//
// CPU time and peak memory are the execution's group's, read once
// everything is reaped, whatever ended it; and at least the rusage of the
// process that reaps the program: bwrap's init, or a subshell without
// bwrap. The executor becomes a child subreaper to reap it itself
// (process.go says why its own child's rusage would be wrong).
//
// # Causes
//
// classify orders them: the supervisor's own kill (deadline, killed by
// the caller, or the whole execution over its CPU, memory or disk); then
// failed, for a command that could not be executed (launcherFailed); then
// memory, for a process the kernel killed at the group's limit; then disk,
// for a workspace over its quota at the end or a death by SIGXFSZ; then
// cpu, for a death by SIGXCPU or SIGKILL after at least CPUNearPercent of
// the CPU seconds; then memory, for an abnormal end
// (non-zero exit or a signal) with a peak resident size of at least
// MemoryNearPercent of the limit, since a refused allocation is an
// ordinary error to a program (Python's MemoryError exits 1); otherwise
// exited. A program that asks for far more than its limit at once is
// refused before its resident size grows, and is reported as exited with
// its own exit code: nothing the kernel reports tells it apart from any
// other error. With bwrap a death by signal n is reported as exit code
// 128+n, as bwrap does; a program exiting with such a code by itself is
// taken at its word only if the CPU or memory check also holds.
//
// # Output
//
// The program's stdout and stderr go, merged in order, through one pipe;
// the last OutputTailBytesMax bytes are kept and, when the execution ends,
// written to OutputLogPath in the workspace (replaced each time, never
// through a link the program left there, never seen half written), with
// a line saying how many
// bytes were dropped before them and a last line with the Result, so the
// agent can read on its next execution why the last one ended.
package sandbox
