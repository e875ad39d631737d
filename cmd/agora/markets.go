package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/markets"
)

func newMarketsCommand() *cobra.Command {
	var f apiFlags
	var resource string
	var asJSON bool
	var h historyFlags
	cmd := &cobra.Command{
		Use:   "markets",
		Short: "The resource markets: supply, leased, utilization, posted price, open bids",
		Long: `Print every resource market: its supply, the units leased to running
executions, the utilization (leased / supply), the posted price per unit and
the number of open bids whose bundle names it, with the number of the last
clearing cycle that changed anything. With --resource, one market and its
recent transactions (allocations and releases), newest first; there are
allocation.transaction_history_length of them at most. With an economy
running it asks its operator API (--url, with the operator token of
--data); otherwise it folds the log.

Quantities are in units and prices in credits, as decimal numbers. A running
economy also mirrors each market into the key-value bucket market_state:
` + "`nats kv watch market_state`" + ` shows prices move.

With --history, each market over time instead: its posted price, supply,
units leased and utilization at every clearing cycle it recorded, oldest
first, --limit points a market after --since-cycle (--market: one market).
Every point of the last history.window_cycles cycles is kept, older ones
thinned evenly; when more points follow, the output ends with the
--since-cycle of the next page.`,
		Example: `  agora markets
  agora markets --resource cpu_seconds --json
  agora markets --history --market cpu_seconds --limit 100`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if h.history {
				return h.run(cmd, &f, resource, asJSON)
			}
			if err := h.unused(cmd); err != nil {
				return err
			}
			if resource != "" {
				if err := events.ValidateID(resource); err != nil {
					return exitError{2, fmt.Errorf("--resource: %w", err)}
				}
			}
			st, err := marketsState(cmd, &f)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if resource == "" {
				if asJSON {
					return printJSON(out, st)
				}
				return printMarkets(out, st)
			}
			i := slices.IndexFunc(st.Markets, func(m markets.MarketState) bool { return m.Resource == resource })
			if i < 0 {
				var names []string
				for _, m := range st.Markets {
					names = append(names, m.Resource)
				}
				return exitError{2, fmt.Errorf("--resource %s: no such market (markets: %s)", resource, strings.Join(names, ", "))}
			}
			if asJSON {
				return printJSON(out, st.Markets[i])
			}
			return printMarket(out, st.Cycle, st.Markets[i])
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&resource, "resource", "", "only this market, with its recent transactions")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	h.register(cmd)
	return cmd
}

// bidsPage is one page of the bid book as `agora bids --json` prints it.
type bidsPage struct {
	Bids       []bidbook.Bid `json:"bids"`
	NextCursor string        `json:"next_cursor"`
	Total      int           `json:"total"` // open bids (naming the resource, with --resource)
}

func newBidsCommand() *cobra.Command {
	var f apiFlags
	var resource, cursor string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bids",
		Short: "The public bid book: open bids in clearing order, a page at a time",
		Long: fmt.Sprintf(`Print the open bids in the order the next clearing cycle walks them: amount
(highest first), then time placed, then id. --resource keeps the bids whose
bundle names that resource. A page holds --limit bids (1 to %d); when more
follow, the output ends with the cursor of the next page, for --cursor.
Cursors stay valid while bids come and go. With an economy running it asks
its operator API (--url, with the operator token of --data); otherwise it
folds the log.`, bidbook.BidsPageMax),
		Example: `  agora bids
  agora bids --resource tokens --limit 100 --json`,
		Args: usageNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > bidbook.BidsPageMax {
				return exitError{2, fmt.Errorf("--limit must be between 1 and %d", bidbook.BidsPageMax)}
			}
			if resource != "" {
				if err := events.ValidateID(resource); err != nil {
					return exitError{2, fmt.Errorf("--resource: %w", err)}
				}
			}
			// An empty book checks the cursor before the log is read.
			if _, _, err := new(bidbook.Book).Page(resource, limit, cursor); err != nil {
				return exitError{2, fmt.Errorf("--cursor: %w", err)}
			}
			p, err := bids(cmd, &f, resource, limit, cursor)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), p)
			}
			return printBids(cmd.OutOrStdout(), p)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&resource, "resource", "", "only bids whose bundle names this resource")
	cmd.Flags().IntVar(&limit, "limit", bidbook.BidsPageDefault, "bids per page")
	cmd.Flags().StringVar(&cursor, "cursor", "", "start after this cursor (from the previous page)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// usageNoArgs refuses arguments as a usage error (exit 2), like a bad flag.
func usageNoArgs(cmd *cobra.Command, args []string) error {
	if err := cobra.NoArgs(cmd, args); err != nil {
		return exitError{2, err}
	}
	return nil
}

// marketsState asks the running economy (GET /admin/markets), or folds
// the log.
func marketsState(cmd *cobra.Command, f *apiFlags) (markets.MarketsState, error) {
	var st markets.MarketsState
	if ok, err := f.ask(cmd, "/admin/markets", &st); ok || err != nil {
		return st, err
	}
	folded, err := foldMarkets(cmd, &f.logFlags)
	if err != nil {
		return st, err
	}
	return folded.Markets(), nil
}

// bids asks the running economy for one page of the book (GET
// /admin/bids), or folds the log and pages it.
func bids(cmd *cobra.Command, f *apiFlags, resource string, limit int, cursor string) (bidsPage, error) {
	var p bidsPage
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if resource != "" {
		q.Set("resource", resource)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if ok, err := f.ask(cmd, "/admin/bids?"+q.Encode(), &p); ok || err != nil {
		return p, err
	}
	book, err := foldBids(cmd, &f.logFlags)
	if err != nil {
		return p, err
	}
	page, next, err := book.Page(resource, limit, cursor)
	if err != nil {
		return p, err
	}
	p = bidsPage{Bids: page, NextCursor: next, Total: book.Count()}
	if resource != "" {
		p.Total = book.CountFor(resource)
	}
	return p, nil
}

// foldMarkets reads the whole log into the markets read model.
func foldMarkets(cmd *cobra.Command, f *logFlags) (*markets.State, error) {
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, f)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	st, err := markets.NewState(n.Config().Allocation.TransactionHistoryLength)
	if err != nil {
		return nil, err
	}
	err = readPrefix(ctx, n.Log(), bound{}, progressWriter(), facts(func(r events.Record) error { return markets.Apply(st, r) }))
	return st, err
}

// foldBids reads the whole log into the bid book.
func foldBids(cmd *cobra.Command, f *logFlags) (*bidbook.Book, error) {
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, f)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	var book bidbook.Book
	err = readPrefix(ctx, n.Log(), bound{}, progressWriter(), facts(func(r events.Record) error { return bidbook.Apply(&book, r) }))
	return &book, err
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printMarkets(out io.Writer, st markets.MarketsState) error {
	fmt.Fprintf(out, "cycle %d\n\n", st.Cycle)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tSUPPLY\tLEASED\tUTILIZATION\tPRICE\tOPEN BIDS")
	for _, m := range st.Markets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", m.Resource, m.SupplyUnits, m.LeasedUnits,
			utilizationBar(m.UtilizationPPM), m.PriceMicros, m.ActiveBids)
	}
	return tw.Flush()
}

func printMarket(out io.Writer, cycle uint64, m markets.MarketState) error {
	if err := printMarkets(out, markets.MarketsState{Cycle: cycle, Markets: []markets.MarketState{m}}); err != nil {
		return err
	}
	fmt.Fprintln(out)
	if len(m.RecentTransactions) == 0 {
		fmt.Fprintln(out, "no transactions yet")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tCYCLE\tEXECUTION\tAGENT\tUNITS\tUSED\tPAID\tPRICE\tREASON")
	for _, t := range m.RecentTransactions {
		cycle, used, paid, price := "", "", "", ""
		if t.Measured {
			used = t.UsedUnits.String()
		}
		if t.Cycle != 0 {
			cycle = fmt.Sprint(t.Cycle)
		}
		if t.Kind == markets.KindAllocation {
			paid, price = t.AmountMicros.String(), t.PriceMicros.String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Seq, t.Time.Format(time.DateTime), t.Kind, cycle,
			t.ExecutionID, t.AgentID, t.Units, used, paid, price, t.Reason)
	}
	return tw.Flush()
}

// utilizationBar draws a utilization as ten cells and a percentage:
// "[##........]  20.0%".
func utilizationBar(ppm int64) string {
	const cells = 10
	filled := min(max(ppm*cells/1_000_000, 0), cells)
	return fmt.Sprintf("[%s%s] %5.1f%%", strings.Repeat("#", int(filled)), strings.Repeat(".", int(cells-filled)),
		float64(ppm)/10_000)
}

func printBids(out io.Writer, p bidsPage) error {
	if len(p.Bids) == 0 {
		fmt.Fprintln(out, "no open bids")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BID\tAGENT\tRUNS\tAMOUNT\tRESOURCES\tPLACED")
	for _, b := range p.Bids {
		var res []string
		for _, r := range slices.Sorted(maps.Keys(b.Resources)) {
			res = append(res, r+"="+b.Resources[r].String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.AgentID, b.Runner(), b.AmountMicros,
			strings.Join(res, " "), b.PlacedAt.Format(time.DateTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d shown of %d open\n", len(p.Bids), p.Total)
	if p.NextCursor != "" {
		fmt.Fprintf(out, "next page: --cursor %s\n", p.NextCursor)
	}
	return nil
}
