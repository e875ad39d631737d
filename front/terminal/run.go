// Package terminal is the human's terminal (SPEC.md 3.1): the dashboard
// of a running economy (its markets with their utilization and prices,
// the agents alive, the credits in circulation, the recent activity, the
// attention queue) and the rating of the prompt in front of the human.
// It is a client of the operator API, asked every Options.Refresh, so it
// works the same against an economy in this process (`agora run` on a
// terminal), on this machine or on another (`agora human --url`), and
// keeps working across a restart of the economy.
package terminal

import (
	"context"
	"errors"
	"io"
	"os"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
)

// Run shows the terminal on in and out until the human quits (q or
// ctrl+c) or ctx ends; both end it without error.
func Run(ctx context.Context, eco Economy, opts Options, in io.Reader, out io.Writer) error {
	p := tea.NewProgram(NewModel(eco, opts), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out))
	_, err := p.Run()
	// A context ended or an interrupt (SIGINT) is the way out too.
	if errors.Is(err, tea.ErrInterrupted) || (errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil) {
		return nil
	}
	return err
}

// Attached says whether in and out are both a terminal: a person can see
// the screen and press keys. `agora run` shows the terminal only then.
func Attached(in, out *os.File) bool {
	return term.IsTerminal(in.Fd()) && term.IsTerminal(out.Fd())
}
