package web

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// OutputLogPath is where, in an agent's workspace, the sandbox keeps the
// tail of its latest execution's output (sandbox.OutputLogPath).
const OutputLogPath = ".agora/output.log"

// outputTail reads the last most bytes of the output log in the workspace
// dir. The workspace is the agent's to write: the file is opened through
// an os.Root (a symbolic link cannot lead out of the workspace), without
// blocking (a FIFO put in its place cannot hold the page), and read only
// if it is a regular file.
func outputTail(dir string, most int64) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.OpenFile(OutputLogPath, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", OutputLogPath)
	}
	off := max(0, st.Size()-most)
	return io.ReadAll(io.LimitReader(io.NewSectionReader(f, off, st.Size()-off), most))
}
