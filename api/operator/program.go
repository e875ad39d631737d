package operator

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/api/problem"
	"github.com/agora-econ/agora/events"
)

// The checks of a new agent that the schema cannot state: each file's
// path and size, the command's bytes, the first bid's bundle and its
// amount against the grant. They run with huma's own validation, so one
// answer lists every bad field, and before the handler: nothing is
// created from a request with any of them.

// Resolve reports what is wrong with the new agent, each problem at its
// field's location.
func (b *CreateAgentBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	var errs []error
	// Locations are joined by hand: a file's path may hold the '.' and
	// '[' that the PathBuffer would pop at.
	base := prefix.String()
	add := func(location string, value any, format string, args ...any) {
		errs = append(errs, &huma.ErrorDetail{Location: base + "." + location, Message: fmt.Sprintf(format, args...), Value: value})
	}
	b.checkFiles(add)
	b.checkCommand(add)
	b.checkBid(add)
	return errs
}

// reporter records a problem at a location under the body.
type reporter func(location string, value any, format string, args ...any)

func (b *CreateAgentBody) checkFiles(add reporter) {
	for _, p := range slices.Sorted(slices.Values(b.Files.notTexts)) {
		add(fileLocation(p), nil, "expected string (the file's text content)")
	}
	files := b.Files.files
	total := 0
	for _, p := range slices.Sorted(maps.Keys(files)) {
		loc := fileLocation(p)
		if err := validatePath(p); err != nil {
			add(loc, p, "%s", err)
			continue
		}
		n := len(files[p])
		if n > FileBytesMax {
			add(loc, nil, "%d bytes, at most %d are allowed in a file", n, FileBytesMax)
		}
		total += n
		// A path cannot be a file and the directory of another file.
		for dir := p; ; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			if _, isFile := files[dir]; isFile {
				add(loc, p, "%q is a file, so it cannot be a directory too", dir)
				break
			}
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

// validatePath checks one file path inside a workspace: relative, with
// '/' between its elements, clean (no empty, "." or ".." element, no
// trailing slash), at most PathBytesMax bytes and PathDepthMax elements,
// free of control characters and backslashes, so that it can name nothing
// outside the workspace. These are the executor's rules for a workspace.
func validatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case len(p) > PathBytesMax:
		return fmt.Errorf("path of %d bytes, at most %d are allowed", len(p), PathBytesMax)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path is absolute; it must be relative to the workspace")
	case !utf8.ValidString(p):
		return fmt.Errorf("path is not UTF-8")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("path has the character %q", r)
		}
	}
	elems := strings.Split(p, "/")
	if len(elems) > PathDepthMax {
		return fmt.Errorf("path is deeper than %d", PathDepthMax)
	}
	for _, e := range elems {
		switch e {
		case "":
			return fmt.Errorf("path has an empty element (a '//' or a '/' at an end)")
		case ".", "..":
			return fmt.Errorf("path has a %q element; it must stay inside the workspace", e)
		}
	}
	return nil
}

// checkCommand applies agent.ValidateCommand's rules (the account refuses
// the same) with the argument's location.
func (b *CreateAgentBody) checkCommand(add reporter) {
	if len(b.Command) == 0 || len(b.Command) > CommandArgsMax {
		return // the schema says so
	}
	if b.Command[0] == "" {
		add("command[0]", "", "the program name is empty")
	}
	n := 0
	for i, arg := range b.Command {
		n += len(arg)
		if strings.IndexByte(arg, 0) >= 0 {
			add(fmt.Sprintf("command[%d]", i), arg, "has a NUL byte, which no process argument can carry")
		}
	}
	if n > CommandBytesMax {
		add("command", nil, "%d bytes in all, at most %d are allowed", n, CommandBytesMax)
	}
}

// checkBid checks the first bid's bundle (the rules of clearing.Validate
// that do not depend on the book) and that the grant can pay for it: the
// bid is placed from the new account, whose only credits are its grant.
func (b *CreateAgentBody) checkBid(add reporter) {
	bid := b.InitialBid
	if bid == nil {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(bid.Resources)) {
		if err := events.ValidateID(name); err != nil {
			add("initial_bid.resources", name, "resource %q is not a resource name: a-z, 0-9, '_' and '-', at most 64", name)
		} else if name == clearing.ResourceAttention {
			add("initial_bid.resources."+name, nil, "attention is bid for with a prompt, not in a bundle")
		}
	}
	if len(bid.Resources) > 0 {
		for _, name := range []string{clearing.ResourceCPU, clearing.ResourceMemory} {
			if _, ok := bid.Resources[name]; !ok {
				add("initial_bid.resources", nil, "every bundle names %s (the execution's envelope)", name)
			}
		}
	}
	grant, amount := b.Grant.Micros(), bid.Amount.Micros()
	if grant > 0 && amount > grant {
		add("initial_bid.amount", nil, "%s is above the grant of %s: the first bid is placed from the grant", amount, grant)
	}
}
