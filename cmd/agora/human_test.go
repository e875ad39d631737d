package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
)

// screen is a program running on a pseudo-terminal, its output drawn by
// a terminal emulator so that the test reads the screen as a person sees
// it, not the escape sequences that drew it.
type screen struct {
	t      *testing.T
	cmd    *exec.Cmd
	tty    *os.File
	term   *emulator
	waited chan struct{}
	err    error
}

// Its size: wide enough for the panes side by side.
const screenCols, screenRows = 140, 50

// startOnTerminal starts the agora binary with a pseudo-terminal as its
// standard input, output and error; the test's cleanup kills it if it
// still runs.
func startOnTerminal(t *testing.T, args ...string) *screen {
	t.Helper()
	cmd := exec.Command(agoraBinary(t), args...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: screenCols, Rows: screenRows})
	if err != nil {
		t.Fatal(err)
	}
	s := &screen{t: t, cmd: cmd, tty: tty, term: &emulator{e: vt.NewEmulator(screenCols, screenRows)}, waited: make(chan struct{})}
	// The emulator answers the program's queries (as a terminal does)
	// through its input pipe.
	go func() { _, _ = io.Copy(tty, s.term.e) }()
	go func() {
		_, _ = io.Copy(s.term, tty) // until the program ends and the pty closes
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.waited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.waited:
		default:
			_ = cmd.Process.Kill()
			<-s.waited
		}
		_ = tty.Close()
		// Ends the copy of the emulator's answers (Close would race with it).
		_ = s.term.e.InputPipe().(io.Closer).Close()
	})
	return s
}

// emulator is a terminal emulator the test reads while the program
// draws on it.
type emulator struct {
	mu sync.Mutex
	e  *vt.Emulator
}

func (e *emulator) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.e.Write(p)
}

// text is the screen as it is now, without colours.
func (s *screen) text() string {
	s.term.mu.Lock()
	defer s.term.mu.Unlock()
	return s.term.e.String()
}

// waitFor waits until the screen shows every one of want. The deadline
// only bounds a failure.
func (s *screen) waitFor(want ...string) {
	s.t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for {
		text := s.text()
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		select {
		case <-s.waited:
			s.t.Fatalf("agora ended (%v) before the screen showed %q; the screen:\n%s", s.err, missing, text)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the screen showed no %q within %s:\n%s", missing, commandTimeout, text)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// press types keys as the human does.
func (s *screen) press(keys string) {
	s.t.Helper()
	if _, err := io.WriteString(s.tty, keys); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits for the program to end and returns its exit code.
func (s *screen) exit() int {
	s.t.Helper()
	select {
	case <-s.waited:
	case <-time.After(commandTimeout):
		s.t.Fatalf("agora did not end within %s; the screen:\n%s", commandTimeout, s.text())
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	if s.err != nil {
		s.t.Fatal(s.err)
	}
	return 0
}

// quietConfig writes a configuration whose clearing waits an hour, so
// that the figures the screen shows move only when the test moves them.
func quietConfig(t *testing.T) string {
	t.Helper()
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(cfgFile, []byte("allocation:\n  schedule_seconds: 3600\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

// TestRunOnATerminalShowsTheHumansTerminal: `agora run` on a terminal
// shows the dashboard of its own economy instead of its logs (they go to
// <data>/agora.log); what the operator does appears on it; q stops the
// economy cleanly.
func TestRunOnATerminalShowsTheHumansTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy")
	}
	dir := filepath.Join(t.TempDir(), "data")
	s := startOnTerminal(t, "run", "--data", dir, "--config", quietConfig(t), "--nats-port", strconv.Itoa(freePort(t)),
		"--listen", "127.0.0.1:0")
	s.waitFor("the human's terminal", "Markets", "cpu_seconds", "price", "agents alive    1 of 1",
		"in circulation  1000 ", "genesis", "grant", "q quit (stops the economy)")

	mustRun(t, "agent", "fund", "genesis", "5", "--reason", "seen-on-the-screen", "--data", dir)
	s.waitFor("in circulation  1005 ", "seen-on-the-screen")

	s.press("q")
	if code := s.exit(); code != 0 {
		t.Fatalf("agora run exited %d after q; the screen:\n%s", code, s.text())
	}
	logs, err := os.ReadFile(filepath.Join(dir, runLogFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"economy running", "stopping: the human quit the terminal"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("%s has no %q:\n%s", runLogFile, want, logs)
		}
	}
	// Stopped cleanly: the log audits.
	mustRun(t, "audit", "--data", dir)
}

// TestHumanAcrossARestart: `agora human` shows a running economy, says
// so when it stops answering, and recovers by itself when it is back, on
// another port: it finds the new address in the data directory.
func TestHumanAcrossARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy twice")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := quietConfig(t)
	natsPort := strconv.Itoa(freePort(t))
	args := []string{"run", "--data", dir, "--config", cfgFile, "--nats-port", natsPort, "--listen", "127.0.0.1:0", "--headless"}
	run := startAgora(t, args...)
	first := apiURLIn(t, run.waitLine("running"))

	s := startOnTerminal(t, "human", "--data", dir, "--refresh", "100ms")
	s.waitFor(first, "Markets", "cpu_seconds", "in circulation  1000 ", "genesis", "q quit")
	stopRun(t, run)
	s.waitFor("economy not answering, retrying")

	run = startAgora(t, args...)
	second := apiURLIn(t, run.waitLine("running"))
	mustRun(t, "agent", "fund", "genesis", "5", "--reason", "after-the-restart", "--data", dir)
	s.waitFor("in circulation  1005 ", "after-the-restart")
	if text := s.text(); strings.Contains(text, "not answering") || (first != second && !strings.Contains(text, second)) {
		t.Fatalf("the screen after the restart (%s, then %s):\n%s", first, second, text)
	}
	s.press("q")
	if code := s.exit(); code != 0 {
		t.Fatalf("agora human exited %d after q", code)
	}
	stopRun(t, run)
}

// TestHumanBadInput: agora human without an economy's token, or with a
// bad flag, says what is wrong and exits before taking the screen.
func TestHumanBadInput(t *testing.T) {
	empty := t.TempDir()
	withToken := t.TempDir()
	if err := os.WriteFile(filepath.Join(withToken, "operator.token"), []byte(strings.Repeat("t", 43)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"human", "--data", empty}, 1, "no operator token"},
		{[]string{"human", "--data", empty, "--refresh", "1ms"}, 2, "--refresh 1ms"},
		{[]string{"human", "--data", empty, "--refresh", "2m"}, 2, "--refresh 2m0s"},
		{[]string{"human", "--data", empty, "--url", "ftp://x"}, 2, "not an http(s) URL"},
		{[]string{"human", "--data", empty, "--url", "http://127.0.0.1:1"}, 1, "no operator token"},
		{[]string{"human", "extra"}, 2, "unknown command"},
		// runAgora gives it pipes, not a terminal.
		{[]string{"human", "--data", withToken}, 2, "needs a terminal"},
	} {
		r := runAgora(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("agora %s: want exit %d and %q, got %s", strings.Join(c.args, " "), c.code, c.want, r)
		}
	}
}
