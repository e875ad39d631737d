package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/projections/economy"
)

// skippedList is what `agora skipped --json` prints (GET /admin/skipped).
type skippedList struct {
	Records        []economy.Skipped `json:"records"`
	Unacknowledged int               `json:"unacknowledged"`
}

func newSkippedCommand() *cobra.Command {
	var f apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "skipped",
		Short: "Records every follower of the log skips, and whether the operator acknowledged them",
		Long: `A record of the log that does not decode, or whose event would break its actor's
invariants (an overspend, a hold for an agent that never existed, a cycle cleared
twice), is skipped by the actors, the process managers, the executor, the read
models and the audit: it is no fact of the economy. Each is listed here with its
stream sequence, subject and reason until acknowledged (agora skipped ack SEQ);
until then agora status counts it and agora audit fails. With an economy
running it asks its operator API (--url); otherwise it folds the log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := skipped(cmd, &f)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(l)
			}
			return printSkipped(cmd.OutOrStdout(), l.Records)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(newSkippedAckCommand())
	return cmd
}

// skipped asks the running economy (GET /admin/skipped), or folds the log.
func skipped(cmd *cobra.Command, f *apiFlags) (skippedList, error) {
	c, _, err := f.operator(cmd)
	if err == nil {
		var l skippedList
		if err = c.get(cmd.Context(), "/admin/skipped", &l); err == nil {
			return l, nil
		}
	}
	if !errors.Is(err, errNoServer) {
		return skippedList{}, err
	}
	eco, err := foldEconomy(cmd, &f.logFlags, bound{})
	if err != nil {
		return skippedList{}, err
	}
	l := skippedList{Records: eco.SkippedRecords(), Unacknowledged: len(eco.Unacknowledged())}
	if l.Records == nil {
		l.Records = []economy.Skipped{}
	}
	return l, nil
}

func printSkipped(out io.Writer, records []economy.Skipped) error {
	if len(records) == 0 {
		_, err := fmt.Fprintln(out, "no skipped records")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tSUBJECT\tREASON\tACKNOWLEDGED\tDETAIL")
	for _, r := range records {
		ack := "no"
		if r.Acknowledged {
			ack = fmt.Sprintf("yes (seq %d)", r.AckSeq)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Seq, r.Subject, r.Reason, ack, r.Detail)
	}
	return tw.Flush()
}

func newSkippedAckCommand() *cobra.Command {
	var f apiFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "ack SEQ",
		Short: "Acknowledge a skipped record: status stops counting it, the audit passes over it",
		Long: `Records the operator's acknowledgement of the skipped record at stream sequence
SEQ as an event (record_acknowledged on events.system.records), written by the
running economy (it needs agora run). The record stays in the log, skipped.
Acknowledging a record twice changes nothing; a sequence that is not a skipped
record is refused.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seq, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil || seq == 0 {
				return exitError{2, fmt.Errorf("SEQ %q is not a stream sequence", args[0])}
			}
			c, _, err := f.operator(cmd)
			if err == nil {
				var r economy.Skipped
				err = c.request(cmd.Context(), "POST", fmt.Sprintf("/admin/skipped/%d/acknowledge", seq),
					map[string]string{"reason": reason}, &r)
				if err == nil {
					return printSkipped(cmd.OutOrStdout(), []economy.Skipped{r})
				}
			}
			if errors.Is(err, errNoServer) {
				return fmt.Errorf("%w: an acknowledgement is an event the running economy writes; start it (agora run)", err)
			}
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the record is accepted (kept in the event)")
	return cmd
}
