package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
)

func newStatusCommand() *cobra.Command {
	var f apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Headline figures of the economy: events, agents, credits minted, burned, in flight",
		Long: `Headline figures of the economy. With an economy running it asks its operator
API (--url, with the operator token of --data); otherwise it folds the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := status(cmd, &f)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printSummary(cmd.OutOrStdout(), s)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// status asks the running economy (GET /admin/status), or folds the log.
func status(cmd *cobra.Command, f *apiFlags) (economy.Summary, error) {
	c, _, err := f.operator(cmd)
	if err == nil {
		var s economy.Summary
		if err = c.get(cmd.Context(), "/admin/status", &s); err == nil {
			return s, nil
		}
	}
	if !errors.Is(err, errNoServer) {
		return economy.Summary{}, err
	}
	eco, err := foldEconomy(cmd, &f.logFlags, bound{})
	if err != nil {
		return economy.Summary{}, err
	}
	return eco.Summary(), nil
}

func newHistoryCommand() *cobra.Command {
	var f apiFlags
	var agentID string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Recent transactions of the economy, or of one agent with --agent",
		Long: `Recent transactions of the economy, newest first, or of one agent with
--agent. With an economy running it asks its operator API (--url, with the
operator token of --data); otherwise it folds the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > history.RecentLengthMax {
				return exitError{2, fmt.Errorf("--limit must be between 1 and %d", history.RecentLengthMax)}
			}
			if agentID != "" {
				if err := events.ValidateID(agentID); err != nil {
					return exitError{2, fmt.Errorf("--agent: %w", err)}
				}
			}
			txs, err := recentHistory(cmd, &f, agentID, limit)
			if err != nil {
				return err
			}
			if asJSON {
				if txs == nil {
					txs = []history.Transaction{}
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(txs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tAGENT\tKIND\tAMOUNT\tBALANCE\tCOUNTERPARTY\tREFERENCE")
			for _, t := range txs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Seq, t.Time.Format("2006-01-02 15:04:05"),
					t.AgentID, t.Kind, t.AmountMicros, t.BalanceAfterMicros, t.CounterpartyID, t.Reference)
			}
			return tw.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&agentID, "agent", "", "only this agent's transactions")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many transactions, newest first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// recentHistory asks the running economy (GET /admin/history), or folds
// the log.
func recentHistory(cmd *cobra.Command, f *apiFlags, agentID string, limit int) ([]history.Transaction, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if agentID != "" {
		q.Set("agent", agentID)
	}
	var answer struct {
		Transactions []operator.HistoryTransaction `json:"transactions"`
	}
	if ok, err := f.ask(cmd, "/admin/history?"+q.Encode(), &answer); err != nil {
		return nil, err
	} else if ok {
		txs := make([]history.Transaction, len(answer.Transactions))
		for i, t := range answer.Transactions {
			txs[i] = history.Transaction{Seq: t.Seq, Time: t.Time, EventID: t.EventID, Kind: history.Kind(t.Kind),
				AgentID: t.AgentID, CounterpartyID: t.CounterpartyID, AmountMicros: events.Micros(t.Amount),
				Reference: t.Reference, Memo: t.Memo, BalanceAfterMicros: events.Micros(t.BalanceAfter)}
		}
		return txs, nil
	}
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, &f.logFlags)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	st, err := history.NewState()
	if err != nil {
		return nil, err
	}
	// The directory tells an agent without transactions from one the log
	// never created.
	d := directory.New()
	if err := readPrefix(ctx, n.Log(), bound{}, progressWriter(), facts(func(r events.Record) error {
		if err := d.Apply(r); err != nil {
			return err
		}
		return history.Apply(st, r)
	})); err != nil {
		return nil, err
	}
	if agentID == "" {
		return st.Recent(limit), nil
	}
	if _, ok := d.Get(agentID); !ok {
		return nil, exitError{1, fmt.Errorf("no agent %s in the log", agentID)}
	}
	return st.ForAgent(agentID, limit), nil
}

func newConfigCommand() *cobra.Command {
	var f apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (defaults, then --config, then flags), validated",
		Long: `Print the effective configuration (defaults, then --config, then flags),
validated, as YAML that --config reads back, or with --json as JSON with the
same keys. The operator token, the inference API key and the NATS
password are redacted. With an economy running it prints that economy's
configuration, from its operator API (--url, with the operator token of
--data).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := effectiveConfig(cmd, &f)
			if err != nil {
				return err
			}
			render := cfg.YAML
			if asJSON {
				render = cfg.JSON
			}
			b, err := render()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// effectiveConfig is the running economy's configuration (GET
// /admin/config), or the one the flags describe; redacted either way.
func effectiveConfig(cmd *cobra.Command, f *apiFlags) (config.Config, error) {
	var raw json.RawMessage
	ok, err := f.ask(cmd, "/admin/config", &raw)
	if err != nil {
		return config.Config{}, err
	}
	if ok {
		// The JSON is the YAML tree written as JSON (config.JSON), which
		// YAML reads back as it is; it is the economy's own, valid already.
		var cfg config.Config
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			return config.Config{}, fmt.Errorf("the running economy's configuration: %w", err)
		}
		return cfg, nil
	}
	cfg, err := f.load(cmd)
	if err != nil {
		return cfg, exitError{2, err}
	}
	return cfg.Redacted(), nil
}
