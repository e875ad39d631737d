package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/series"
)

// historyFlags are the flags of `agora markets --history`: the markets
// over time, from GET /admin/history/markets or the history read model
// folded from the log.
type historyFlags struct {
	history bool
	market  string
	since   uint64
	limit   int
}

func (h *historyFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&h.history, "history", false, "each market over time: price, supply, leased, utilization at every cycle")
	cmd.Flags().StringVar(&h.market, "market", "", "with --history: only this market")
	cmd.Flags().Uint64Var(&h.since, "since-cycle", 0, "with --history: only the cycles after this one")
	cmd.Flags().IntVar(&h.limit, "limit", 1000, fmt.Sprintf("with --history: points per market, oldest first (1 to %d)", operator.HistoryPointsMax))
}

// unused refuses the history's flags without --history.
func (h *historyFlags) unused(cmd *cobra.Command) error {
	for _, name := range []string{"market", "since-cycle", "limit"} {
		if cmd.Flags().Changed(name) {
			return exitError{2, fmt.Errorf("--%s goes with --history", name)}
		}
	}
	return nil
}

func (h *historyFlags) run(cmd *cobra.Command, f *apiFlags, resource string, asJSON bool) error {
	if resource != "" {
		return exitError{2, fmt.Errorf("--resource does not go with --history; use --market")}
	}
	if h.limit < 1 || h.limit > operator.HistoryPointsMax {
		return exitError{2, fmt.Errorf("--limit must be between 1 and %d", operator.HistoryPointsMax)}
	}
	if h.market != "" {
		if err := events.ValidateID(h.market); err != nil {
			return exitError{2, fmt.Errorf("--market: %w", err)}
		}
	}
	hist, err := h.get(cmd, f)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), hist)
	}
	return printMarketsHistory(cmd.OutOrStdout(), hist)
}

// get asks the running economy (GET /admin/history/markets), or folds the
// log into the history read model and answers as the API would.
func (h *historyFlags) get(cmd *cobra.Command, f *apiFlags) (operator.MarketsHistory, error) {
	var hist operator.MarketsHistory
	q := url.Values{"limit": {strconv.Itoa(h.limit)}, "since_cycle": {strconv.FormatUint(h.since, 10)}}
	if h.market != "" {
		q.Set("market", h.market)
	}
	if ok, err := f.ask(cmd, "/admin/history/markets?"+q.Encode(), &hist); ok || err != nil {
		return hist, err
	}
	st, err := foldSeries(cmd, &f.logFlags)
	if err != nil {
		return hist, err
	}
	ms, ok := st.Markets(h.market, h.since, h.limit)
	if !ok {
		return hist, exitError{1, fmt.Errorf("no market %s", h.market)} // the API's 404
	}
	return operator.MarketsHistoryOf(ms), nil
}

// foldSeries reads the whole log into the history read model, bounded by
// the configuration as the running economy's is.
func foldSeries(cmd *cobra.Command, f *logFlags) (*series.State, error) {
	ctx := cmd.Context()
	n, err := openReader(ctx, cmd, f)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	c := n.Config().History
	st, err := series.NewState(series.WithWindowCycles(c.WindowCycles), series.WithPointsMax(c.PointsMax),
		series.WithAgentPointsMax(c.AgentPointsMax))
	if err != nil {
		return nil, err
	}
	err = readPrefix(ctx, n.Log(), bound{}, progressWriter(), func(r events.Record) error { return series.Apply(st, r) })
	return st, err
}

func printMarketsHistory(out io.Writer, h operator.MarketsHistory) error {
	for i, m := range h.Markets {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintln(out, m.Market)
		if len(m.Points) == 0 {
			fmt.Fprintln(out, "no cycle recorded")
			continue
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CYCLE\tTIME\tPRICE\tSUPPLY\tLEASED\tUTILIZATION")
		for _, p := range m.Points {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.Cycle, p.At.Format(time.DateTime), events.Micros(p.PriceMicros),
				events.Units(p.Supply), events.Units(p.Leased), utilizationBar(int64(p.Utilization)))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if m.NextSinceCycle != 0 {
			fmt.Fprintf(out, "next page: --since-cycle %d\n", m.NextSinceCycle)
		}
	}
	return nil
}
