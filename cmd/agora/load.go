package main

import (
	"context"
	"errors"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/bench"
)

func newLoadCommand() *cobra.Command {
	var f logFlags
	var o bench.LoadOptions
	cmd := &cobra.Command{
		Use:    "load",
		Short:  "Drive random transfers through the economy (load and crash testing)",
		Hidden: true,
		Long: `Drive random transfers through the economy in the data directory (or through
--nats-url), for load and crash testing.

It opens the log (the embedded server listens on a random port, so it does not
take the economy's client port), recovers every agent, creates the agents
load-0000 ... load-<N-1> with --grant credits each if they do not exist yet, then
sends --transfers transfers of small random exact amounts (at most 1/100 of the
grant) between random distinct agents from --concurrency goroutines. Each
transfer has a fresh id, which is also its idempotency key.

Standard output has one line per transfer, written as soon as its outcome is
known:

  ack <transfer_id>           the account acknowledged it: it is durable
  rej <transfer_id> <reason>  refused (insufficient credits); nothing recorded
  fail <transfer_id> <reason> no confirmed outcome (log unavailable, interrupted)

At the end it waits until the transfer manager has settled every transfer
(credited the recipients), then prints a summary on standard error: transfers
acknowledged, rejected, elapsed time and transfers per second. Progress is shown
on standard error once a second when it is a terminal.

A process killed at any point (kill -9) loses no acknowledged transfer and
applies none twice: the next start recovers and settles what was in flight,
which ` + "`agora audit`" + ` confirms.`,
		Example: `  agora load --data /tmp/load --agents 1000 --transfers 20000
  agora load --data /tmp/load --sync interval --concurrency 128 --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := o.Plan(cmd.Flags().Changed("seed"))
			if err != nil {
				return exitError{2, err}
			}
			cfg, err := f.load(cmd)
			if err != nil {
				return exitError{2, err}
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
			n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, logger)
			if err != nil {
				return err
			}
			defer n.Close()
			eco, err := economy.Open(n)
			if err != nil {
				return err
			}
			defer eco.Stop()
			eco.Start()
			err = bench.NewLoader(p, eco, cmd.OutOrStdout(), cmd.ErrOrStderr(), progressWriter()).Run(ctx)
			var unconfirmed bench.UnconfirmedError
			switch {
			case errors.Is(err, bench.ErrInterrupted):
				return exitError{130, err} // as a shell reports a process ended by SIGINT
			case errors.As(err, &unconfirmed):
				return exitError{1, err}
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().IntVar(&o.Agents, "agents", 100, "number of agents (load-0000 ...), created if missing")
	cmd.Flags().IntVar(&o.Transfers, "transfers", 10000, "number of transfers to send")
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 64, "transfers in flight at once")
	cmd.Flags().StringVar(&o.Grant, "grant", "1000", "credits granted (minted) to each agent it creates")
	cmd.Flags().Int64Var(&o.Seed, "seed", 0, "seed of the random choices of agents and amounts (default: random, printed in the summary)")
	return cmd
}
