package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

func newReplayCommand() *cobra.Command {
	var f logFlags
	var until string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Show the economy's state as of a point in the log",
		Long: `Fold the log up to --until (a stream sequence or an RFC 3339 time; default: the
whole log) and print the state of the economy at that point: the totals and
every account.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := parseUntil(until)
			if err != nil {
				return exitError{2, err}
			}
			eco, err := foldEconomy(cmd, &f, b)
			if err != nil {
				return err
			}
			return printEconomy(cmd.OutOrStdout(), eco, asJSON)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&until, "until", "", "stop at this stream sequence or RFC 3339 time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// foldEconomy reads the log (or its prefix) into the economy fold. An
// invariant violation does not stop a replay: it is reported beside the
// state.
func foldEconomy(cmd *cobra.Command, f *logFlags, b bound) (*economy.Economy, error) {
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, f)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	eco := economy.New()
	err = readPrefix(ctx, n.Log(), b, progressWriter(), func(r events.Record) error {
		if err := eco.Apply(r); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "warning:", err)
		}
		return nil
	})
	return eco, err
}

// accountView is one account as the one-shot commands print it.
type accountView struct {
	AgentID   string        `json:"agent_id"`
	Status    string        `json:"status"`
	ParentID  string        `json:"parent_id,omitempty"`
	Balance   events.Micros `json:"balance_micros"`
	Held      events.Micros `json:"held_micros"`
	Available events.Micros `json:"available_micros"`
	OpenHolds int           `json:"open_holds"`
}

type economyView struct {
	Summary  economy.Summary `json:"summary"`
	Accounts []accountView   `json:"accounts"`
}

func viewOf(eco *economy.Economy) economyView {
	v := economyView{Summary: eco.Summary(), Accounts: []accountView{}}
	for _, a := range eco.Accounts {
		v.Accounts = append(v.Accounts, accountView{AgentID: a.ID, Status: string(a.Status), ParentID: a.ParentID,
			Balance: a.BalanceMicros, Held: a.HeldMicros, Available: a.Available(), OpenHolds: len(a.Holds)})
	}
	slices.SortFunc(v.Accounts, func(x, y accountView) int {
		if x.AgentID < y.AgentID {
			return -1
		}
		return 1
	})
	return v
}

func printEconomy(out io.Writer, eco *economy.Economy, asJSON bool) error {
	v := viewOf(eco)
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	printSummary(out, v.Summary)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTATUS\tBALANCE\tHELD\tAVAILABLE\tHOLDS")
	for _, a := range v.Accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", a.AgentID, a.Status, a.Balance, a.Held, a.Available, a.OpenHolds)
	}
	return tw.Flush()
}
