package program

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// Files are a new agent's workspace: path -> text content. They are read
// by hand rather than as a map[string]string because huma's validator
// keeps a field's location in a buffer that it cuts back at the last '.'
// or '[': a path like "lib/util.py" validated as a map key would leave
// the wrong location on every later problem of the request. Here the
// schema states only the count, and Check checks each file, locating it
// as files.<path>.
type Files struct {
	files    map[string]string
	notTexts []string // paths whose value is not a JSON string
}

// NewFiles are the files given (a Go caller's, a test's), all text.
func NewFiles(files map[string]string) Files { return Files{files: maps.Clone(files)} }

// Map returns a copy of the files.
func (f Files) Map() map[string]string { return maps.Clone(f.files) }

// NotTexts lists the paths whose value was not a JSON string: each one is
// a problem Check reports.
func (f Files) NotTexts() []string { return slices.Clone(f.notTexts) }

// Len is the number of files, text or not.
func (f Files) Len() int { return len(f.files) + len(f.notTexts) }

// UnmarshalJSON reads an object of files. A value that is not a string is
// recorded, not refused here, so that Resolve names its path.
func (f *Files) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	f.files, f.notTexts = make(map[string]string, len(raw)), nil
	for p, v := range raw {
		var s string
		// null would read as "": only a string is a file's content.
		if v = bytes.TrimSpace(v); len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			f.notTexts = append(f.notTexts, p)
			continue
		}
		f.files[p] = s
	}
	return nil
}

// MarshalJSON writes the files as an object (examples, tests).
func (f Files) MarshalJSON() ([]byte, error) {
	if f.files == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(f.files)
}

// Schema documents Files in the OpenAPI document.
func (Files) Schema(huma.Registry) *huma.Schema {
	minFiles, maxFiles := 1, FilesMax
	return &huma.Schema{Type: huma.TypeObject, MinProperties: &minFiles, MaxProperties: &maxFiles,
		AdditionalProperties: true,
		Description: "The workspace: relative path ('/'-separated, no '..', at most 255 bytes and 16 deep) -> text content " +
			"(a JSON string). At most 256 files, 1 MiB each, 8 MiB in all."}
}
