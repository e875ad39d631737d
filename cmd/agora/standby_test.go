package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/lease"
	"github.com/agora-econ/agora/events/natslog"
)

// standbyFailoverSeconds is cluster.failover_seconds in the standby test.
const standbyFailoverSeconds = 2

// TestAStandbyTakesOverUnderLoad is point 2 of "beyond one machine" with
// real processes: two `agora run` on one NATS server (the test's, with
// JetStream, reached by nats.url), sharing the data directory (the
// agents' workspaces) as two machines share a volume. A holds the actors,
// B waits as its standby. Transfers and bids go to A with Idempotency-Keys
// (the driver agent's, as in the crash loop) and A is killed with SIGKILL
// while they are in flight: B takes over within a few seconds
// (cluster.failover_seconds is 2 here; the time is logged, not asserted),
// runs the driver's cut execution again, answers every request again with
// its first result, and the audit passes. Then the lease is taken from B
// (as a node that took over would): B stops at once and exits 1 with a
// clear message, a third node takes over, and at the end the log holds
// every acknowledged transfer and bid exactly once.
func TestAStandbyTakesOverUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three economy nodes on a NATS server")
	}
	natsDir := t.TempDir()
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: filepath.Join(natsDir, "nats"), Port: natslog.RandomPort})
	if err != nil {
		t.Fatal(err)
	}
	serverUp := true
	t.Cleanup(func() {
		if serverUp {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	})
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := fmt.Sprintf("nats:\n  url: %s\ncluster:\n  failover_seconds: %d\n"+
		"allocation:\n  schedule_seconds: 0.2\n  lease_timeout_seconds: 1200\n"+
		"resources:\n  cpu_seconds: {supply: 100, initial_price: 5, max_price: 10}\n"+
		"execution:\n  timeout_seconds: 600\nruntime:\n  idempotency_memory: %d\n", url, standbyFailoverSeconds, crashLoopMemory)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--config", cfgFile, "--data", dir, "--listen", "127.0.0.1:0", "--headless"}
	audit := func(when string) {
		t.Helper()
		var rep auditReport
		decodeJSON(t, mustRun(t, "audit", "--config", cfgFile, "--data", dir, "--json"), &rep)
		if !rep.OK {
			t.Fatalf("audit %s: %+v", when, rep)
		}
	}

	a := startAgora(t, args...)
	apiA := apiURLIn(t, a.waitLine("running"))
	b := startAgora(t, args...)
	if line := b.waitLine("standby"); !strings.Contains(line, fmt.Sprintf("pid %d", a.cmd.Process.Pid)) {
		t.Fatalf("the standby does not name the active node (pid %d): %q", a.cmd.Process.Pid, line)
	}
	opToken := operatorToken(t, dir)
	createAgent(t, apiA, opToken, map[string]any{"agent_id": "sink",
		"files": map[string]string{"main.sh": "exit 0\n"}, "command": []string{"sh", "main.sh"}, "grant": 1})
	driver := map[string]string{"main.sh": `printf '%s' "$AGORA_TOKEN" > token.tmp && mv token.tmp token && exec sleep 3600` + "\n"}
	createAgent(t, apiA, opToken, map[string]any{"agent_id": "driver", "files": driver, "command": []string{"sh", "main.sh"},
		"grant": 1_000_000, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 60, "memory_mb": 64}, "amount": 1000}})
	tokenFile := filepath.Join(dir, economy.WorkspacesDir, "driver", "token")
	token := waitNewToken(t, tokenFile, "")

	// A renews its lease for twice its time to live while B watches: had
	// B taken it from a node still renewing it, it would have said so.
	for from := leaseRevision(t, url); leaseRevision(t, url) < from+6; {
		time.Sleep(50 * time.Millisecond)
	}
	if line, ok := pendingLine(b, "running"); ok {
		t.Fatalf("the standby took over while the active node ran: %q", line)
	}

	loop := &crashLoop{t: t, first: map[string]string{}}
	rng := rand.New(rand.NewPCG(3, 4))
	var killed time.Time
	loop.burst(crashClient{url: apiA, token: token}, 1, time.Duration(rng.IntN(15))*time.Millisecond, func() {
		if code := a.stop(syscall.SIGKILL); code == 0 {
			t.Fatal("agora run exited 0 after SIGKILL")
		}
		killed = time.Now()
	})
	apiB := apiURLIn(t, b.waitLine("running"))
	running := time.Since(killed)
	token = waitNewToken(t, tokenFile, token)
	rerun := time.Since(killed)
	t.Logf("A killed with %d requests of the burst sent; B running %v after the kill, the driver's execution run again on B %v after it (cluster.failover_seconds: %d)",
		loop.lastBurst, running.Round(time.Millisecond), rerun.Round(time.Millisecond), standbyFailoverSeconds)
	loop.resendAll(crashClient{url: apiB, token: token}, 2)
	audit("after the takeover")

	// The lease is taken from B while it serves a burst: its next renewal
	// is refused, and it stops at once.
	loop.burst(crashClient{url: apiB, token: token}, 2, time.Duration(rng.IntN(15))*time.Millisecond, func() {
		takeLease(t, url, `{"node":"the test"}`)
	})
	if code := waitExit(b); code != 1 {
		t.Fatalf("the node that lost its lease exited %d, want 1; stderr:\n%s", code, b.stderr)
	}
	if !strings.Contains(b.stderr.String(), "lost the lease") || !strings.Contains(b.stderr.String(), "another node holds it now") {
		t.Fatalf("the node that lost its lease does not say so; stderr:\n%s", b.stderr)
	}
	for _, line := range strings.Split(b.stderr.String(), "\n") {
		if strings.Contains(line, "lease") || strings.Contains(line, "standby") || strings.Contains(line, "economy running") {
			t.Logf("B: %s", line)
		}
	}

	c := startAgora(t, args...)
	if line := c.waitLine("standby"); !strings.Contains(line, "the test") {
		t.Fatalf("the new node does not name the lease's holder: %q", line)
	}
	apiC := apiURLIn(t, c.waitLine("running"))
	token = waitNewToken(t, tokenFile, token)
	loop.resendAll(crashClient{url: apiC, token: token}, 3)
	audit("after the second takeover")
	stopRun(t, c)
	// A clean stop releases the lease: the next node need not wait.
	if holder, ok := leaseHolder(t, url); ok {
		t.Fatalf("a clean stop left the lease held by %s", holder)
	}
	audit("at the end")

	srv.Shutdown()
	srv.WaitForShutdown()
	serverUp = false
	loop.checkLog(natsDir)
}

// pendingLine reports a line of p's stdout printed so far that contains
// want, without waiting for more.
func pendingLine(p *process, want string) (string, bool) {
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return "", false
			}
			if strings.Contains(line, want) {
				return line, true
			}
		default:
			return "", false
		}
	}
}

// waitExit waits until p ends by itself and returns its exit code.
func waitExit(p *process) int {
	p.t.Helper()
	go func() {
		for range p.lines { // keep stdout flowing until the end
		}
	}()
	select {
	case <-p.waited:
	case <-time.After(commandTimeout):
		p.t.Fatalf("agora did not end within %s; stderr:\n%s", commandTimeout, p.stderr)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

// leaseBucket opens the lease's bucket on the server at url.
func leaseBucket(t *testing.T, ctx context.Context, url string) jetstream.KeyValue {
	t.Helper()
	nc, js, err := natslog.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	kv, err := js.KeyValue(ctx, lease.Bucket(natslog.DefaultStream))
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// takeLease writes the lease over whatever it holds, as a node taking
// over does.
func takeLease(t *testing.T, url, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if _, err := leaseBucket(t, ctx, url).Put(ctx, lease.Key, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// leaseRevision is the lease's revision: each renewal raises it.
func leaseRevision(t *testing.T, url string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	e, err := leaseBucket(t, ctx, url).Get(ctx, lease.Key)
	if err != nil {
		t.Fatalf("the lease: %v", err)
	}
	return e.Revision()
}

// leaseHolder is the lease's value, if it is held.
func leaseHolder(t *testing.T, url string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	e, err := leaseBucket(t, ctx, url).Get(ctx, lease.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Value()), true
}
