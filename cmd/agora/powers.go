package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
)

// The operator's powers (SPEC.md 3.1): agora agent add|fund|bid|kill, each
// one call of the running economy's operator API (docs/api.md).

// powerFlags are the flags the four commands share.
type powerFlags struct {
	apiFlags
	key    string
	asJSON bool
}

func (f *powerFlags) register(cmd *cobra.Command) {
	f.apiFlags.register(cmd)
	cmd.Flags().StringVar(&f.key, "idempotency-key", "", "the command's Idempotency-Key: the same command sent again with it applies once (default: a fresh one)")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the API's answer as JSON")
}

// call sends one command to the running economy's operator API.
func (f *powerFlags) call(cmd *cobra.Command, path string, body, out any) error {
	key := f.key
	if key == "" {
		key = "cli-" + events.NewID()
	} else if err := events.ValidateKey(key); err != nil || len(key) > operator.IdempotencyKeyLengthMax {
		return exitError{2, fmt.Errorf("--idempotency-key: 1 to %d of A-Z a-z 0-9 - _ = . /", operator.IdempotencyKeyLengthMax)}
	}
	c, _, err := f.operator(cmd)
	if err == nil {
		err = c.post(cmd.Context(), path, key, body, out)
	}
	if errors.Is(err, errNoServer) {
		return exitError{1, errors.New("no running economy answers (start one with agora run, or give its --url and --data)")}
	}
	return err
}

// print writes the answer as JSON with --json, else line.
func (f *powerFlags) print(cmd *cobra.Command, answer any, line string) error {
	if f.asJSON {
		return printJSON(cmd.OutOrStdout(), answer)
	}
	_, err := fmt.Fprintln(cmd.OutOrStdout(), line)
	return err
}

// agentArg checks the agent id of a command's arguments.
func agentArg(id string) error {
	if err := events.ValidateID(id); err != nil {
		return exitError{2, fmt.Errorf("agent id: %w", err)}
	}
	return nil
}

func newAgentAddCommand() *cobra.Command {
	var f powerFlags
	var command, grant, bid, payload, id string
	cmd := &cobra.Command{
		Use:   "add DIR --command CMD --grant N [--bid SPEC]",
		Short: "Add an agent to the running economy: its program from DIR, a grant (minted), a first bid",
		Long: `Add an agent to the running economy (POST /admin/agents): its workspace is
every regular file under DIR (at most 256 files, 1 MiB each, 8 MiB in all,
UTF-8 text; symbolic links and special files are refused), its program is
--command, run from the workspace at every execution, and its account gets
--grant credits, minted.

--command is a JSON array of strings ('["python3", "main.py", "--mode", "a b"]')
or words separated by spaces ("python3 main.py").

--bid places the agent's first bid from its grant:
  --bid 'cpu_seconds=1,memory_mb=64,tokens=500,amount=20'
amount is the credits offered; every other name is a resource's units.
--payload is handed to the execution the bid wins. Without a first bid the
agent runs only once someone bids for it (agora agent bid).`,
		Example: `  agora agent add ./momentum --command "python3 main.py" --grant 50 --bid cpu_seconds=1,memory_mb=64,amount=10`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := addBody(cmd, args[0], command, grant, bid, payload, id)
			if err != nil {
				return exitError{2, err}
			}
			var out struct {
				AgentID string `json:"agent_id"`
			}
			if err := f.call(cmd, "/admin/agents", body, &out); err != nil {
				return err
			}
			line := fmt.Sprintf("added agent %s (%d files, grant %s", out.AgentID, len(body["files"].(map[string]string)), body["grant"])
			if bid != "" {
				line += fmt.Sprintf(", first bid of %s", body["initial_bid"].(map[string]any)["amount"])
			}
			return f.print(cmd, out, line+")")
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&command, "command", "", "the program and its arguments, run from the workspace (required)")
	cmd.Flags().StringVar(&grant, "grant", "", "credits minted to the new agent (required)")
	cmd.Flags().StringVar(&bid, "bid", "", "the first bid: resource=units,...,amount=credits")
	cmd.Flags().StringVar(&payload, "payload", "", "the first bid's payload (with --bid)")
	cmd.Flags().StringVar(&id, "id", "", "the new agent's id (default: op- and a fresh id)")
	return cmd
}

// addBody is POST /admin/agents from the command line, checked as far as
// the command line can tell.
func addBody(cmd *cobra.Command, dir, command, grant, bid, payload, id string) (map[string]any, error) {
	if !cmd.Flags().Changed("command") {
		return nil, errors.New("--command is required: the program to run, e.g. --command \"python3 main.py\"")
	}
	if !cmd.Flags().Changed("grant") {
		return nil, errors.New("--grant is required: the credits minted to the new agent")
	}
	if payload != "" && bid == "" {
		return nil, errors.New("--payload goes with --bid")
	}
	args, err := operator.SplitCommand(command)
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	amount, err := positiveCredits("--grant", grant)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"command": args, "grant": json.Number(amount.String())}
	if id != "" {
		if err := events.ValidateID(id); err != nil {
			return nil, fmt.Errorf("--id: %w", err)
		}
		body["agent_id"] = id
	}
	if cmd.Flags().Changed("bid") {
		spec, err := operator.ParseBidSpec(bid)
		if err != nil {
			return nil, fmt.Errorf("--bid: %w", err)
		}
		spec.Payload = payload
		body["initial_bid"] = spec.Body()
	}
	files, err := operator.ReadFolder(dir)
	if err != nil {
		return nil, err
	}
	body["files"] = files
	return body, nil
}

// positiveCredits reads a positive amount of credits, exactly.
func positiveCredits(name, s string) (events.Micros, error) {
	m, err := events.ParseCredits(s)
	if err == nil {
		err = events.ValidatePositive(m)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

func newAgentFundCommand() *cobra.Command {
	var f powerFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "fund ID N",
		Short: "Grant N credits (minted) to a living agent",
		Long: `Grant N credits to a living agent of the running economy (POST
/admin/agents/{id}/fund): they are minted, like a creation's grant, and
recorded as credits_granted in the agent's history. N is positive, with at
most 6 decimals; the agent's balance may not pass 1e12 credits.`,
		Example: "  agora agent fund momentum-2 25 --reason 'seed money'",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentArg(args[0]); err != nil {
				return err
			}
			amount, err := positiveCredits("amount", args[1])
			if err != nil {
				return exitError{2, err}
			}
			body := map[string]any{"amount": json.Number(amount.String())}
			if reason != "" {
				body["reason"] = reason
			}
			var out operator.FundAgentOutput
			if err := f.call(cmd, "/admin/agents/"+args[0]+"/fund", body, &out.Body); err != nil {
				return err
			}
			return f.print(cmd, out.Body, fmt.Sprintf("granted %s credits to %s (%s)", out.Body.Amount, out.Body.AgentID, out.Body.Reason))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "recorded with the grant (default \"operator\")")
	return cmd
}

func newAgentBidCommand() *cobra.Command {
	var f powerFlags
	var payload string
	cmd := &cobra.Command{
		Use:   "bid ID SPEC",
		Short: "Place a bid on an agent's behalf, paid from its own credits",
		Long: `Place a bid for a living agent of the running economy (POST
/admin/agents/{id}/bids), the way the agent's own POST /market/bid does:
the book checks the bundle and the reserve price, then the agent's credits
are held. SPEC is
  cpu_seconds=1,memory_mb=64,tokens=500,amount=20
amount is the credits offered (at most the agent's available credits);
every other name is a resource's units. --payload is handed to the
execution the bid wins.`,
		Example: "  agora agent bid momentum-2 cpu_seconds=1,memory_mb=64,amount=10",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentArg(args[0]); err != nil {
				return err
			}
			spec, err := operator.ParseBidSpec(args[1])
			if err != nil {
				return exitError{2, err}
			}
			spec.Payload = payload
			var out operator.AgentBidOutput
			if err := f.call(cmd, "/admin/agents/"+args[0]+"/bids", spec.Body(), &out.Body); err != nil {
				return err
			}
			return f.print(cmd, out.Body, fmt.Sprintf("bid %s for %s: %s", out.Body.BidID, out.Body.AgentID, out.Body.Status))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&payload, "payload", "", "handed to the execution the bid wins")
	return cmd
}

func newAgentKillCommand() *cobra.Command {
	var f powerFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "kill ID",
		Short: "Kill an agent: its program stops, its bids leave the book, its credits are burned",
		Long: `Kill an agent of the running economy (POST /admin/agents/{id}/kill): it
dies now, with the reason "killed by the operator" (and --reason after it);
a program it runs is killed, its holds are voided (its bids leave the
book) and its balance is burned.`,
		Example: "  agora agent kill momentum-2 --reason 'spamming the human'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentArg(args[0]); err != nil {
				return err
			}
			var body any
			if reason != "" {
				body = map[string]any{"reason": reason}
			}
			var out operator.KillAgentOutput
			if err := f.call(cmd, "/admin/agents/"+args[0]+"/kill", body, &out.Body); err != nil {
				return err
			}
			return f.print(cmd, out.Body, fmt.Sprintf("killed %s (%s): %s credits burned, %d holds voided",
				out.Body.AgentID, out.Body.Reason, out.Body.Burned, len(out.Body.VoidedHolds)))
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded after \"killed by the operator: \"")
	return cmd
}

// agentSubcommands are the operator's powers under `agora agent`. An
// agent whose id is one of their names (add, fund, bid, kill) is shown by
// `agora agents`, not `agora agent <id>`.
func agentSubcommands() []*cobra.Command {
	return []*cobra.Command{newAgentAddCommand(), newAgentFundCommand(), newAgentBidCommand(), newAgentKillCommand()}
}
