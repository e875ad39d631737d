package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
)

// agentsPageMax is the page the listing asks the API for.
const agentsPageMax = 1000

func newAgentsCommand() *cobra.Command {
	var f apiFlags
	var asJSON, tree bool
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "Every agent, dead or alive: status, credits, executions; --tree: the family tree",
		Long: `List every agent: status, balance, held, credits earned and spent, executions.
With an economy running it asks its operator API (--url, with the operator
token of --data); otherwise it folds the log of --data.

--tree prints the family tree instead: the agents with no parent at the
left, in order of creation, and under each agent the agents it spawned,
indented, in order of creation; each line gives the id, the status (dead
agents too) and the balance. With --json the tree is nested JSON: a list
of roots, each {agent_id, status, balance, parent_id, created_seq,
children: [...]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := agentsList(cmd, &f)
			if err != nil {
				return err
			}
			if tree {
				roots := familyTree(list)
				if asJSON {
					return printJSON(cmd.OutOrStdout(), roots)
				}
				return printTree(cmd.OutOrStdout(), roots)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			return printAgents(cmd.OutOrStdout(), list)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&tree, "tree", false, "print the family tree: each agent's children indented under it")
	return cmd
}

func newAgentCommand() *cobra.Command {
	var f apiFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "agent <id>",
		Short: "One agent's record; agent add|fund|bid|kill: the operator's powers",
		Long: `Show one agent's record. With an economy running it asks its operator API
(--url, with the operator token of --data); otherwise it folds the log of --data.

The operator's powers over the running economy's agents are its
subcommands: agora agent add DIR, agora agent fund ID N, agora agent bid
ID SPEC, agora agent kill ID (see agora agent <subcommand> --help).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := events.ValidateID(id); err != nil {
				return exitError{2, fmt.Errorf("agent id: %w", err)}
			}
			rec, err := getAgent(cmd, &f, id)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rec)
			}
			return printAgent(cmd.OutOrStdout(), rec)
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(agentSubcommands()...)
	return cmd
}

// agentsList asks the running economy, or folds the log.
func agentsList(cmd *cobra.Command, f *apiFlags) ([]operator.AgentSummary, error) {
	c, _, err := f.operator(cmd)
	if err == nil {
		var all []operator.AgentSummary
		cursor := ""
		for {
			var page struct {
				Agents     []operator.AgentSummary `json:"agents"`
				NextCursor string                  `json:"next_cursor"`
			}
			q := url.Values{"limit": {strconv.Itoa(agentsPageMax)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			if err = c.get(cmd.Context(), "/admin/agents?"+q.Encode(), &page); err != nil {
				break
			}
			all = append(all, page.Agents...)
			if cursor = page.NextCursor; cursor == "" {
				return all, nil
			}
		}
	}
	if !errors.Is(err, errNoServer) {
		return nil, err
	}
	d, err := foldDirectory(cmd, &f.logFlags)
	if err != nil {
		return nil, err
	}
	var out []operator.AgentSummary
	for after := ""; ; {
		page := d.List(after, agentsPageMax)
		for _, s := range page {
			out = append(out, operator.SummaryOf(s))
		}
		if len(page) < agentsPageMax {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// getAgent asks the running economy, or folds the log.
func getAgent(cmd *cobra.Command, f *apiFlags, id string) (operator.AgentRecord, error) {
	c, _, err := f.operator(cmd)
	if err == nil {
		var rec operator.AgentRecord
		if err = c.get(cmd.Context(), "/admin/agents/"+id, &rec); err == nil {
			return rec, nil
		}
	}
	if !errors.Is(err, errNoServer) {
		return operator.AgentRecord{}, err
	}
	d, err := foldDirectory(cmd, &f.logFlags)
	if err != nil {
		return operator.AgentRecord{}, err
	}
	a, ok := d.Get(id)
	if !ok {
		return operator.AgentRecord{}, exitError{1, fmt.Errorf("no agent %s in the log", id)}
	}
	return operator.RecordOf(a), nil
}

// foldDirectory builds the directory read model from the whole log.
func foldDirectory(cmd *cobra.Command, f *logFlags) (*directory.View, error) {
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, f)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	d := directory.New()
	err = readPrefix(ctx, n.Log(), bound{}, progressWriter(), facts(d.Apply))
	return d, err
}

func printAgents(out io.Writer, list []operator.AgentSummary) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tSTATUS\tBALANCE\tHELD\tEARNED\tSPENT\tEXECUTIONS\tLAST EXECUTION")
	for _, a := range list {
		last := "-"
		if a.LastExecutionAt != nil {
			last = a.LastExecutionAt.Format("2006-01-02T15:04:05Z07:00")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.AgentID, a.Status, credits(a.Balance), credits(a.Held),
			credits(a.Earned), credits(a.Spent), a.ExecutionCount, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d agents\n", len(list))
	return nil
}

func printAgent(out io.Writer, r operator.AgentRecord) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agent\t%s\n", r.AgentID)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	parent := r.ParentID
	if parent == "" {
		parent = "- (created by " + cmp.Or(r.CreationReason, "the system") + ")"
	}
	fmt.Fprintf(tw, "parent\t%s\n", parent)
	if r.ParentID != "" {
		fmt.Fprintf(tw, "lineage\t%s (nearest first)\n", strings.Join(r.Lineage, ", "))
	}
	fmt.Fprintf(tw, "children\t%s\n", childrenText(r))
	fmt.Fprintf(tw, "command\t%v\n", r.Command)
	fmt.Fprintf(tw, "created\t%s (%s)\n", r.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), r.CreationReason)
	if r.DiedAt != nil {
		fmt.Fprintf(tw, "died\t%s (%s)\n", r.DiedAt.Format("2006-01-02T15:04:05Z07:00"), r.DeathReason)
		fmt.Fprintf(tw, "burned at death\t%s (what was left of its balance: lost, not spent)\n", credits(r.DeathBurned))
	}
	fmt.Fprintf(tw, "balance\t%s (held %s, available %s)\n", credits(r.Balance), credits(r.Held), credits(r.Available))
	fmt.Fprintf(tw, "earned\t%s (grants %s, transfers received %s)\n", credits(r.Earned.Total), credits(r.Earned.Grant),
		credits(r.Earned.TransfersReceived))
	fmt.Fprintf(tw, "spent\t%s\n", credits(r.Spent.Total))
	fmt.Fprintf(tw, "bids\t%d placed, %d won\n", r.BidsPlaced, r.BidsWon)
	fmt.Fprintf(tw, "executions\t%d (%d running)\n", r.ExecutionCount, r.ExecutionsRunning)
	if e := r.LastExecution; e != nil {
		fmt.Fprintf(tw, "last execution\t%s started %s", e.ExecutionID, e.StartedAt.Format("2006-01-02T15:04:05Z07:00"))
		if e.Cause != "" {
			fmt.Fprintf(tw, ", %s", e.Cause)
			if e.ExitCode != nil {
				fmt.Fprintf(tw, " (exit %d)", *e.ExitCode)
			}
			fmt.Fprintf(tw, "; used %d ms of CPU, %d KiB of memory at most, %d inference tokens", e.CPUMillis,
				e.MemoryPeakKB, e.TokensUsed)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// childrenText is an agent's children for its text view: their count,
// then their ids in order of creation (as many as its record lists).
func childrenText(r operator.AgentRecord) string {
	if r.ChildrenCount == 0 {
		return "none"
	}
	text := fmt.Sprintf("%d: %s", r.ChildrenCount, strings.Join(r.Children, ", "))
	if more := r.ChildrenCount - len(r.Children); more > 0 {
		text += fmt.Sprintf(" and %d more (agora agents --tree lists them all)", more)
	}
	return text
}

// credits prints an amount of the API (micro-credits) in credits.
func credits[T ~int64](m T) string { return events.Micros(m).String() }
