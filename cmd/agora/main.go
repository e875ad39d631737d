// Command agora runs and inspects an economy of autonomous agents. It holds
// the commands, their flags and their output, and the wiring of one process
// (signals, logs, the files one-shot commands read); the economy itself is
// wired by package economy, the composition root.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status (audit violations use 1, usage
// errors 2).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func main() {
	root := newRootCommand()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "agora:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "agora",
		Short:         "An economy for autonomous software agents",
		Long:          "agora runs an economy in which agents hold credits, bid for resources and attention, pay and message each other, and die when they can no longer pay. Every fact is an event in a NATS JetStream log.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// A bad flag is a usage error like a bad value: exit 2.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitError{2, err} })
	root.AddCommand(newRunCommand(), newAuditCommand(), newReplayCommand(), newStatusCommand(), newAgentsCommand(), newAgentCommand(),
		newHistoryCommand(), newMarketsCommand(), newBidsCommand(), newConfigCommand(), newBenchCommand(), newLoadCommand(),
		newSkippedCommand(), newHumanCommand(), newWorkerCommand())
	return root
}
