package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The black-box tests run the agora binary as a user does. It is built once,
// on first use, into a directory TestMain removes at the end.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// commandTimeout only keeps a broken build from hanging the test run; no
// test asserts on time.
const commandTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agora-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	closeBrowser()
	os.RemoveAll(dir)
	os.Exit(code)
}

// agoraBinary builds ./cmd/agora (not race-instrumented: the child only
// needs to be the real program) and returns its path.
func agoraBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		}
		binPath = filepath.Join(binDir, "agora")
		cmd := exec.Command(goTool, "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// result is a finished command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runAgora runs the binary to completion.
func runAgora(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, agoraBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("agora %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("agora %s did not finish within %s", strings.Join(args, " "), commandTimeout)
	}
	return r
}

// mustRun runs the binary and requires exit 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runAgora(t, args...)
	if r.code != 0 {
		t.Fatalf("agora %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// decodeJSON decodes a command's JSON output into v.
func decodeJSON(t *testing.T, r result, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("output is not the expected JSON: %v\n%s", err, r)
	}
}

// lockedBuffer collects a child's stderr while the test may read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is a running agora whose stdout is read line by line.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	lines  chan string // closed at the end of stdout
	stderr *lockedBuffer
	waited chan struct{}
	err    error // of Wait, once waited is closed
	// apiURL is where `agora run` serves its HTTP APIs (startRun).
	apiURL string
}

// startAgora starts the binary; the test's cleanup kills it if it is still
// running.
func startAgora(t *testing.T, args ...string) *process {
	t.Helper()
	return startAgoraIn(t, "", args...)
}

// startAgoraIn starts the binary in working directory dir ("" for the
// test's own).
func startAgoraIn(t *testing.T, dir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(agoraBinary(t), args...)
	cmd.Dir = dir
	p := &process{t: t, cmd: cmd, lines: make(chan string, 4096), stderr: &lockedBuffer{}, waited: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
		close(p.lines)
		p.err = cmd.Wait()
		close(p.waited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.waited:
		default:
			_ = cmd.Process.Kill()
			<-p.waited
		}
	})
	return p
}

// waitLine reads stdout until a line contains want; it fails if the
// process ends first.
func (p *process) waitLine(want string) string {
	p.t.Helper()
	timeout := time.After(commandTimeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.waited
				p.t.Fatalf("agora ended (%v) before printing %q; stderr:\n%s", p.err, want, p.stderr)
			}
			if strings.Contains(line, want) {
				return line
			}
		case <-timeout:
			p.t.Fatalf("agora printed no %q within %s; stderr:\n%s", want, commandTimeout, p.stderr)
		}
	}
}

// signal sends sig and returns the exit code once the process has ended.
func (p *process) stop(sig syscall.Signal) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		for range p.lines { // keep stdout flowing until the end
		}
	}()
	select {
	case <-p.waited:
	case <-time.After(commandTimeout):
		p.t.Fatalf("agora did not stop within %s after %s; stderr:\n%s", commandTimeout, sig, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// freePort returns a TCP port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
