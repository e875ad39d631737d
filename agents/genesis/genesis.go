// Package genesis ships the genesis agent's program: the first agent of a
// fresh economy (SPEC.md 3.5). The program is Python 3, standard library
// only, so that it runs wherever python3 exists: main.py (the strategy),
// agora.py (the client helper every Python agent may copy, and which the
// service copies into every spawned workspace) and helper.py (the scout
// genesis spawns when rich enough: genesis sends it as the child's main.py,
// with a helper.json naming its parent).
//
// The files live in agents/ at the top level of the repository, not under
// actors/ or cmd/, because they are not part of the Go runtime: they are
// programs that run inside the economy, in a sandboxed execution, and talk
// to it only through the System Service, like any agent a researcher
// brings. Keeping them apart makes that boundary visible (nothing in
// agents/ imports the runtime, and the runtime only embeds these bytes)
// and gives future agent programs an obvious home. This package only
// embeds them, so that `agora run` can write genesis's workspace on a
// fresh log without looking for files on disk.
//
// genesis_test.go runs the Python tests (python3 -m unittest discover) as
// part of go test.
package genesis

import "embed"

//go:embed main.py agora.py helper.py
var program embed.FS

// programFiles are the files of genesis's workspace, in the order they are
// listed in the embed directive.
var programFiles = []string{"main.py", "agora.py", "helper.py"}

// Files returns genesis's program as workspace path -> content: main.py,
// agora.py and helper.py. Each call returns fresh copies, so a caller may
// keep or change them.
func Files() map[string][]byte {
	files := make(map[string][]byte, len(programFiles))
	for _, name := range programFiles {
		data, err := program.ReadFile(name)
		if err != nil {
			panic("genesis: embedded file missing: " + name) // the embed directive guarantees it
		}
		files[name] = data
	}
	return files
}

// Command is the argv that starts genesis in its workspace.
func Command() []string { return []string{"python3", "main.py"} }
