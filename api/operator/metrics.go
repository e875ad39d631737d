package operator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/agora-econ/agora/events"
)

// GET /metrics: the economy's figures for Prometheus, read at each scrape
// from the directory and markets read models (a collector, not counters
// kept beside the log): a scrape shows what the log says, after a restart
// too, with nothing to keep in step. Money and units are exact in the read
// models and float64 here, which is what a dashboard needs; the API gives
// the exact amounts.
//
// The route is behind the operator token like every other: the figures
// say how rich each market is and how many agents live, nothing an agent
// needs, and Prometheus scrapes with a bearer token
// (scrape_config.authorization.credentials_file: the operator.token file).

// collector gathers the economy's figures at each scrape.
type collector struct {
	directory Directory
	markets   Markets
	economy   Economy
}

// The metrics of the economy, in the order they are exposed.
var (
	metricCycles = prometheus.NewDesc("agora_cycles_cleared_total",
		"Allocation cycles cleared (an idle cycle, which changes nothing, records nothing and is not counted).", nil, nil)
	metricBidsPlaced = prometheus.NewDesc("agora_bids_placed_total",
		"Bids placed by agents (credits held), including those the book refused at listing.", nil, nil)
	metricBidsAllocated = prometheus.NewDesc("agora_bids_allocated_total",
		"Bids that won a cycle, by payment: paid, or refused because the agent had died meanwhile.", []string{"payment"}, nil)
	metricExecutionsStarted = prometheus.NewDesc("agora_executions_started_total",
		"Executions started.", nil, nil)
	metricExecutionsRunning = prometheus.NewDesc("agora_executions_running",
		"Executions started and not yet ended.", nil, nil)
	metricExecutionsEnded = prometheus.NewDesc("agora_executions_ended_total",
		"Executions ended, by cause: exited, cpu, memory, deadline, killed, failed, interrupted.", []string{"cause"}, nil)
	metricAgents = prometheus.NewDesc("agora_agents",
		"Agents ever created, by status: alive or dead.", []string{"status"}, nil)
	metricCirculating = prometheus.NewDesc("agora_credits_circulating",
		"Credits in circulation: minted minus burned, the balances plus the transfers in flight.", nil, nil)
	metricMinted = prometheus.NewDesc("agora_credits_minted_total",
		"Credits minted (grants to new agents).", nil, nil)
	metricBurned = prometheus.NewDesc("agora_credits_burned_total",
		"Credits burned (payments, spawn and message costs, deaths).", nil, nil)
	metricHeld = prometheus.NewDesc("agora_credits_held",
		"Credits held by open bids and prompts.", nil, nil)
	metricInFlight = prometheus.NewDesc("agora_credits_in_flight",
		"Credits that left one account and have not yet reached (or returned to) another.", nil, nil)
	metricPrice = prometheus.NewDesc("agora_market_price_credits",
		"The market's posted price per unit, in credits.", []string{"resource"}, nil)
	metricUtilization = prometheus.NewDesc("agora_market_utilization_ratio",
		"The market's leased units over its supply, 0 to 1.", []string{"resource"}, nil)
	metricSupply = prometheus.NewDesc("agora_market_supply_units",
		"The market's supply: the units that can be leased at once.", []string{"resource"}, nil)
	metricLeased = prometheus.NewDesc("agora_market_leased_units",
		"The market's units leased by running executions (allocated and not yet released).", []string{"resource"}, nil)
	metricActiveBids = prometheus.NewDesc("agora_market_active_bids",
		"Open bids whose bundle names the resource.", []string{"resource"}, nil)
	metricSkipped = prometheus.NewDesc("agora_records_skipped_total",
		"Records of the log every follower skips, by reason: undecodable, bad_subject, unknown_type, unknown_schema, bad_data, invariant.",
		[]string{"reason"}, nil)
	metricUnacknowledged = prometheus.NewDesc("agora_records_unacknowledged",
		"Skipped records the operator has not acknowledged (agora skipped ack): above 0, the audit fails.", nil, nil)
)

var economyMetrics = []*prometheus.Desc{metricCycles, metricBidsPlaced, metricBidsAllocated, metricExecutionsStarted,
	metricExecutionsRunning, metricExecutionsEnded, metricAgents, metricCirculating, metricMinted, metricBurned,
	metricHeld, metricInFlight, metricPrice, metricUtilization, metricSupply, metricLeased, metricActiveBids,
	metricSkipped, metricUnacknowledged}

// Describe sends the description of every metric.
func (e collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range economyMetrics {
		ch <- d
	}
}

// Collect reads both read models and sends every metric.
func (e collector) Collect(ch chan<- prometheus.Metric) {
	t := e.directory.Totals()
	st := e.markets.State()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(metricCycles, float64(st.Cycle))
	counter(metricBidsPlaced, float64(t.BidsPlaced))
	counter(metricBidsAllocated, float64(t.BidsPaid), "paid")
	counter(metricBidsAllocated, float64(t.PaymentsRefused), "refused")
	counter(metricExecutionsStarted, float64(t.ExecutionsStarted))
	gauge(metricExecutionsRunning, float64(t.ExecutionsRunning))
	// Every cause, even one that never happened, so that a rate over it
	// starts at zero rather than at its first occurrence.
	causes := slices.Clone(events.ExecutionCauses)
	for c := range t.ExecutionsEnded {
		if !slices.Contains(causes, c) {
			causes = append(causes, c)
		}
	}
	for _, c := range causes {
		counter(metricExecutionsEnded, float64(t.ExecutionsEnded[c]), c)
	}
	gauge(metricAgents, float64(t.Alive), "alive")
	gauge(metricAgents, float64(t.Dead), "dead")
	gauge(metricCirculating, credits(t.CirculatingMicros()))
	counter(metricMinted, credits(t.MintedMicros))
	counter(metricBurned, credits(t.BurnedMicros))
	gauge(metricHeld, credits(t.HeldMicros))
	gauge(metricInFlight, credits(t.InFlightMicros()))
	for _, m := range st.Markets {
		gauge(metricPrice, credits(m.PriceMicros), m.Resource)
		gauge(metricUtilization, float64(m.UtilizationPPM)/1e6, m.Resource)
		gauge(metricSupply, units(m.SupplyUnits), m.Resource)
		gauge(metricLeased, units(m.LeasedUnits), m.Resource)
		gauge(metricActiveBids, float64(m.ActiveBids), m.Resource)
	}
	skipped := map[events.Reason]int{}
	for _, r := range events.Reasons {
		skipped[r] = 0 // every reason, so that a rate starts at zero
	}
	unacknowledged := 0
	for _, r := range e.economy.Skipped() {
		skipped[r.Reason]++
		if !r.Acknowledged {
			unacknowledged++
		}
	}
	for r, n := range skipped {
		counter(metricSkipped, float64(n), string(r))
	}
	gauge(metricUnacknowledged, float64(unacknowledged))
}

func credits(m events.Micros) float64 { return float64(m) / events.MicrosPerCredit }
func units(u events.Units) float64    { return float64(u) / events.MicroUnitsPerUnit }

// metricsContentType is the Prometheus text format the route answers
// with, unless the scraper asks for another one it supports.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

func (s *service) registerMetrics(api huma.API) error {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collector{directory: s.deps.Directory, markets: s.deps.Markets, economy: s.deps.Economy},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("operator: metrics: %w", err)
		}
	}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{s.opts.Logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
	huma.Register(api, huma.Operation{
		OperationID: "metrics", Method: http.MethodGet, Path: "/metrics", Tags: []string{"metrics"},
		Summary:     "The economy's figures for Prometheus",
		Description: "Cycles, bids, executions by cause, agents, credits, and per market its price, utilization, supply, leases and open bids; plus the Go runtime's and the process's. Scrape with the operator token as a bearer token.",
		Errors:      []int{http.StatusUnauthorized},
		Responses: map[string]*huma.Response{"200": {
			Description: "The Prometheus text exposition format.",
			Content:     map[string]*huma.MediaType{metricsContentType: {Schema: &huma.Schema{Type: huma.TypeString}}},
		}},
	}, func(context.Context, *struct{}) (*huma.StreamResponse, error) {
		return &huma.StreamResponse{Body: func(ctx huma.Context) {
			r, w := humago.Unwrap(ctx)
			handler.ServeHTTP(w, r)
		}}, nil
	})
	return nil
}

// promLogger hands the metrics handler's errors to the service's logger.
type promLogger struct{ logger *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.logger.Error("operator API: metrics", "err", fmt.Sprint(v...))
}
