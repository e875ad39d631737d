package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/projections/economy"
)

func newAuditCommand() *cobra.Command {
	var f logFlags
	var until string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Replay the whole log and check every invariant at every event",
		Long: `Replay the log from its first event through the same fold functions the actors
use, checking after every event: conservation of credits (sum of balances + in
flight = minted - burned, exact to the micro-credit), no negative balance, held
or available, held <= balance, every hold and every transfer resolved at most
once, dead agents never act, at most one prompt in front of the human and
each prompt rewarded at most once, for what the response earned (SPEC.md 4,
invariant 5); and every actor's hash chain: each event names
the hash of the actor's event before it, so a record edited, deleted, inserted
or moved in the log breaks a link. Prints a summary; exits 1 naming the stream
sequence of the first violation or broken link. With the economy stopped it opens --data; with
it running, it reads through its NATS server (or --nats-url).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := parseUntil(until)
			if err != nil {
				return exitError{2, err}
			}
			ctx := cmd.Context()
			n, err := openReader(ctx, cmd, &f)
			if err != nil {
				return err
			}
			defer n.Close()
			return audit(ctx, n.Log(), b, cmd.OutOrStdout(), asJSON)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&until, "until", "", "audit only the prefix up to this stream sequence or RFC 3339 time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

// auditReport is what `agora audit --json` prints.
type auditReport struct {
	OK        bool               `json:"ok"`
	Summary   economy.Summary    `json:"summary"`
	Violation *economy.Violation `json:"violation,omitempty"`
	// Chain counts the links checked; ChainBreak is the first broken one.
	Chain      chain.Stats  `json:"chain"`
	ChainBreak *chain.Break `json:"chain_break,omitempty"`
	// Skipped are the records every follower skipped, acknowledged or
	// not; an unacknowledged one fails the audit.
	Skipped []economy.Skipped `json:"skipped,omitempty"`
	Seconds float64           `json:"seconds"`
}

func audit(ctx context.Context, log events.Log, until bound, out io.Writer, asJSON bool) error {
	started := time.Now()
	eco := economy.New()
	var violation *economy.Violation
	var links chain.Verifier
	var broken *chain.Break
	read := func(ctx context.Context, fn func(events.Record) error) error {
		scan := func(ctx context.Context, filter string, from uint64, fn func(events.Record) error) error {
			return events.ScanLog(ctx, log, filter, from, fn)
		}
		return readPrefixBy(ctx, log, scan, until, progressWriter(), fn)
	}
	err := economy.ReadAhead(ctx, read, func(a *economy.Read) error {
		// A record the fold skips (it does not decode, or its actor would
		// not admit it) is no fact: it is in no actor's chain, as the
		// actors do not chain to it, and it is reported as skipped. Of the
		// others, the link is reported first: a record that is not the one
		// written explains whatever invariant it breaks.
		skipped := len(eco.Skipped)
		verr := eco.ApplyRead(a.Record, a.Event, a.Err)
		if len(eco.Skipped) > skipped {
			return nil
		}
		if err := links.CheckDigest(a.Record, a.Digest); err != nil {
			return err
		}
		return verr
	})
	if err != nil && !errors.As(err, &violation) && !errors.As(err, &broken) {
		return err
	}
	unacked := eco.Unacknowledged()
	rep := auditReport{OK: violation == nil && broken == nil && len(unacked) == 0, Summary: eco.Summary(), Violation: violation,
		Chain: links.Stats(), ChainBreak: broken, Skipped: eco.SkippedRecords(), Seconds: time.Since(started).Seconds()}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printSummary(out, rep.Summary)
		printChain(out, rep.Chain)
		fmt.Fprintf(out, "audited in %.2fs\n", rep.Seconds)
		for _, k := range rep.Skipped {
			ack := "NOT ACKNOWLEDGED"
			if k.Acknowledged {
				ack = fmt.Sprintf("acknowledged at %d", k.AckSeq)
			}
			fmt.Fprintf(out, "skipped record %d (%s): %s: %s [%s]\n", k.Seq, k.Subject, k.Reason, k.Detail, ack)
		}
		if rep.OK {
			fmt.Fprintln(out, "OK: every invariant holds at every event, every link of every actor's chain holds")
		}
	}
	if broken != nil {
		return exitError{1, fmt.Errorf("audit failed at stream sequence %d: %w: %w", broken.Seq, chain.ErrBroken, broken)}
	}
	if violation != nil {
		return exitError{1, fmt.Errorf("audit failed at stream sequence %d: %w", violation.Seq, violation)}
	}
	if len(unacked) > 0 {
		// A record no follower acted on is not a broken invariant, but
		// someone wrote it: the operator must have seen it.
		k := unacked[0]
		return exitError{1, fmt.Errorf("audit failed: %d skipped record(s) not acknowledged, the first at stream sequence %d (%s): %s: %s; see agora skipped",
			len(unacked), k.Seq, k.Subject, k.Reason, k.Detail)}
	}
	return nil
}

// printChain says how much of the log is chained: all of it but each
// actor's first event, unless the log began before events were chained.
func printChain(out io.Writer, s chain.Stats) {
	fmt.Fprintf(out, "chain        %d actors, %d events linked", s.Actors, s.Linked)
	if s.Unlinked > 0 {
		if s.ChainedFrom > 0 {
			fmt.Fprintf(out, " (%d written before chaining began at sequence %d)", s.Unlinked, s.ChainedFrom)
		} else {
			fmt.Fprintf(out, " (%d written before chaining: not verified)", s.Unlinked)
		}
	}
	fmt.Fprintln(out)
}

func printSummary(out io.Writer, s economy.Summary) {
	fmt.Fprintf(out, "events       %d (last sequence %d", s.Events, s.LastSeq)
	if !s.LastTime.IsZero() {
		fmt.Fprintf(out, ", %s", s.LastTime.Format(time.RFC3339))
	}
	fmt.Fprintln(out, ")")
	fmt.Fprintf(out, "agents       %d (%d alive)\n", s.Agents, s.AgentsAlive)
	fmt.Fprintf(out, "minted       %s\n", s.MintedMicros)
	fmt.Fprintf(out, "burned       %s\n", s.BurnedMicros)
	fmt.Fprintf(out, "circulating  %s (held %s)\n", s.BalanceMicros, s.HeldMicros)
	fmt.Fprintf(out, "in flight    %s (%d transfers, %d messages)\n", s.InFlightMicros, s.OpenTransfers, s.OpenMessages)
	fmt.Fprintf(out, "executions   %d started (%d running), %d inference tokens used\n", s.ExecutionsStarted,
		s.ExecutionsRunning, s.TokensUsed)
	a := s.Attention
	fmt.Fprintf(out, "attention    %d prompts shown, %d answered, %d waiting, %s rewarded\n", a.Activations, a.Responses, a.Waiting,
		a.RewardedMicros)
	if s.SkippedRecords > 0 {
		fmt.Fprintf(out, "skipped      %d records (%d not acknowledged; see agora skipped)\n", s.SkippedRecords, s.UnacknowledgedRecords)
	}
}
