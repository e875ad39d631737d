package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/markets"
)

// TestMarketsJourney is the operator watching the markets of a running
// economy: the clearing runs every 0.2 s, an idle market's price falls each
// cycle, and every step is visible as a readable JSON envelope on
// events.market.>, in the bucket market_state, and through agora markets
// and agora bids, live and after the economy stops.
func TestMarketsJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "data")
	cfgFile := filepath.Join(tmp, "agora.yaml")
	if err := os.WriteFile(cfgFile, []byte("allocation:\n  schedule_seconds: 0.2\n  transaction_history_length: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless")
	run.waitLine("running")
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	live := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe("events.market.>", live)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	// The only agent is genesis, which runs one CPU second at a time: the
	// cpu market stays far below its low mark and its price falls every
	// cycle.
	const genesisLeaseMax = 2 // a running execution and the next one granted
	t.Run("market_cleared events show the quiet cpu market's price falling", func(t *testing.T) {
		var prices []events.Micros
		for len(prices) < 2 {
			select {
			case m := <-live:
				var env events.Envelope
				if err := json.Unmarshal(m.Data, &env); err != nil {
					t.Fatalf("%s: not a JSON envelope: %v\n%s", m.Subject, err, m.Data)
				}
				if env.Subject != m.Subject || env.ID == "" || env.Schema < 1 || env.Time.IsZero() {
					t.Fatalf("envelope %+v on %s", env, m.Subject)
				}
				if m.Subject != "events.market.cpu_seconds.market_cleared" {
					continue
				}
				var mc events.MarketCleared
				if err := json.Unmarshal(env.Data, &mc); err != nil {
					t.Fatal(err)
				}
				if mc.Cycle < 1 || mc.SupplyUnits != events.WholeUnits(100) || mc.LeasedUnits > events.WholeUnits(genesisLeaseMax) ||
					mc.NewPriceMicros >= mc.PriceMicros || len(prices) > 0 && mc.PriceMicros != prices[len(prices)-1] {
					t.Fatalf("market_cleared of a quiet market: %+v after prices %v", mc, prices)
				}
				prices = append(prices, mc.NewPriceMicros)
			case <-ctx.Done():
				t.Fatalf("no market_cleared events for cpu_seconds; stderr:\n%s", run.stderr)
			}
		}
	})

	liveArgs := []string{"--data", dir, "--nats-port", strconv.Itoa(port)}
	var liveState markets.MarketsState
	t.Run("agora markets reads through the running economy", func(t *testing.T) {
		r := mustRun(t, append([]string{"markets", "--json"}, liveArgs...)...)
		liveState = decodeMarkets(t, r)
		var names []string
		for _, m := range liveState.Markets {
			names = append(names, m.Resource)
		}
		if !slices.Equal(names, []string{"attention", "cpu_seconds", "memory_mb", "tokens"}) || liveState.Cycle < 1 {
			t.Fatalf("markets %v at cycle %d", names, liveState.Cycle)
		}
		cpu := liveState.Markets[1]
		if cpu.SupplyUnits != events.WholeUnits(100) || cpu.LeasedUnits > events.WholeUnits(genesisLeaseMax) ||
			cpu.UtilizationPPM > genesisLeaseMax*10_000 || cpu.PriceMicros >= events.Credits(5) || cpu.ActiveBids > 1 ||
			len(cpu.RecentTransactions) == 0 {
			t.Fatalf("quiet cpu market %+v", cpu)
		}
		for _, tx := range cpu.RecentTransactions {
			if tx.AgentID != economy.GenesisID {
				t.Fatalf("a transaction of %s in an economy of genesis alone: %+v", tx.AgentID, tx)
			}
		}
		text := mustRun(t, append([]string{"markets"}, liveArgs...)...).stdout
		for _, want := range []string{"cycle ", "RESOURCE", "UTILIZATION", "cpu_seconds  100", "[..........]", "attention"} {
			if !strings.Contains(text, want) {
				t.Errorf("agora markets lacks %q:\n%s", want, text)
			}
		}
		one := mustRun(t, append([]string{"markets", "--resource", "cpu_seconds"}, liveArgs...)...).stdout
		if !strings.Contains(one, "cpu_seconds") || strings.Contains(one, "memory_mb") || !strings.Contains(one, economy.GenesisID) {
			t.Errorf("agora markets --resource cpu_seconds:\n%s", one)
		}
		var p bidsPage
		decodeJSON(t, mustRun(t, append([]string{"bids", "--json"}, liveArgs...)...), &p)
		if p.Bids == nil || len(p.Bids) > 1 || p.NextCursor != "" || p.Total > 1 {
			t.Fatalf("bids of an economy of genesis alone: %+v", p)
		}
		for _, b := range p.Bids {
			if b.AgentID != economy.GenesisID {
				t.Fatalf("a bid of %s in an economy of genesis alone: %+v", b.AgentID, b)
			}
		}
		if text := mustRun(t, append([]string{"bids"}, liveArgs...)...).stdout; !strings.Contains(text, "no open bids") && !strings.Contains(text, economy.GenesisID) {
			t.Errorf("agora bids: %s", text)
		}
	})

	t.Run("the bucket market_state holds each market and a watcher sees the price move", func(t *testing.T) {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, markets.BucketName)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := kv.Keys(ctx)
		if slices.Sort(keys); err != nil || !slices.Equal(keys, []string{"attention", "cpu_seconds", "memory_mb", "tokens"}) {
			t.Fatalf("keys %v, %v", keys, err)
		}
		w, err := kv.Watch(ctx, "cpu_seconds")
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var prices []events.Micros
		for len(prices) < 3 { // the current value, then two moves
			select {
			case u := <-w.Updates():
				if u == nil {
					continue
				}
				var raw map[string]any
				dec := json.NewDecoder(bytes.NewReader(u.Value()))
				dec.UseNumber()
				if err := dec.Decode(&raw); err != nil {
					t.Fatal(err)
				}
				if _, ok := raw["price"].(json.Number); !ok || raw["resource"] != "cpu_seconds" || raw["supply"] != json.Number("100") {
					t.Fatalf("value %s", u.Value())
				}
				var m markets.MarketState
				if err := json.Unmarshal(u.Value(), &m); err != nil {
					t.Fatal(err)
				}
				if len(prices) > 0 && m.PriceMicros > prices[len(prices)-1] {
					t.Fatalf("the quiet market's price went from %s to %s", prices[len(prices)-1], m.PriceMicros)
				}
				if len(prices) > 0 && m.PriceMicros == prices[len(prices)-1] {
					continue // a lease came or went: the price moves at the next cycle
				}
				prices = append(prices, m.PriceMicros)
			case <-ctx.Done():
				t.Fatalf("watch saw %v", prices)
			}
		}
	})

	stopRun(t, run)

	t.Run("agora markets and bids on the stopped economy", func(t *testing.T) {
		st := decodeMarkets(t, mustRun(t, "markets", "--data", dir, "--json"))
		if st.Cycle < liveState.Cycle || len(st.Markets) != 4 || st.Markets[1].PriceMicros > liveState.Markets[1].PriceMicros {
			t.Fatalf("after the stop: %+v\nlive: %+v", st, liveState)
		}
		again := decodeMarkets(t, mustRun(t, "markets", "--data", dir, "--json"))
		if !reflect.DeepEqual(again, st) {
			t.Fatal("two reads of the same log differ")
		}
		var p bidsPage
		decodeJSON(t, mustRun(t, "bids", "--data", dir, "--json"), &p)
		if len(p.Bids) > 1 || p.Total > 1 {
			t.Fatalf("bids %+v", p)
		}
		r := runAgora(t, "markets", "--data", dir, "--resource", "gpu")
		if r.code != 2 || !strings.Contains(r.stderr, "--resource gpu: no such market (markets: attention, cpu_seconds, memory_mb, tokens)") {
			t.Fatalf("an unknown market: %s", r)
		}
	})
}

func decodeMarkets(t *testing.T, r result) markets.MarketsState {
	t.Helper()
	var st markets.MarketsState
	decodeJSON(t, r, &st)
	return st
}

// TestBidBookJourney places, raises and withdraws bids in an economy run
// in this process, then reads the book with the binary through the
// economy's NATS server, page by page, runs a cycle, and reads again once
// the economy has stopped.
func TestBidBookJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server and real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = dir, config.SyncInterval
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	eco, err := economy.Open(n)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			eco.Stop()
		}
	}()
	eco.Start()
	if err := eco.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := eco.EnsureGenesis(ctx, nil, logger); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob"} {
		if _, err := eco.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(1000), Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	place := func(agentID string, cpu, mem, tokens int64, amount string) string {
		t.Helper()
		res := map[string]events.Units{"cpu_seconds": events.WholeUnits(cpu), "memory_mb": events.WholeUnits(mem)}
		if tokens > 0 {
			res["tokens"] = events.WholeUnits(tokens)
		}
		a, err := events.ParseCredits(amount)
		if err != nil {
			t.Fatal(err)
		}
		id, status, err := eco.Clearing().Place(ctx, agentID, "", events.BidTerms{Resources: res, Payload: "private"}, a)
		if err != nil || status != "open" {
			t.Fatalf("place for %s: %s, %v", agentID, status, err)
		}
		return id
	}
	g1 := place("genesis", 1, 10, 0, "10")
	a1 := place("alice", 10, 10, 0, "60")
	b1 := place("bob", 1, 10, 0, "10") // same amount as g1, placed later
	a2 := place("alice", 1, 10, 100, "16")
	if _, err := eco.Clearing().Raise(ctx, "bob", "", b1, events.Credits(500)); err != nil {
		t.Fatal(err)
	}
	if err := eco.Clearing().Withdraw(ctx, "genesis", "", g1); err != nil {
		t.Fatal(err)
	}
	g2 := place("genesis", 1, 10, 0, "12")
	order := []string{b1, a1, a2, g2}
	_ = g1

	caughtUp := func() {
		t.Helper()
		if err := eco.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	caughtUp()
	t.Run("the live view pages in clearing order", func(t *testing.T) {
		page, next, err := eco.Bids().Page("", bidbook.BidsPageMax, "")
		if err != nil || next != "" || len(page) != 4 {
			t.Fatalf("%+v, %q, %v", page, next, err)
		}
		for i, b := range page {
			if b.ID != order[i] {
				t.Fatalf("bid %d is %s, want %s", i, b.ID, order[i])
			}
		}
		if page[0].AmountMicros != events.Credits(500) || page[0].AgentID != "bob" {
			t.Fatalf("raised bid %+v", page[0])
		}
	})

	// The binary reads through this economy's server, as it does through a
	// running `agora run`, which writes the same file.
	if err := os.WriteFile(filepath.Join(dir, economy.URLFile), []byte(n.URL()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("agora bids pages through the running economy's book", func(t *testing.T) {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			args := []string{"bids", "--data", dir, "--limit", "3", "--json"}
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			var p bidsPage
			decodeJSON(t, mustRun(t, args...), &p)
			if p.Total != 4 || pages > 1 {
				t.Fatalf("page %+v", p)
			}
			for _, b := range p.Bids {
				got = append(got, b.ID)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, order) {
			t.Fatalf("paged %v, want %v", got, order)
		}
		var p bidsPage
		decodeJSON(t, mustRun(t, "bids", "--data", dir, "--resource", "tokens", "--json"), &p)
		if len(p.Bids) != 1 || p.Bids[0].ID != a2 || p.Total != 1 || p.Bids[0].Resources["tokens"] != events.WholeUnits(100) {
			t.Fatalf("tokens page %+v", p)
		}
		r := mustRun(t, "bids", "--data", dir, "--limit", "2", "--json")
		for _, want := range []string{`"amount": 500`, `"cpu_seconds": 1`, `"status": "open"`, `"agent_id": "bob"`} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("bids JSON lacks %s:\n%s", want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "private") {
			t.Error("the public book shows a bid's payload")
		}
		text := mustRun(t, "bids", "--data", dir, "--limit", "2").stdout
		for _, want := range []string{"BID", b1, a1, "cpu_seconds=1 memory_mb=10", "2 shown of 4 open", "next page: --cursor "} {
			if !strings.Contains(text, want) {
				t.Errorf("agora bids lacks %q:\n%s", want, text)
			}
		}
		st := decodeMarkets(t, mustRun(t, "markets", "--data", dir, "--json"))
		counts := map[string]int{}
		for _, m := range st.Markets {
			counts[m.Resource] = m.ActiveBids
		}
		if want := map[string]int{"attention": 0, "cpu_seconds": 4, "memory_mb": 4, "tokens": 1}; !reflect.DeepEqual(counts, want) {
			t.Fatalf("open bids per market %v, want %v", counts, want)
		}
	})

	// One cycle: b1 wins first, then a1, a2 and g2: 13 cpu_seconds of 100.
	sched := eco.Scheduler()
	sched.Clock = time.Now // Run sets it; Cycle alone does not
	if err := sched.Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	caughtUp()
	var liveCPU markets.MarketState
	t.Run("a cycle allocates: the bids leave the book and become transactions", func(t *testing.T) {
		if eco.Bids().Count() != 0 {
			t.Fatalf("%d bids left after a cycle in which all fit", eco.Bids().Count())
		}
		cpu, ok := eco.MarketView().Market("cpu_seconds")
		if !ok || cpu.LeasedUnits != events.WholeUnits(13) || cpu.UtilizationPPM != 130_000 || cpu.ActiveBids != 0 {
			t.Fatalf("cpu after the cycle %+v", cpu)
		}
		var ids []string
		for _, tx := range cpu.RecentTransactions {
			if tx.Kind != markets.KindAllocation || tx.Cycle != 1 || tx.PriceMicros != events.Credits(5) {
				t.Fatalf("transaction %+v", tx)
			}
			ids = append(ids, tx.BidID)
		}
		if want := []string{g2, a2, a1, b1}; !slices.Equal(ids, want) {
			t.Fatalf("transactions %v, want newest first %v", ids, want)
		}
		liveCPU = cpu
		js, err := jetstream.New(n.Conn())
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, markets.BucketName)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(cpu)
		for {
			e, err := kv.Get(ctx, "cpu_seconds")
			if err == nil && bytes.Equal(e.Value(), want) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("market_state/cpu_seconds never became %s", want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	})

	eco.Stop()
	stopped = true
	n.Close()
	closed = true
	os.Remove(filepath.Join(dir, economy.URLFile))

	t.Run("the stopped economy reads the same", func(t *testing.T) {
		var p bidsPage
		decodeJSON(t, mustRun(t, "bids", "--data", dir, "--json"), &p)
		if len(p.Bids) > 1 || p.Total > 1 {
			t.Fatalf("bids %+v", p)
		}
		var cpu markets.MarketState
		decodeJSON(t, mustRun(t, "markets", "--data", dir, "--resource", "cpu_seconds", "--json"), &cpu)
		if !reflect.DeepEqual(cpu, liveCPU) {
			t.Fatalf("replayed cpu market\n%+v\nlive\n%+v", cpu, liveCPU)
		}
		text := mustRun(t, "markets", "--data", dir, "--resource", "cpu_seconds").stdout
		for _, want := range []string{"[#.........]  13.0%", "allocation", "x-" + b1, "500"} {
			if !strings.Contains(text, want) {
				t.Errorf("agora markets --resource cpu_seconds lacks %q:\n%s", want, text)
			}
		}
	})
}

// TestReadCommandsCreateNoBucket: agora markets and bids read an economy
// that has no market_state bucket (nothing ran it yet) and leave it so.
func TestReadCommandsCreateNoBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server and real processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = dir, config.SyncInterval
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, logger) // the stream, no economy
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	st := decodeMarkets(t, mustRun(t, "markets", "--data", dir, "--json"))
	if st.Cycle != 0 || st.Markets == nil || len(st.Markets) != 0 {
		t.Fatalf("markets of an empty log %+v", st)
	}
	var p bidsPage
	decodeJSON(t, mustRun(t, "bids", "--data", dir, "--json"), &p)
	if p.Bids == nil || len(p.Bids) != 0 {
		t.Fatalf("bids of an empty log %+v", p)
	}
	if n, err = economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true, ReadOnly: true}, logger); err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	js, err := jetstream.New(n.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.KeyValue(ctx, markets.BucketName); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("the bucket %s after read commands: %v", markets.BucketName, err)
	}
}

// TestMarketsBadInput: bad flags exit 2 with a clear message, print nothing
// on stdout and create nothing.
func TestMarketsBadInput(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"markets", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"markets", "extra"}, "unknown command"},
		{[]string{"markets", "--data", missing, "--resource", "CPU.seconds"}, `--resource: invalid id: "CPU.seconds"`},
		{[]string{"markets", "--data", missing}, "no economy in " + missing},
		{[]string{"bids", "--data", missing, "--limit", "0"}, fmt.Sprintf("--limit must be between 1 and %d", bidbook.BidsPageMax)},
		{[]string{"bids", "--data", missing, "--limit", "-3"}, "--limit must be between 1 and"},
		{[]string{"bids", "--data", missing, "--limit", strconv.Itoa(bidbook.BidsPageMax + 1)}, "--limit must be between 1 and"},
		{[]string{"bids", "--data", missing, "--limit", "ten"}, `invalid argument "ten" for "--limit"`},
		{[]string{"bids", "--data", missing, "--resource", "cpu seconds"}, "--resource: invalid id"},
		{[]string{"bids", "--data", missing, "--cursor", "not-a-cursor"}, "--cursor: invalid cursor"},
		{[]string{"bids", "--data", missing}, "no economy in " + missing},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(strings.Join(c.args, " "), missing, "MISSING"), func(t *testing.T) {
			r := runAgora(t, c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
				t.Fatalf("want exit 2 and %q: %s", c.want, r)
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Fatalf("a refused command created %s", missing)
			}
		})
	}
}
