package web

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutputTail: the tail of a regular output log is read, its last
// bytes only; a workspace without one has none; a symbolic link out of
// the workspace, a FIFO or a directory in its place is refused, without
// blocking and without reading what the link names.
func TestOutputTail(t *testing.T) {
	dir := t.TempDir()
	if out, err := outputTail(filepath.Join(dir, "missing"), 10); err != nil || out != nil {
		t.Fatalf("a missing workspace: %q %v", out, err)
	}
	if out, err := outputTail(dir, 10); err != nil || out != nil {
		t.Fatalf("no output log: %q %v", out, err)
	}
	log := filepath.Join(dir, OutputLogPath)
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(log, []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := outputTail(dir, 6); err != nil || string(out) != "abcdef" {
		t.Fatalf("the tail: %q %v, want abcdef", out, err)
	}
	if out, err := outputTail(dir, 100); err != nil || string(out) != "0123456789abcdef" {
		t.Fatalf("a short log whole: %q %v", out, err)
	}

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("the operator token"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, place := range map[string]func() error{
		"a link out":  func() error { return os.Symlink(secret, log) },
		"a FIFO":      func() error { return syscall.Mkfifo(log, 0o644) },
		"a directory": func() error { return os.Mkdir(log, 0o755) },
		"a dir link":  func() error { return os.Symlink(filepath.Dir(secret), log) },
	} {
		if err := os.RemoveAll(log); err != nil {
			t.Fatal(err)
		}
		if err := place(); err != nil {
			t.Fatal(err)
		}
		out, err := outputTail(dir, 100)
		if err == nil || strings.Contains(string(out), "operator") {
			t.Errorf("%s in place of the log: %q %v, want an error", name, out, err)
		}
	}
	// The workspace's .agora a link out: refused too.
	if err := os.RemoveAll(filepath.Dir(log)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(secret), "output.log"), []byte("the operator token"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Dir(log)); err != nil {
		t.Fatal(err)
	}
	if out, err := outputTail(dir, 100); err == nil || strings.Contains(string(out), "operator") {
		t.Errorf(".agora a link out: %q %v, want an error", out, err)
	}
}
