package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/markets"
)

// marketEconomy runs an economy in this process as `agora run` runs it
// (its operator API serving), configured by a file it writes, with two
// agents, bids of both, one clearing cycle that allocates (the two
// executions then fail, having no workspace, and release their units),
// and bids left open after it. It returns the data directory, the configuration file,
// the operator API's URL, and the stop of the economy.
func marketEconomy(t *testing.T) (dir, file, apiURL string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	dir = filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = dir, config.SyncInterval
	cfg.Economy.Genesis, cfg.Server.Listen = false, "127.0.0.1:0"
	yml, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(file, yml, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = config.Load(file); err != nil {
		t.Fatal(err)
	}
	eco, apiURL, stop := serveInProcess(t, ctx, cfg)
	if err := eco.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	for id, grant := range map[string]int64{"alice": 100, "bob": 50} {
		if _, err := eco.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(grant), Reason: "operator"}); err != nil {
			t.Fatal(err)
		}
	}
	bid := func(id string, cpu, amount int64) {
		t.Helper()
		terms := events.BidTerms{Pool: eco.Clearing().Pool(),
			Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(cpu), "memory_mb": events.WholeUnits(64)}}
		if _, _, err := eco.Clearing().Place(ctx, id, fmt.Sprintf("%s-%d-%d", id, cpu, amount), terms, events.Credits(amount)); err != nil {
			t.Fatalf("%s bids %d: %v", id, amount, err)
		}
	}
	bid("alice", 1, 12)
	bid("bob", 2, 20)
	if err := eco.Scheduler().Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	// Both winners' executions fail (no workspace) and release their
	// units: wait for both releases, so that nothing changes the views
	// between the reads through the server and the reads of the log.
	for released := 0; released < 2; {
		if err := ctx.Err(); err != nil {
			t.Fatalf("the two executions did not end: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
		released = 0
		if m, ok := eco.MarketView().Market("cpu_seconds"); ok {
			for _, tx := range m.RecentTransactions {
				if tx.Kind == markets.KindRelease {
					released++
				}
			}
		}
	}
	bid("alice", 1, 15)
	bid("bob", 1, 11)
	bid("alice", 2, 30)
	if err := eco.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return dir, file, apiURL, stop
}

// TestViewsThroughTheServerAndTheLog runs `agora markets`, `bids`,
// `history` and `config` against a running economy's operator API
// (--url), then on the log once the economy has stopped (no server: they
// fold the log, or read the configuration), and both print the same, as
// text and as JSON; an economy named by --url that does not answer is then
// an error naming it, not the log read in its place.
func TestViewsThroughTheServerAndTheLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	dir, file, apiURL, stop := marketEconomy(t)
	views := [][]string{
		{"markets"}, {"markets", "--json"}, {"markets", "--resource", "cpu_seconds"}, {"markets", "--resource", "memory_mb", "--json"},
		{"bids"}, {"bids", "--json"}, {"bids", "--limit", "2", "--json"}, {"bids", "--resource", "tokens", "--json"},
		{"history"}, {"history", "--json"}, {"history", "--agent", "alice", "--limit", "3", "--json"},
		{"config"}, {"config", "--json"},
		{"markets", "--history"}, {"markets", "--history", "--json"}, {"markets", "--history", "--market", "cpu_seconds", "--limit", "1", "--json"},
	}
	served := map[string]string{}
	for _, args := range views {
		served[strings.Join(args, " ")] = mustRun(t, append(args, "--data", dir, "--config", file, "--url", apiURL)...).stdout
	}

	// What the server said is the economy above.
	var st markets.MarketsState
	decodeJSON(t, result{stdout: served["markets --json"]}, &st)
	if len(st.Markets) != 4 || st.Cycle != 1 {
		t.Fatalf("markets: %+v", st)
	}
	cpu := st.Markets[1]
	if cpu.Resource != "cpu_seconds" || cpu.ActiveBids != 3 || len(cpu.RecentTransactions) != 4 ||
		cpu.RecentTransactions[0].Kind != markets.KindRelease || !cpu.RecentTransactions[0].Measured ||
		cpu.RecentTransactions[3].Kind != markets.KindAllocation || cpu.RecentTransactions[3].AmountMicros == 0 {
		t.Fatalf("the cpu market: %+v", cpu)
	}
	var p bidsPage
	decodeJSON(t, result{stdout: served["bids --limit 2 --json"]}, &p)
	if len(p.Bids) != 2 || p.Total != 3 || p.NextCursor == "" || p.Bids[0].AmountMicros != events.Credits(30) ||
		p.Bids[1].AmountMicros != events.Credits(15) {
		t.Fatalf("bids, first page of 2: %+v", p)
	}
	var txs []history.Transaction
	decodeJSON(t, result{stdout: served["history --agent alice --limit 3 --json"]}, &txs)
	if len(txs) != 2 || txs[0].AgentID != "alice" || txs[0].EventID == "" || txs[0].AmountMicros != -events.Credits(12) ||
		txs[0].BalanceAfterMicros != events.Credits(88) || txs[1].Kind != history.KindGrant {
		t.Fatalf("alice's history: %+v", txs)
	}
	if c := served["config"]; !strings.Contains(c, "listen: 127.0.0.1:0") || !strings.Contains(c, "genesis: false") {
		t.Fatalf("config of the running economy:\n%s", c)
	}
	var hist operator.MarketsHistory
	decodeJSON(t, result{stdout: served["markets --history --json"]}, &hist)
	if len(hist.Markets) != 4 || hist.Markets[1].Market != "cpu_seconds" || len(hist.Markets[1].Points) != 1 ||
		hist.Markets[1].Points[0].Cycle != 1 || hist.Markets[1].Points[0].Leased == 0 {
		t.Fatalf("markets --history: %+v", hist)
	}
	if !strings.Contains(served["markets --history"], "cpu_seconds\nCYCLE") {
		t.Fatalf("markets --history:\n%s", served["markets --history"])
	}

	stop()
	for cmd, out := range served {
		if folded := mustRun(t, append(strings.Fields(cmd), "--data", dir, "--config", file)...).stdout; folded != out {
			t.Errorf("agora %s: the API said\n%s\nthe log says\n%s", cmd, out, folded)
		}
	}
	for _, args := range views {
		r := runAgora(t, append(args, "--data", dir, "--config", file, "--url", apiURL)...)
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "--url "+apiURL) {
			t.Errorf("agora %s --url of a stopped economy: %+v", strings.Join(args, " "), r)
		}
	}
}
