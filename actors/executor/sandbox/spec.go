package sandbox

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Spec is one execution: what to run, where, and its envelope.
type Spec struct {
	// Workspace is the host path of the agent's workspace: the program's
	// working directory, the only host directory it can write (and, with
	// bwrap, the only one of the data directory it can see at all).
	Workspace string
	// Command is the program and its arguments, looked up in SandboxPATH
	// and run in the workspace, e.g. ["python3", "main.py"].
	Command []string
	// Env is added to the program's environment (AGORA_URL, AGORA_TOKEN,
	// AGORA_EXECUTION_ID, AGORA_PAYLOAD ...). PATH is SandboxPATH and HOME
	// the workspace unless Env sets them. Nothing of the executor's own
	// environment is passed on.
	Env map[string]string
	// Socket is the host path of the System Service's Unix socket, or
	// empty for none. With bwrap it appears at ServiceSocketPath; without,
	// at its host path (see Sandbox.SocketPath).
	Socket string

	// CPUSeconds is the program's CPU time: SIGXCPU when a process reaches
	// it, SIGKILL CPUGraceSeconds later.
	CPUSeconds int
	// MemoryMB is the memory of each process of the program, in MiB, as
	// RLIMIT_DATA (see the package documentation for why not RLIMIT_AS).
	// It also sizes the program's private /tmp and /dev/shm.
	MemoryMB int
	// WorkspaceMB is how much the workspace may hold on disk, in MiB:
	// when it grows over that the execution is killed (CauseDisk). See
	// disk.go for how it is measured.
	WorkspaceMB int
	// Processes is how many processes and threads the program may have at
	// once, itself included.
	Processes int
	// Timeout is the wall-clock deadline, from the start: then the whole
	// program (every process it started) is killed.
	Timeout time.Duration
}

// validate reports every problem of the spec at once.
func (sp Spec) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch {
	case sp.Workspace == "":
		bad("workspace is empty")
	case !filepath.IsAbs(sp.Workspace):
		bad("workspace %q is not an absolute path", sp.Workspace)
	}
	if sp.Socket != "" && !filepath.IsAbs(sp.Socket) {
		bad("socket %q is not an absolute path", sp.Socket)
	}
	switch {
	case len(sp.Command) == 0 || sp.Command[0] == "":
		bad("command is empty")
	case len(sp.Command) > CommandArgsMax:
		bad("command has %d arguments, more than %d", len(sp.Command), CommandArgsMax)
	}
	for i, arg := range sp.Command {
		if strings.ContainsRune(arg, 0) {
			bad("command argument %d contains a NUL byte", i)
		}
	}
	envBytes := 0
	for k, v := range sp.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			bad("environment variable %q: names must be non-empty without '=' or NUL, values without NUL", k)
		}
		envBytes += len(k) + len(v) + 2
	}
	if envBytes > EnvBytesMax {
		bad("environment is %d bytes, more than %d", envBytes, EnvBytesMax)
	}
	if sp.CPUSeconds < 1 || sp.CPUSeconds > CPUSecondsMax {
		bad("cpu seconds must be in [1, %d], got %d", CPUSecondsMax, sp.CPUSeconds)
	}
	if sp.MemoryMB < 1 || sp.MemoryMB > MemoryMBMax {
		bad("memory MB must be in [1, %d], got %d", MemoryMBMax, sp.MemoryMB)
	}
	if sp.WorkspaceMB < 1 || sp.WorkspaceMB > WorkspaceMBMax {
		bad("workspace MB must be in [1, %d], got %d", WorkspaceMBMax, sp.WorkspaceMB)
	}
	if sp.Processes < 1 || sp.Processes > ProcessesMax {
		bad("processes must be in [1, %d], got %d", ProcessesMax, sp.Processes)
	}
	if sp.Timeout <= 0 || sp.Timeout > TimeoutMax {
		bad("timeout must be in (0, %s], got %s", TimeoutMax, sp.Timeout)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidSpec, errors.Join(errs...))
}

// memoryBytes is the memory limit in bytes.
func (sp Spec) memoryBytes() int64 { return int64(sp.MemoryMB) << 20 }

// workspaceBytes is the workspace quota in bytes.
func (sp Spec) workspaceBytes() int64 { return int64(sp.WorkspaceMB) << 20 }

// environ is the program's whole environment, sorted so that runs are
// reproducible: the defaults, then the spec's variables over them.
func (sp Spec) environ(home string) []string {
	env := map[string]string{"PATH": SandboxPATH, "HOME": home}
	maps.Copy(env, sp.Env)
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}
