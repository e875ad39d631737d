package sandbox

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// The workspace quota (Spec.WorkspaceMB). No file system the executor can
// count on here bounds a directory (project quotas need a mount option,
// an image per workspace a mount per execution), so the sandbox measures
// the workspace: before the program starts, while it runs (a walk every
// envelopeCheckInterval, or less often for a workspace that takes long to
// walk, so that walking takes at most 1/diskWalkShare of a core), and once
// it has ended. RLIMIT_FSIZE at the quota keeps any single file below it
// between two walks.

// diskWalkShare: the next walk waits at least this many times as long as
// the last one took.
const diskWalkShare = 20

// diskEntryBytesMin is what an entry counts at least, so that a program
// cannot fill the file system's inodes with empty files for free.
const diskEntryBytesMin = 4096

// diskUsage is what the workspace at dir takes on disk: the blocks of
// every entry (directories and links included, a file with several links
// once), each at least diskEntryBytesMin. The walk goes through an
// os.Root and never follows a link; entries that vanish during the walk
// are not counted.
func diskUsage(dir string) (int64, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	type inode struct{ dev, ino uint64 }
	var linked map[inode]bool
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			// Gone meanwhile, or (not as root) a directory the program
			// made unreadable: what can be counted is.
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		if !fi.IsDir() && st.Nlink > 1 {
			if linked == nil {
				linked = map[inode]bool{}
			}
			key := inode{uint64(st.Dev), st.Ino}
			if linked[key] {
				return nil
			}
			linked[key] = true
		}
		total += max(st.Blocks*512, diskEntryBytesMin)
		return nil
	})
	return total, err
}

// watchDisk kills the execution for its disk (stopDisk) when the
// workspace grows over limit, until stop is closed.
func (e *execution) watchDisk(stop <-chan struct{}, dir string, limit int64) {
	wait := envelopeCheckInterval
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		began := time.Now()
		size, err := diskUsage(dir)
		if err == nil && size > limit {
			e.kill(stopDisk)
			return
		}
		timer.Reset(max(envelopeCheckInterval, time.Since(began)*diskWalkShare))
	}
}
