// Package program holds the rules of a new agent's program, its workspace
// files and its command, shared by both APIs that bring an agent into the
// economy: the operator's POST /admin/agents (api/operator) and an
// agent's POST /social/spawn (api/system, over HTTP and as an actor
// message). One set of rules, so that a program one of them accepts the
// other accepts too, and the executor, which writes the workspace
// (executor.Workspaces.Create), never meets a path or a size it refuses.
package program

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
)

// Limits of a program, in one place. They are the executor's for a
// workspace (executor.FilesPerWorkspaceMax and the rest): a program within
// them is always written.
const (
	// FilesMax bounds the files of a new agent's workspace.
	FilesMax = executor.FilesPerWorkspaceMax
	// FileBytesMax bounds one file of a new agent.
	FileBytesMax = executor.FileBytesMax
	// FilesBytesMax bounds all the files of a new agent together; the
	// workspace persists.
	FilesBytesMax = executor.WorkspaceBytesMax
	// PathBytesMax bounds a file's path inside the workspace, and
	// PathDepthMax the directories in it.
	PathBytesMax = executor.PathBytesMax
	PathDepthMax = executor.PathDepthMax
	// CommandArgsMax and CommandBytesMax bound the program's command, as
	// the account records it (agent.ValidateCommand).
	CommandArgsMax  = agent.CommandArgsMax
	CommandBytesMax = agent.CommandBytesMax
)

// Problem is one thing wrong with a program, at its field's location
// under the request's body (files.<path>, command[2], ...).
type Problem struct {
	Location string
	Value    any
	Message  string
}

func (p Problem) Error() string { return p.Location + ": " + p.Message }

// reporter records a problem at a location.
type reporter func(location string, value any, format string, args ...any)

// Check reports every problem of a program that a schema cannot state:
// each file's path and size, a file that is also a directory, a value
// that is not text, the command's program name, NUL bytes and bytes in
// all. The counts (1 to FilesMax files, 1 to CommandArgsMax arguments) are
// the schema's, or Counts'.
func Check(files Files, command []string) []Problem {
	var out []Problem
	add := func(location string, value any, format string, args ...any) {
		out = append(out, Problem{Location: location, Value: value, Message: fmt.Sprintf(format, args...)})
	}
	checkFiles(files, add)
	checkCommand(command, add)
	return out
}

// Counts reports what the HTTP schemas check of a program's counts: at
// least one file and at most FilesMax, at least one argument and at most
// CommandArgsMax. A call that passed no schema (an actor message) is
// checked with it.
func Counts(files Files, command []string) []Problem {
	var out []Problem
	if n := files.Len(); n < 1 || n > FilesMax {
		out = append(out, Problem{Location: "files", Message: fmt.Sprintf("%d files; 1 to %d are allowed", n, FilesMax)})
	}
	if n := len(command); n < 1 || n > CommandArgsMax {
		out = append(out, Problem{Location: "command", Message: fmt.Sprintf("%d arguments; 1 to %d are allowed", n, CommandArgsMax)})
	}
	return out
}

func checkFiles(f Files, add reporter) {
	for _, p := range slices.Sorted(slices.Values(f.notTexts)) {
		add(fileLocation(p), nil, "expected string (the file's text content)")
	}
	files := f.files
	total := 0
	for _, p := range slices.Sorted(maps.Keys(files)) {
		loc := fileLocation(p)
		if err := ValidatePath(p); err != nil {
			add(loc, p, "%s", err)
			continue
		}
		n := len(files[p])
		if n > FileBytesMax {
			add(loc, nil, "%d bytes, at most %d are allowed in a file", n, FileBytesMax)
		}
		total += n
		if dir, ok := executor.FileAsDirectory(files, p); ok {
			add(loc, p, "%q is a file, so it cannot be a directory too", dir)
		}
	}
	if total > FilesBytesMax {
		add("files", nil, "%d bytes in all, at most %d are allowed", total, FilesBytesMax)
	}
}

// fileLocation is where a file's problem is: files.<path>, or
// files["<path>"] for a path that would not read plainly (empty, or with
// control characters or quotes), shortened.
func fileLocation(p string) string {
	plain := p != "" && utf8.ValidString(p) && !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '"' })
	if plain {
		return "files." + problem.Shorten(p)
	}
	return fmt.Sprintf("files[%q]", problem.Shorten(p))
}

// ValidatePath checks one file path inside a workspace by the executor's
// rules (executor.ValidatePath: relative, '/' between its elements, no
// empty, "." or ".." element, at most PathBytesMax bytes and PathDepthMax
// elements, no control character or backslash), so that it can name
// nothing outside the workspace, and as UTF-8, since the APIs carry text.
func ValidatePath(p string) error {
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: the path is not UTF-8", executor.ErrInvalidPath)
	}
	return executor.ValidatePath(p)
}

// checkCommand applies agent.ValidateCommand's rules (the account refuses
// the same) with the argument's location.
func checkCommand(command []string, add reporter) {
	if len(command) == 0 || len(command) > CommandArgsMax {
		return // Counts, or the schema, says so
	}
	if command[0] == "" {
		add("command[0]", "", "the program name is empty")
	}
	n := 0
	for i, arg := range command {
		n += len(arg)
		if strings.IndexByte(arg, 0) >= 0 {
			add(fmt.Sprintf("command[%d]", i), arg, "has a NUL byte, which no process argument can carry")
		}
	}
	if n > CommandBytesMax {
		add("command", nil, "%d bytes in all, at most %d are allowed", n, CommandBytesMax)
	}
}

// CheckBundle reports what is wrong with a first bid's bundle before the
// book is asked (the rules of clearing.Validate that do not depend on the
// book): resource names, never attention, and cpu_seconds and memory_mb
// named. at is the bid's location (initial_bid).
func CheckBundle(at string, resources []string) []Problem {
	var out []Problem
	add := func(location string, value any, format string, args ...any) {
		out = append(out, Problem{Location: location, Value: value, Message: fmt.Sprintf(format, args...)})
	}
	checkBundle(at, resources, add)
	return out
}

func checkBundle(at string, resources []string, add reporter) {
	for _, name := range slices.Sorted(slices.Values(resources)) {
		if err := events.ValidateID(name); err != nil {
			add(at+".resources", name, "resource %q is not a resource name: a-z, 0-9, '_' and '-', at most 64", name)
		} else if name == clearing.ResourceAttention {
			add(at+".resources."+name, nil, "attention is bid for with a prompt, not in a bundle")
		}
	}
	if len(resources) > 0 {
		for _, name := range []string{clearing.ResourceCPU, clearing.ResourceMemory} {
			if !slices.Contains(resources, name) {
				add(at+".resources", nil, "every bundle names %s (the execution's envelope)", name)
			}
		}
	}
}
