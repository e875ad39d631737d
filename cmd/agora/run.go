package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/economy/lease"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/front/terminal"
)

func newRunCommand() *cobra.Command {
	var f logFlags
	var headless bool
	var listen string
	var workers bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the economy (embedded NATS and data in ./data by default)",
		Long: `Run the economy (SPEC.md 1.8): load the configuration (defaults, then
--config, then flags), start the embedded NATS server in the data directory
(or connect to --nats-url), recover every actor from the log; on a fresh log
create the genesis agent (its workspace from agents/genesis, its grant, its
program) and the markets, and place genesis's first bid (unless
economy.genesis is false: then no agent until the operator adds one with
agora agent add); then start the executor (which first runs again, with the
envelope it paid for, whatever a stop or a crash cut short), the clearing
schedule and the System Service, on the socket the sandboxes see and on
--listen. Stops cleanly on SIGINT or SIGTERM (a program running then runs
again at the next start). With --nats-url, several nodes may run on one
server: one holds the lease of the actors, the others wait as its standby
(printing "standby") and the first to see the lease lapse takes over,
within cluster.failover_seconds of the death; a node that loses the lease stops
at once and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err == nil && cmd.Flags().Changed("listen") {
				err = cfg.ApplyOverrides(config.Overrides{Listen: &listen})
			}
			if workers {
				cfg.Execution.Workers = true
			}
			if err != nil {
				return exitError{2, err}
			}
			// On a terminal the human's terminal takes the screen, and the
			// logs go to a file in the data directory.
			human := !headless && terminal.Attached(os.Stdin, os.Stdout)
			logs := io.Writer(os.Stderr)
			if human {
				f, err := openRunLog(cfg.Data.Dir)
				if err != nil {
					return err
				}
				defer f.Close()
				logs = f
			}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			if human {
				// What logs through the defaults (log, slog) goes to the
				// file too, not over the screen.
				slog.SetDefault(logger)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return run(ctx, cmd, cfg, logger, human)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&headless, "headless", false, "do not start the human's terminal interface")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port of the HTTP APIs (default 127.0.0.1:8080)")
	cmd.Flags().BoolVar(&workers, "workers", false, "leave the executions to agora worker processes (execution.workers)")
	return cmd
}

func run(ctx context.Context, cmd *cobra.Command, cfg config.Config, logger *slog.Logger, human bool) error {
	started := time.Now()
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{}, logger)
	if err != nil {
		return err
	}
	defer n.Close()
	// On a server of --nats-url another node may hold the actors: this one
	// waits as its standby until the lease lapses.
	lead, err := n.Lead(ctx, func(active lease.Holder) {
		fmt.Fprintf(cmd.OutOrStdout(), "agora: standby; the economy's actors are held by %s; this node takes over when its lease lapses (cluster.failover_seconds: %v)\n",
			active, cfg.Cluster.FailoverSeconds)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer lead.Release()
	eco, err := economy.Open(n)
	if err != nil {
		return err
	}
	defer eco.Stop()
	eco.StopWhenLost(lead)
	eco.Start()
	// Only the agents with work pending are loaded; the others wake when
	// a message needs them (economy.Resume).
	agents, err := eco.Resume(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	srv, err := eco.Serve(ctx)
	if errors.Is(err, economy.ErrStopped) {
		return nil
	}
	if err != nil {
		return err
	}
	// One-shot commands find the APIs here, whatever --listen was.
	apiURL := "http://" + srv.Addr.String()
	if err := os.WriteFile(filepath.Join(cfg.Data.Dir, apiURLFile), []byte(apiURL+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", apiURLFile, err)
	}
	defer removeIfOurs(filepath.Join(cfg.Data.Dir, apiURLFile), apiURL)
	lead.Announce(apiURL)
	tokenPath := srv.TokenPath
	if tokenPath == "" {
		tokenPath = "server.operator_token of the configuration"
	}
	ncfg := n.Config()
	natsUser := ncfg.Nats.User
	if ncfg.Nats.Credentials != "" {
		natsUser = "from " + ncfg.Nats.Credentials
	}
	if n.Embedded() {
		natsUser += " (password in " + filepath.Join(cfg.Data.Dir, natslog.PasswordFile) + ")"
		// One-shot commands read through this server while the directory is
		// locked; tell them where it is.
		if err := os.WriteFile(filepath.Join(cfg.Data.Dir, economy.URLFile), []byte(n.URL()+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", economy.URLFile, err)
		}
		defer os.Remove(filepath.Join(cfg.Data.Dir, economy.URLFile))
	}
	last, _ := n.Log().LastSeq(ctx)
	logger.Info("economy running",
		"nats", n.URL(), "nats_user", natsUser, "data", cfg.Data.Dir, "stream", cfg.Nats.Stream, "sync", cfg.Nats.Sync,
		"events", last, "agents_recovered", agents, "actors_awake", eco.Awake(), "http", srv.Addr.String(), "operator_token", tokenPath,
		"startup", time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(cmd.OutOrStdout(), "agora: running; events on %s (watch with: nats sub 'events.>' -s %s); APIs on http://%s; stop with Ctrl-C\n",
		n.URL(), n.URL(), srv.Addr)
	fmt.Fprintf(cmd.OutOrStdout(), "agora: the operator token is in %s\n", tokenPath)
	fmt.Fprintf(cmd.OutOrStdout(), "agora: the dashboard is at %s/ (log in with the operator token)\n", apiURL)
	if human {
		return runHuman(ctx, cfg, apiURL, srv.TokenPath, eco.Failed(), logger)
	}
	select {
	case <-ctx.Done():
		logger.Info("stopping")
		return nil
	case err := <-eco.Failed():
		return err
	}
}

// removeIfOurs removes the file that tells one-shot commands where the APIs
// are, unless another node has written its own there since: a node that
// lost the lease may stop after its successor wrote the shared data
// directory's file.
func removeIfOurs(path, apiURL string) {
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == apiURL {
		os.Remove(path)
	}
}
