package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/cmd/agora/config"
	"github.com/agora-econ/agora/events/natslog"
)

func newRunCommand() *cobra.Command {
	var f logFlags
	var headless bool
	var listen string
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
again at the next start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err == nil && cmd.Flags().Changed("listen") {
				err = cfg.ApplyOverrides(config.Overrides{Listen: &listen})
			}
			if err != nil {
				return exitError{2, err}
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			_ = headless // the human's terminal joins with the attention slot
			return run(ctx, cmd, cfg, logger)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&headless, "headless", false, "do not start the human's terminal interface")
	cmd.Flags().StringVar(&listen, "listen", "", "host:port of the HTTP APIs (default 127.0.0.1:8080)")
	return cmd
}

func run(ctx context.Context, cmd *cobra.Command, cfg config.Config, logger *slog.Logger) error {
	started := time.Now()
	n, err := openNode(ctx, cfg, nodeOptions{}, logger)
	if err != nil {
		return err
	}
	defer n.close()
	eco, err := startEconomyForRecovery(n)
	if err != nil {
		return err
	}
	// The sandbox's control groups go once the executor has stopped.
	closeSandbox := func() {}
	defer func() { closeSandbox() }()
	defer eco.stop()
	agents, err := eco.recoverAll(ctx, 16)
	if err != nil {
		return err
	}
	eco.startReadModels()
	x, err := openExecutions(cfg.Data.Dir, logger)
	if err != nil {
		return err
	}
	closeSandbox = x.sandbox.Close
	// Genesis first: on a fresh log it is event 1, the economy's origin.
	// Without it (economy.genesis: false) the economy starts with no
	// agent, and the operator adds them (agora agent add).
	genesis := cfg.Economy.Genesis
	if genesis {
		if err := x.createGenesis(ctx, eco, logger); err != nil {
			return err
		}
	} else {
		logger.Info("economy.genesis is false: no genesis agent is created; add agents with agora agent add")
	}
	if err := eco.configureMarkets(ctx); err != nil {
		return fmt.Errorf("configure markets: %w", err)
	}
	if genesis {
		if err := x.placeGenesisFirstBid(ctx, eco, logger); err != nil {
			return err
		}
	}
	svc, err := eco.systemService(x.tickets, logger)
	if err != nil {
		return err
	}
	if err := x.serveSocket(eco, svc.Handler()); err != nil {
		return err
	}
	ex, err := x.executor(eco, logger)
	if err != nil {
		return err
	}
	// What a stop or a crash left running runs again: its lease is renewed
	// before the schedule's first cycle could find it timed out over the
	// time the economy was down. Then the executor runs those again first,
	// and what the cycles allocate.
	if err := ex.Recover(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	eco.background(eco.ctx, "clearing schedule", eco.scheduler().Run)
	eco.background(eco.ctx, "executor", ex.Run)
	token, tokenPath, err := operator.LoadOrCreateToken(cfg.Data.Dir, cfg.Server.OperatorToken)
	if err != nil {
		return err
	}
	op, err := eco.operatorAPI(creator{eco: eco, workspaces: x.workspaces}, token, logger)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("server.listen: %w", err)
	}
	eco.serveHTTP("http server", ln, apis(svc.Handler(), op))
	// One-shot commands find the APIs here, whatever --listen was.
	apiURL := "http://" + ln.Addr().String()
	if err := os.WriteFile(filepath.Join(cfg.Data.Dir, apiURLFile), []byte(apiURL+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", apiURLFile, err)
	}
	defer os.Remove(filepath.Join(cfg.Data.Dir, apiURLFile))
	if tokenPath == "" {
		tokenPath = "server.operator_token of the configuration"
	}
	natsUser := n.cfg.Nats.User
	if n.cfg.Nats.Credentials != "" {
		natsUser = "from " + n.cfg.Nats.Credentials
	}
	if n.srv != nil {
		natsUser += " (password in " + filepath.Join(cfg.Data.Dir, natslog.PasswordFile) + ")"
		// One-shot commands read through this server while the directory is
		// locked; tell them where it is.
		if err := os.WriteFile(filepath.Join(cfg.Data.Dir, urlFile), []byte(n.url+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", urlFile, err)
		}
		defer os.Remove(filepath.Join(cfg.Data.Dir, urlFile))
	}
	last, _ := n.log.LastSeq(ctx)
	logger.Info("economy running",
		"nats", n.url, "nats_user", natsUser, "data", cfg.Data.Dir, "stream", cfg.Nats.Stream, "sync", cfg.Nats.Sync,
		"events", last, "agents_recovered", agents, "http", ln.Addr().String(), "operator_token", tokenPath,
		"startup", time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(cmd.OutOrStdout(), "agora: running; events on %s (watch with: nats sub 'events.>' -s %s); APIs on http://%s; stop with Ctrl-C\n",
		n.url, n.url, ln.Addr())
	fmt.Fprintf(cmd.OutOrStdout(), "agora: the operator token is in %s\n", tokenPath)
	select {
	case <-ctx.Done():
		logger.Info("stopping")
		return nil
	case err := <-eco.Failed():
		return err
	}
}
