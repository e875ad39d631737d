package operator_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/agora-econ/agora/api/operator"
)

// TestTokenFromTheConfiguration is used as it is, and no file is made.
func TestTokenFromTheConfiguration(t *testing.T) {
	dir := t.TempDir()
	token, path, err := operator.LoadOrCreateToken(dir, operatorToken)
	if err != nil || token != operatorToken || path != "" {
		t.Fatalf("%q %q %v", token, path, err)
	}
	if _, err := os.Stat(filepath.Join(dir, operator.TokenFile)); !os.IsNotExist(err) {
		t.Fatalf("a configured token made a file: %v", err)
	}
	for _, bad := range []string{"short", "with a space inside it", "tab\there-0123456789", strings.Repeat("x", operator.TokenLengthMax+1)} {
		if _, _, err := operator.LoadOrCreateToken(dir, bad); !errors.Is(err, operator.ErrInvalidToken) ||
			!strings.Contains(err.Error(), "configuration") {
			t.Fatalf("configured %q: got %v", bad, err)
		}
	}
}

// TestTokenMadeAtFirstStart: 32 random bytes, base64url, in a file of mode
// 0600 that the next start reads back.
func TestTokenMadeAtFirstStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // made if missing
	token, path, err := operator.LoadOrCreateToken(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, operator.TokenFile) {
		t.Fatalf("path %q", path)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != operator.TokenBytes || len(token) != 43 {
		t.Fatalf("token %q: %d bytes, %v", token, len(raw), err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %#o, want 0600", info.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != token+"\n" {
		t.Fatalf("file holds %q", b)
	}
	again, path2, err := operator.LoadOrCreateToken(dir, "")
	if err != nil || again != token || path2 != path {
		t.Fatalf("second start: %q %q %v", again, path2, err)
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("data directory holds %d entries", len(entries))
	}
	// Another data directory, another token.
	other, _, err := operator.LoadOrCreateToken(t.TempDir(), "")
	if err != nil || other == token {
		t.Fatalf("another directory: %q, %v", other, err)
	}
}

// TestTokenMadeOnceByRacingStarts: starts racing on a fresh directory all
// end with the one token in the file.
func TestTokenMadeOnceByRacingStarts(t *testing.T) {
	dir := t.TempDir()
	tokens := make([]string, 8)
	var wg sync.WaitGroup
	for i := range tokens {
		wg.Go(func() {
			tok, _, err := operator.LoadOrCreateToken(dir, "")
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		})
	}
	wg.Wait()
	b, _ := os.ReadFile(filepath.Join(dir, operator.TokenFile))
	for _, tok := range tokens {
		if tok != strings.TrimSpace(string(b)) {
			t.Fatalf("tokens %v, file %q", tokens, b)
		}
	}
}

// TestTokenFileThatCannotBeUsed: a file others may read, a directory in
// its place, an empty or malformed token are refused with a clear error,
// and left as they are.
func TestTokenFileThatCannotBeUsed(t *testing.T) {
	good := strings.Repeat("k", 43)
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		words   []string
	}{
		{"readable by the group", good, 0o640, []string{"mode 0640", "wider than 0600", "chmod 600"}},
		{"readable by all", good, 0o644, []string{"mode 0644", "wider than 0600"}},
		{"executable", good, 0o700, []string{"mode 0700", "wider than 0600"}},
		{"empty", "", 0o600, []string{"characters, at least 16", "delete the file"}},
		{"too short", "abc\n", 0o600, []string{"at least 16"}},
		{"two words", "abcdefghijklmnop qrstuvwxyz\n", 0o600, []string{"not printable ASCII"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, operator.TokenFile)
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := operator.LoadOrCreateToken(dir, "")
			if !errors.Is(err, operator.ErrTokenFile) {
				t.Fatalf("got %v", err)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("%q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), good) {
				t.Fatalf("the error shows the token: %v", err)
			}
			b, _ := os.ReadFile(path)
			info, _ := os.Stat(path)
			if string(b) != c.content || info.Mode().Perm() != c.mode {
				t.Fatalf("the file was changed: %q %#o", b, info.Mode().Perm())
			}
		})
	}
	// A narrower mode is fine: only its owner can read it.
	dir := t.TempDir()
	path := filepath.Join(dir, operator.TokenFile)
	if err := os.WriteFile(path, []byte(good+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := operator.LoadOrCreateToken(dir, ""); err != nil || tok != good {
		t.Fatalf("0400: %q %v", tok, err)
	}
	// Not a regular file.
	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, operator.TokenFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := operator.LoadOrCreateToken(dir, ""); !errors.Is(err, operator.ErrTokenFile) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
	// A symbolic link is not followed: it could point anywhere.
	dir = t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, operator.TokenFile)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := operator.LoadOrCreateToken(dir, ""); !errors.Is(err, operator.ErrTokenFile) {
		t.Fatalf("a symlink: %v", err)
	}
	// No data directory and no token.
	if _, _, err := operator.LoadOrCreateToken("", ""); !errors.Is(err, operator.ErrTokenFile) {
		t.Fatalf("no directory: %v", err)
	}
}
