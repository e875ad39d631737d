package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// The load of TestTheEconomyOutlivesTheStreamLeader.
const (
	clusterAgents     = 8
	clusterWorkers    = 8
	clusterDuring     = 600 // commands issued while the leader is killed
	clusterAfter      = 200 // commands issued once a new leader is elected
	clusterKillAfter  = 150 // acknowledged commands before the kill
	clusterGrant      = 1000
	clusterBidCredits = 6
)

// clusterCommand is one command of the load and what acknowledged it.
type clusterCommand struct {
	key      string
	from, to int // to < 0: a bid of from's
	amount   events.Micros
	bidID    string // the bid's id, once acknowledged
}

// TestTheEconomyOutlivesTheStreamLeader is the replicated log (issue
// "Beyond one machine", point 1): a three-node cluster started from the
// documented configuration files (docs/cluster), the economy on it with
// nats.replicas: 3 and Agora's user, and a load of transfers and bids
// from concurrent clients during which the node that leads the event
// stream is killed. A command that fails is retried with its idempotency
// key until it is acknowledged, as a client of the API would. The economy
// goes on under the new leader; then every acknowledged transfer and bid
// is in the log exactly once, the balances and holds are what the
// acknowledged commands make them, and the audit agora audit runs passes.
func TestTheEconomyOutlivesTheStreamLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node NATS cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster := natstest.StartCluster(t)

	var logs bytes.Buffer
	var logsMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logsMu}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	t.Cleanup(func() {
		if t.Failed() {
			logsMu.Lock()
			t.Logf("the economy's log:\n%s", logs.String())
			logsMu.Unlock()
		}
	})
	cfg := config.Default()
	cfg.Data.Dir = filepath.Join(t.TempDir(), "data")
	cfg.Nats.URL, cfg.Nats.Replicas = cluster.URLs(), 3
	cfg.Nats.User, cfg.Nats.Password = natslog.AgoraUser, cluster.Password
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	eco, err := economy.Open(n)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			eco.Stop()
		}
	})
	eco.Start()
	if _, err := eco.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := eco.ConfigureMarkets(ctx); err != nil {
		t.Fatal(err)
	}
	agents := make([]string, clusterAgents)
	for i := range agents {
		agents[i] = fmt.Sprintf("c%d", i)
		untilAcknowledged(t, ctx, "create "+agents[i], func(ctx context.Context) error {
			_, err := eco.Accounts().Do(ctx, agents[i], "create-"+agents[i], agent.Create{GrantMicros: events.Credits(clusterGrant), Reason: "test"})
			return err
		})
	}
	terms := events.BidTerms{Pool: economy.Pool, Resources: map[string]events.Units{
		"cpu_seconds": events.WholeUnits(1), "memory_mb": events.WholeUnits(10),
	}}

	// The commands: three transfers for every bid, each transfer of its
	// own amount so that one applied twice would show in the balances.
	cmds := make([]*clusterCommand, clusterDuring+clusterAfter)
	for i := range cmds {
		from := i % clusterAgents
		c := &clusterCommand{key: fmt.Sprintf("k%04d", i), from: from, to: -1, amount: events.Credits(clusterBidCredits)}
		if i%4 != 0 {
			c.to = (from + 1 + i%(clusterAgents-1)) % clusterAgents
			c.amount = events.Credits(1) + events.Micros(i)
		}
		cmds[i] = c
	}
	var acked, retried atomic.Int64
	run := func(c *clusterCommand) {
		attempts := untilAcknowledged(t, ctx, c.key, func(ctx context.Context) error {
			if c.to < 0 {
				id, _, err := eco.Clearing().Place(ctx, agents[c.from], c.key, terms, c.amount)
				c.bidID = id
				return err
			}
			_, err := eco.Accounts().Transfer(ctx, agents[c.from], c.key,
				agent.Transfer{TransferID: "t-" + c.key, To: agents[c.to], AmountMicros: c.amount})
			return err
		})
		retried.Add(int64(attempts - 1))
		acked.Add(1)
	}
	load := func(cmds []*clusterCommand) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range clusterWorkers {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(cmds)); i = next.Add(1) - 1 {
					run(cmds[i])
				}
			})
		}
		wg.Wait()
	}

	// The kill, in the middle of the load.
	js := cluster.Connect(natslog.AgoraUser, cluster.Password)
	// Every stream Agora made (the log, and the buckets' streams) has a
	// replica on each node.
	streams := js.ListStreams(ctx)
	count := 0
	for info := range streams.Info() {
		count++
		if info.Config.Replicas != 3 {
			t.Errorf("stream %s has %d replicas; want nats.replicas, 3", info.Config.Name, info.Config.Replicas)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	if count < 3 {
		t.Errorf("%d streams on the cluster; want the log, agora_state and market_state at least", count)
	}

	// The economy's connection is on the node that leads the stream: the
	// kill takes away both the leader and the connection.
	leader, _ := cluster.NodeNamed(n.Conn().ConnectedServerName())
	if leader < 0 {
		t.Fatalf("the economy is connected to %q, no node of the cluster", n.Conn().ConnectedServerName())
	}
	cluster.LeadStream(ctx, js, cfg.Nats.Stream, leader)
	done := make(chan struct{})
	go func() {
		defer close(done)
		load(cmds[:clusterDuring])
	}()
	for acked.Load() < clusterKillAfter {
		select {
		case err := <-eco.Failed():
			t.Fatalf("the economy failed: %v", err)
		case <-done:
			t.Fatal("the load ended before the kill")
		case <-time.After(5 * time.Millisecond):
		}
	}
	killedAt := acked.Load()
	killed := time.Now()
	cluster.Kill(leader)
	next := cluster.StreamLeader(ctx, js, cfg.Nats.Stream)
	t.Logf("killed %s, the stream leader, after %d acknowledged commands; %s leads %s later",
		cluster.Node(leader).Name, killedAt, cluster.Node(next).Name, time.Since(killed).Round(time.Millisecond))
	if next == leader {
		t.Fatalf("%s still leads the stream after it was killed", cluster.Node(next).Name)
	}
	<-done
	if name := n.Conn().ConnectedServerName(); !n.Conn().IsConnected() || name == cluster.Node(leader).Name {
		t.Fatalf("the economy's connection is on %q (connected: %v) after %s was killed", name, n.Conn().IsConnected(), cluster.Node(leader).Name)
	}
	// Under the new leader, more commands: each is acknowledged after the
	// election by construction.
	load(cmds[clusterDuring:])
	t.Logf("%d commands acknowledged, after %d retries", acked.Load(), retried.Load())
	select {
	case err := <-eco.Failed():
		t.Fatalf("the economy failed: %v", err)
	default:
	}

	// Every transfer settled, then the balances and holds are exactly what
	// the acknowledged commands make them.
	settleEconomy(t, ctx, eco)
	balance := make([]events.Micros, clusterAgents)
	held := make([]events.Micros, clusterAgents)
	for i := range balance {
		balance[i] = events.Credits(clusterGrant)
	}
	for _, c := range cmds {
		if c.to < 0 {
			held[c.from] += c.amount
			continue
		}
		balance[c.from] -= c.amount
		balance[c.to] += c.amount
	}
	for i, id := range agents {
		a, err := eco.Accounts().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.BalanceMicros != balance[i] || a.HeldMicros != held[i] {
			t.Errorf("%s holds %s, %s of it held; the acknowledged commands make it %s, %s held",
				id, a.BalanceMicros, a.HeldMicros, balance[i], held[i])
		}
	}
	eco.Stop()
	stopped = true

	checkClusterLog(t, ctx, n.Log(), cmds)
	var out bytes.Buffer
	if err := audit(ctx, n.Log(), bound{}, &out, true); err != nil {
		t.Fatalf("audit: %v\n%s", err, out.String())
	}
	var rep auditReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Summary.OpenTransfers != 0 || rep.Summary.InFlightMicros != 0 {
		t.Fatalf("audit: %+v", rep)
	}
	if want := events.Credits(clusterAgents * clusterGrant); rep.Summary.MintedMicros != want || rep.Summary.BalanceMicros != want {
		t.Fatalf("minted %s, balances %s; want %s each", rep.Summary.MintedMicros, rep.Summary.BalanceMicros, want)
	}
}

// untilAcknowledged runs do until it succeeds, each attempt bounded, and
// returns the number of attempts; it fails the test when ctx ends first.
// A command that failed may still have been stored (its answer was lost):
// the retry, with the same idempotency key, must then be answered with
// the first result, not stored again.
func untilAcknowledged(t *testing.T, ctx context.Context, what string, do func(context.Context) error) int {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := do(actx)
		cancel()
		if err == nil {
			return attempt
		}
		if ctx.Err() != nil {
			t.Errorf("%s: not acknowledged after %d attempts: %v", what, attempt, err)
			return attempt
		}
		if attempt == 1 {
			t.Logf("%s: failed at %s, retried: %v", what, time.Now().Format("15:04:05.000"), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settleEconomy waits until the managers and the read models have done
// what the log obliges them to, again while their reactions write more.
func settleEconomy(t *testing.T, ctx context.Context, e *economy.Economy) {
	t.Helper()
	for {
		last, err := e.Log().LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Transfers().WaitFloor(ctx, last); err != nil {
			t.Fatal(err)
		}
		if err := e.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if now, _ := e.Log().LastSeq(ctx); now == last {
			return
		}
	}
}

// checkClusterLog reads the whole log: every command of cmds is in it
// exactly once (its transfer sent once and received once, its bid's hold
// placed once), and nothing else moved money between the agents.
func checkClusterLog(t *testing.T, ctx context.Context, log events.Log, cmds []*clusterCommand) {
	t.Helper()
	sent, received, placed := map[string]int{}, map[string]int{}, map[string]int{}
	err := log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		switch e := e.(type) {
		case events.TransferSent:
			sent[e.TransferID]++
		case events.TransferReceived:
			received[e.TransferID]++
		case events.HoldPlaced:
			placed[e.HoldID]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	transfers, bids := 0, 0
	for _, c := range cmds {
		if c.to < 0 {
			bids++
			if placed[c.bidID] != 1 {
				t.Errorf("bid %s (%s) placed %d times in the log; want once", c.bidID, c.key, placed[c.bidID])
			}
			continue
		}
		transfers++
		if id := "t-" + c.key; sent[id] != 1 || received[id] != 1 {
			t.Errorf("transfer %s sent %d times, received %d times in the log; want once each", id, sent[id], received[id])
		}
	}
	if len(sent) != transfers || len(placed) != bids {
		t.Errorf("the log holds %d transfers and %d holds; the load acknowledged %d and %d", len(sent), len(placed), transfers, bids)
	}
}

// lockedWriter serialises the economy's log lines into one buffer.
type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
