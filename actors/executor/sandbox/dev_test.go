package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The executor's /dev directory is used only when it is exactly what it
// should be: an extra entry, or a device that is not the host's, and it
// is refused (bwrap then binds the devices one by one).
func TestDevDirIsChecked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the executor keeps a /dev directory only as root")
	}
	dir := filepath.Join(filepath.Dir(devDir), fmt.Sprintf("%s-test-%d", filepath.Base(devDir), os.Getpid()))
	if err := makeDevDir(dir); err != nil {
		t.Skipf("cannot make device files in %s here: %v", filepath.Dir(dir), err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := checkDevDir(dir); err != nil {
		t.Fatalf("a fresh directory is refused: %v", err)
	}

	extra := filepath.Join(dir, "sda")
	mustWrite(t, extra, "")
	if err := checkDevDir(dir); err == nil {
		t.Errorf("a directory with an extra entry is accepted")
	}
	if err := os.Remove(extra); err != nil {
		t.Fatal(err)
	}

	zero := filepath.Join(dir, "zero")
	var full unix.Stat_t
	if err := unix.Stat("/dev/full", &full); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(zero); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(zero, full.Mode, int(full.Rdev)); err != nil {
		t.Fatal(err)
	}
	if err := checkDevDir(dir); err == nil {
		t.Errorf("a directory whose zero is another device is accepted")
	}
}
