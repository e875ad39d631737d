package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/series"
)

// The charts' data is the operator API's answers (GET
// /admin/history/markets, /admin/history/economy, /admin/agents/{id}/history),
// every page of them at once, built by the same functions from the same
// read model; the browser turns them into uPlot's columns.

// chartsData is the charts page: the markets (one chart each) and the
// credits' distribution among the living agents.
type chartsData struct {
	Markets      []string
	Distribution distribution
}

func (d *Dashboard) charts(w http.ResponseWriter, r *http.Request, s *session) {
	st := d.deps.Markets.State()
	data := chartsData{Distribution: d.distribution()}
	for _, m := range st.Markets {
		data.Markets = append(data.Markets, m.Resource)
	}
	d.render(w, r, http.StatusOK, "charts", s, "Charts", "charts", data)
}

func (d *Dashboard) marketsHistory(w http.ResponseWriter, r *http.Request, _ *session) {
	all, _ := d.deps.Series.Markets("", 0, HistoryPageLimit)
	for i := range all {
		m := &all[i]
		for pages := 1; m.NextSinceCycle != 0 && pages < HistoryPagesMax; pages++ {
			next, ok := d.deps.Series.Markets(m.Market, m.NextSinceCycle, HistoryPageLimit)
			if !ok || len(next) != 1 {
				break
			}
			m.Points, m.NextSinceCycle = append(m.Points, next[0].Points...), next[0].NextSinceCycle
		}
	}
	writeJSON(w, r, d, operator.MarketsHistoryOf(all))
}

func (d *Dashboard) economyHistory(w http.ResponseWriter, r *http.Request, _ *session) {
	var all series.EconomySeries
	since := uint64(0)
	for pages := 0; pages < HistoryPagesMax; pages++ {
		page := d.deps.Series.Economy(since, HistoryPageLimit)
		all.Points = append(all.Points, page.Points...)
		if since = page.NextSinceCycle; since == 0 {
			break
		}
	}
	writeJSON(w, r, d, operator.EconomyHistoryOf(all))
}

func (d *Dashboard) agentHistory(w http.ResponseWriter, r *http.Request, _ *session) {
	id := r.PathValue("id")
	var all series.AgentSeries
	since := uint64(0)
	for pages := 0; pages < HistoryPagesMax; pages++ {
		page, ok := d.deps.Series.Agent(id, since, HistoryPageLimit)
		if !ok {
			http.Error(w, "no agent "+id, http.StatusNotFound)
			return
		}
		all.AgentID = page.AgentID
		all.Points = append(all.Points, page.Points...)
		if since = page.NextSinceSeq; since == 0 {
			break
		}
	}
	writeJSON(w, r, d, operator.AgentHistoryOf(all))
}

// distribution is how the living agents' credits are spread: a histogram
// of their balances in DistributionBins equal bins from 0 to the largest,
// and the Gini coefficient of the balances (0: all equal; near 1: one
// holds everything).
type distribution struct {
	Alive int `json:"alive"`
	// Gini is the coefficient; GiniText the same with three decimals.
	Gini     float64 `json:"gini"`
	GiniText string  `json:"gini_text"`
	// TotalMicros is the living agents' balances summed.
	TotalMicros events.Micros `json:"total_micros"`
	Bins        []bin         `json:"bins"`
}

// bin is a histogram bin: the agents whose balance is in [From, To) (the
// last bin includes To).
type bin struct {
	FromMicros events.Micros `json:"from_micros"`
	ToMicros   events.Micros `json:"to_micros"`
	Agents     int           `json:"agents"`
}

func (d *Dashboard) distribution() distribution {
	var balances []events.Micros
	for _, a := range d.deps.Directory.List("", 0) {
		if a.Status == directory.StatusAlive {
			balances = append(balances, a.BalanceMicros)
		}
	}
	return distributionOf(balances)
}

// distributionOf is the distribution of balances.
func distributionOf(balances []events.Micros) distribution {
	out := distribution{Alive: len(balances), Bins: []bin{}}
	if len(balances) == 0 {
		out.GiniText = "0.000"
		return out
	}
	slices.Sort(balances)
	// G = (2 Σ i·x_i) / (n Σ x) - (n+1)/n over the balances in ascending
	// order, i from 1: the mean absolute difference over twice the mean.
	// In floating point: the figure is shown, never summed with money.
	var sum, weighted float64
	for i, b := range balances {
		out.TotalMicros += b
		sum += float64(b)
		weighted += float64(i+1) * float64(b)
	}
	n := float64(len(balances))
	if sum > 0 {
		out.Gini = max(0, 2*weighted/(n*sum)-(n+1)/n)
	}
	out.GiniText = formatGini(out.Gini)
	top := balances[len(balances)-1]
	width := max(1, (top+DistributionBins-1)/DistributionBins)
	for i := range events.Micros(DistributionBins) {
		out.Bins = append(out.Bins, bin{FromMicros: i * width, ToMicros: (i + 1) * width})
	}
	for _, b := range balances {
		i := min(int(max(0, b)/width), DistributionBins-1)
		out.Bins[i].Agents++
	}
	return out
}

func formatGini(g float64) string { return strconv.FormatFloat(g, 'f', 3, 64) }

func (d *Dashboard) distributionData(w http.ResponseWriter, r *http.Request, _ *session) {
	writeJSON(w, r, d, d.distribution())
}

// writeJSON writes v as the answer.
func writeJSON(w http.ResponseWriter, r *http.Request, d *Dashboard, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		d.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
