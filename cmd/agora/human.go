package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/front/terminal"
)

func newHumanCommand() *cobra.Command {
	var f apiFlags
	var refresh time.Duration
	cmd := &cobra.Command{
		Use:   "human",
		Short: "The human's terminal: the dashboard of a running economy and the rating of its active prompt",
		Long: `The human's terminal (docs/operations.md, "Being the human"): the markets with
their utilization and prices, the agents alive, the credits in circulation,
the recent activity, the attention queue, and the prompt in front of the
human, rated with keys (shown at the bottom of the screen). It asks the
running economy's operator API (--url, with the operator token of --data)
every --refresh, and keeps asking while the economy does not answer (a
restart, say): the screen says so and recovers by itself.`,
		Example: `  agora human
  agora human --url http://10.0.0.5:8080 --data ./data --refresh 250ms`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if refresh < 50*time.Millisecond || refresh > time.Minute {
				return exitError{2, fmt.Errorf("--refresh %s: between 50ms and 1m", refresh)}
			}
			c, cfg, err := f.operator(cmd)
			if errors.Is(err, errNoServer) {
				return exitError{1, errors.New("no operator token in the data directory: start the economy (agora run) first, or give --data of the economy, or --url and server.operator_token")}
			}
			if err != nil {
				return err
			}
			client, err := terminal.NewClient(c.base, c.token)
			if err != nil {
				return exitError{2, err}
			}
			if !terminal.Attached(os.Stdin, os.Stdout) {
				return exitError{2, errors.New("agora human needs a terminal (its standard input and output); for a script, agora status, agents, markets and history print the same figures")}
			}
			if !c.explicit {
				// An economy restarted on another port writes its new
				// address in the data directory: follow it there.
				urlFile := filepath.Join(cfg.Data.Dir, apiURLFile)
				client.Locate(func() string {
					b, _ := os.ReadFile(urlFile)
					return strings.TrimSpace(string(b))
				})
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return terminal.Run(ctx, client, terminal.Options{Refresh: refresh}, os.Stdin, cmd.OutOrStdout())
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&refresh, "refresh", terminal.RefreshDefault, "how often the economy is asked")
	return cmd
}

// runLogFile is where `agora run` writes its logs while the human's
// terminal has the screen.
const runLogFile = "agora.log"

// openRunLog opens the log file of `agora run` in the data directory, to
// append.
func openRunLog(dataDir string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dataDir, runLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// runHuman shows the human's terminal of the economy this process serves
// at apiURL, over its own operator API (the same interface as agora
// human), until the human quits, a signal comes or the economy fails;
// quitting the terminal stops the economy, as Ctrl-C does.
func runHuman(ctx context.Context, cfg config.Config, apiURL, tokenPath string, failed <-chan error, logger *slog.Logger) error {
	token := cfg.Server.OperatorToken
	if token == "" {
		b, err := os.ReadFile(tokenPath)
		if err != nil {
			return fmt.Errorf("read the operator token: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	client, err := terminal.NewClient(apiURL, token)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- terminal.Run(tctx, client, terminal.Options{Title: "· logs in " + filepath.Join(cfg.Data.Dir, runLogFile),
			Quit: "quit (stops the economy)"}, os.Stdin, os.Stdout)
	}()
	select {
	case err := <-done:
		logger.Info("stopping: the human quit the terminal")
		return err
	case <-ctx.Done():
		logger.Info("stopping")
		cancel()
		<-done
		return nil
	case err := <-failed:
		cancel()
		<-done
		return err
	}
}
