package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/actors/executor/work"
	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events/natslog"
)

func newWorkerCommand() *cobra.Command {
	var f logFlags
	var concurrency int
	var id string
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run executions for an economy on another machine (--nats-url)",
		Long: `Run executions for an economy whose configuration has execution.workers
(docs/operations.md, "Execution workers"): take execution orders from the
economy's work queue on --nats-url, fetch each agent's workspace from the
JetStream object store, run its program in this machine's sandbox (bwrap
and python3 wanted here) with the envelope it paid for, serve it the
System Service by relaying its calls to the economy over NATS, write the
workspace back and report the result. --data holds the workspaces of the
programs running here, nothing more. NATS credentials come from --config
(nats.user and nats.password, or nats.credentials), as for agora run.
Stops on SIGINT or SIGTERM; the programs running then run again elsewhere
after execution.worker_ack_seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.load(cmd)
			if err == nil && cfg.Nats.Embedded() {
				err = errors.New("agora worker needs --nats-url (or nats.url): the economy's NATS server")
			}
			if err == nil && (concurrency < 1 || concurrency > work.ConcurrencyMax) {
				err = fmt.Errorf("--concurrency %d must be in 1..%d", concurrency, work.ConcurrencyMax)
			}
			if err != nil {
				return exitError{2, err}
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runWorker(ctx, cfg, concurrency, id, logger)
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&concurrency, "concurrency", work.ConcurrencyDefault, "programs run at once")
	cmd.Flags().StringVar(&id, "id", "", "the worker's name in results and logs (default: host name and process id)")
	return cmd
}

func runWorker(ctx context.Context, cfg config.Config, concurrency int, id string, logger *slog.Logger) error {
	nc, js, err := natslog.Connect(cfg.Nats.URL, workerConnectOptions(cfg, logger)...)
	if err != nil {
		return err
	}
	defer nc.Close()
	sb, warning, err := sandbox.New()
	if err != nil {
		return err
	}
	defer sb.Close()
	if warning != "" {
		logger.Warn("SANDBOX WEAKENED: " + warning)
	}
	w, err := work.NewWorker(work.WorkerConfig{Conn: nc, JS: js, Queue: work.Queue{}, Sandbox: sb,
		Dir: filepath.Join(cfg.Data.Dir, "worker"), ID: id, Concurrency: concurrency,
		Service: relay.Handler(nc, relay.SubjectDefault), Logger: logger})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// workerConnectOptions are those of agora run's connection (economy.Node):
// Agora's user, whose permissions cover the queue, and its inboxes.
func workerConnectOptions(cfg config.Config, logger *slog.Logger) []nats.Option {
	opts := []nats.Option{nats.Name("agora-worker"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		logger.Error("NATS", "err", err)
	})}
	switch {
	case cfg.Nats.User != "":
		opts = append(opts, nats.UserInfo(cfg.Nats.User, cfg.Nats.Password), nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	case cfg.Nats.Credentials != "":
		opts = append(opts, nats.UserCredentials(cfg.Nats.Credentials), nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	}
	return opts
}
