package operator_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// scrape reads /metrics as Prometheus does and returns every sample by
// its name and labels ("agora_agents{status=alive}").
func (e *economyForTest) scrape() map[string]float64 {
	e.t.Helper()
	a := e.admin("GET", "/metrics", nil)
	if a.Status != http.StatusOK {
		e.t.Fatalf("metrics: %d %s", a.Status, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(ct, "version=0.0.4") {
		e.t.Fatalf("metrics content type %q", ct)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(strings.NewReader(string(a.Body)))
	if err != nil {
		e.t.Fatalf("metrics are not the text format: %v\n%s", err, a.Body)
	}
	out := map[string]float64{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = value(f.GetType(), m)
		}
	}
	return out
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return -1
}

// wantMetrics checks samples by name and labels.
func wantMetrics(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Fatalf("no sample %s", k)
		}
		if g != w {
			t.Fatalf("%s = %v, want %v", k, g, w)
		}
	}
}

// TestMetricsFollowTheEconomy: after agents are created, bid, win, run
// and die, the scrape shows it, computed from the read models.
func TestMetricsFollowTheEconomy(t *testing.T) {
	e := startEconomy(t)
	ctx := context.Background()
	empty := e.scrape()
	wantMetrics(t, empty, map[string]float64{
		"agora_cycles_cleared_total": 0, "agora_agents{status=alive}": 0, "agora_credits_circulating": 0,
		"agora_executions_ended_total{cause=exited}": 0, "agora_executions_ended_total{cause=interrupted}": 0,
		"agora_market_price_credits{resource=cpu_seconds}": 5, "agora_market_supply_units{resource=memory_mb}": 10_000,
		"agora_market_price_credits{resource=attention}": 50,
	})
	if _, ok := empty["go_goroutines"]; !ok {
		t.Fatal("no Go runtime metrics")
	}

	e.create("genesis", 1000)
	a := e.ok(e.admin("POST", "/admin/agents", newAgent(100, "initial_bid", firstBid(30))))["agent_id"].(string)
	e.ok(e.admin("POST", "/admin/agents", newAgent(50, "agent_id", "poor", "initial_bid", firstBid(20))))
	e.do("genesis", agent.Transfer{TransferID: "t-1", To: "poor", AmountMicros: events.Credits(5)})
	e.settle()
	cycle, seq, err := e.clearing.Clear(ctx, time.Now())
	if err != nil || cycle == nil || len(cycle.Allocations) != 2 {
		t.Fatalf("cycle %+v, %v", cycle, err)
	}
	for _, x := range cycle.Allocations {
		e.do(x.BeneficiaryID, agent.StartExecution{ExecutionID: x.ExecutionID, BidID: x.BidID, PayerID: x.AgentID, Pool: pool,
			Resources: x.Resources, Trigger: events.Trigger{Manager: "executor", Seq: seq}})
	}
	run := cycle.Allocations[0]
	e.do(run.BeneficiaryID, agent.EndExecution{ExecutionID: run.ExecutionID, Cause: events.CauseDeadline, ExitCode: -1})
	e.do("poor", agent.Die{Reason: "test"})
	e.settle()

	// 1150 minted; 50 paid for the two bids; poor's 35 burned at its death.
	m := e.scrape()
	wantMetrics(t, m, map[string]float64{
		"agora_cycles_cleared_total":                   1,
		"agora_bids_placed_total":                      2,
		"agora_bids_allocated_total{payment=paid}":     2,
		"agora_bids_allocated_total{payment=refused}":  0,
		"agora_executions_started_total":               2,
		"agora_executions_running":                     1,
		"agora_executions_ended_total{cause=deadline}": 1,
		"agora_executions_ended_total{cause=exited}":   0,
		"agora_agents{status=alive}":                   2,
		"agora_agents{status=dead}":                    1,
		"agora_credits_minted_total":                   1150,
		"agora_credits_burned_total":                   50 + 35,
		"agora_credits_circulating":                    1150 - 85,
		"agora_credits_held":                           0,
		"agora_credits_in_flight":                      0,
		// The ended execution's leases are released; poor's still runs.
		"agora_market_leased_units{resource=cpu_seconds}":      2,
		"agora_market_leased_units{resource=memory_mb}":        128,
		"agora_market_utilization_ratio{resource=cpu_seconds}": 0.02,
		"agora_market_active_bids{resource=cpu_seconds}":       0,
		"agora_market_price_credits{resource=cpu_seconds}":     4.5, // utilization 4% < 20%: the price steps down 10%
	})
	// The figures are the directory's.
	if got, tot := m["agora_credits_circulating"], e.directory.Totals(); got != float64(tot.CirculatingMicros())/1e6 || a == "" {
		t.Fatalf("circulating %v, directory %+v", got, tot)
	}
}
