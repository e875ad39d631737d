package program_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/agora-econ/agora/api/program"
)

func locations(ps []program.Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Location
	}
	return out
}

// TestCheck: each rule of a program reports its problem at its field's
// location, and a good program reports none.
func TestCheck(t *testing.T) {
	cmd := []string{"python3", "main.py"}
	cases := []struct {
		name    string
		files   map[string]string
		command []string
		want    []string
	}{
		{"a good program", map[string]string{"main.py": "x", "lib/a.py": "y"}, cmd, []string{}},
		{"a path out of the workspace", map[string]string{"../x": "y"}, cmd, []string{"files.../x"}},
		{"an absolute path", map[string]string{"/x": "y"}, cmd, []string{"files./x"}},
		{"a control character", map[string]string{"a\nb": "y"}, cmd, []string{`files["a\nb"]`}},
		{"a file and its directory", map[string]string{"a": "x", "a/b": "y"}, cmd, []string{"files.a/b"}},
		{"a file too big", map[string]string{"a": strings.Repeat("x", program.FileBytesMax+1)}, cmd, []string{"files.a"}},
		{"too deep", map[string]string{strings.Repeat("d/", program.PathDepthMax) + "f": "x"}, cmd,
			[]string{"files." + strings.Repeat("d/", program.PathDepthMax) + "f"}},
		{"an empty program name", map[string]string{"a": "x"}, []string{""}, []string{"command[0]"}},
		{"a NUL", map[string]string{"a": "x"}, []string{"python3", "a\x00"}, []string{"command[1]"}},
		{"a command too long", map[string]string{"a": "x"}, []string{"python3", strings.Repeat("x", program.CommandBytesMax)}, []string{"command"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := locations(program.Check(program.NewFiles(c.files), c.command))
			if !slices.Equal(got, c.want) {
				t.Fatalf("problems at %q; want %q", got, c.want)
			}
		})
	}
}

// TestCounts: what the schemas check of a program's counts, for a call
// that passed none.
func TestCounts(t *testing.T) {
	many := map[string]string{}
	for i := range program.FilesMax + 1 {
		many[strings.Repeat("f", 1+i%50)+string(rune('a'+i/50))] = "x"
	}
	for name, c := range map[string]struct {
		files   map[string]string
		command []string
		want    []string
	}{
		"within":          {map[string]string{"a": "x"}, []string{"x"}, []string{}},
		"no file":         {nil, []string{"x"}, []string{"files"}},
		"too many files":  {many, []string{"x"}, []string{"files"}},
		"no command":      {map[string]string{"a": "x"}, nil, []string{"command"}},
		"too many words":  {map[string]string{"a": "x"}, make([]string, program.CommandArgsMax+1), []string{"command"}},
		"neither allowed": {nil, nil, []string{"files", "command"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := locations(program.Counts(program.NewFiles(c.files), c.command)); !slices.Equal(got, c.want) {
				t.Fatalf("problems at %q; want %q", got, c.want)
			}
		})
	}
}

// TestFilesReadsText: a value that is not a JSON string is kept aside and
// reported at its path, never read as an empty file.
func TestFilesReadsText(t *testing.T) {
	var f program.Files
	if err := json.Unmarshal([]byte(`{"a":"x","b":null,"c":42}`), &f); err != nil {
		t.Fatal(err)
	}
	if got := f.Map(); len(got) != 1 || got["a"] != "x" || f.Len() != 3 {
		t.Fatalf("files %v, %d in all", got, f.Len())
	}
	if got := locations(program.Check(f, []string{"x"})); !slices.Equal(got, []string{"files.b", "files.c"}) {
		t.Fatalf("problems at %q", got)
	}
}

// TestCheckBundle: a first bid's bundle names cpu_seconds and memory_mb,
// never attention, and only resource names.
func TestCheckBundle(t *testing.T) {
	for name, c := range map[string]struct {
		resources []string
		want      []string
	}{
		"the envelope":    {[]string{"cpu_seconds", "memory_mb", "tokens"}, []string{}},
		"no memory":       {[]string{"cpu_seconds"}, []string{"b.resources"}},
		"attention":       {[]string{"cpu_seconds", "memory_mb", "attention"}, []string{"b.resources.attention"}},
		"a bad name":      {[]string{"cpu_seconds", "memory_mb", "Gold!"}, []string{"b.resources"}},
		"nothing to tell": {nil, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := locations(program.CheckBundle("b", c.resources)); !slices.Equal(got, c.want) {
				t.Fatalf("problems at %q; want %q", got, c.want)
			}
		})
	}
}
