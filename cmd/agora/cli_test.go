package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	ecofold "github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/history"
)

var genesisGrant = events.Credits(1000)

// startRun starts `agora run` on dir with its NATS client port and waits
// for it to say it is running.
func startRun(t *testing.T, dir string, port int) *process {
	t.Helper()
	// No cycle within the test: genesis keeps its first bid open, and the
	// figures the journeys check stay those of the fresh economy.
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(cfgFile, []byte("allocation:\n  schedule_seconds: 3600\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port), "--listen", "127.0.0.1:0", "--headless")
	line := p.waitLine("running")
	if want := fmt.Sprintf("nats://127.0.0.1:%d", port); !strings.Contains(line, want) {
		t.Errorf("the running line does not say where the events are (%s): %q", want, line)
	}
	p.apiURL = apiURLIn(t, line)
	return p
}

// apiURLIn finds the address of the HTTP APIs in the running line.
func apiURLIn(t *testing.T, line string) string {
	t.Helper()
	_, rest, ok := strings.Cut(line, "APIs on ")
	if !ok {
		t.Fatalf("the running line does not say where the APIs are: %q", line)
	}
	return strings.TrimRight(strings.Fields(rest)[0], ";")
}

// stopRun stops a running economy with SIGTERM and requires exit 0.
func stopRun(t *testing.T, p *process) {
	t.Helper()
	if code := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("agora run exited %d after SIGTERM; stderr:\n%s", code, p.stderr)
	}
}

// TestRunJourney is the operator's first hour: start the economy, watch its
// log with a NATS client, try to start it twice, inspect it while it runs,
// stop it, start it again (no second genesis), inspect it stopped, and
// drive transfers into the running economy through its NATS server while
// watching them live.
func TestRunJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := filepath.Join(t.TempDir(), "data") // run creates it
	port := freePort(t)
	run := startRun(t, dir, port)

	t.Run("the System Service answers on the listen address", func(t *testing.T) {
		res, err := http.Get(run.apiURL + "/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(doc), `"/economic/balance"`) || !strings.Contains(string(doc), `"3.1`) {
			t.Fatalf("GET /openapi.json: %d %.200s", res.StatusCode, doc)
		}
		res, err = http.Get(run.apiURL + "/economic/balance")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET /economic/balance without a token: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
	})

	t.Run("genesis is in the stream as a plain JSON envelope", func(t *testing.T) {
		env := streamMessage(t, port, 1)
		if env.Type != "agent_created" || env.Subject != "events.agent.genesis.agent_created" ||
			env.Schema < 1 || env.ID == "" || env.Time.IsZero() {
			t.Fatalf("genesis envelope: %+v", env)
		}
		var created events.AgentCreated
		if err := json.Unmarshal(env.Data, &created); err != nil {
			t.Fatal(err)
		}
		if created.AgentID != economy.GenesisID || created.GrantMicros != genesisGrant {
			t.Fatalf("genesis data: %+v", created)
		}
	})

	t.Run("a second run on the same data directory is refused", func(t *testing.T) {
		r := runAgora(t, "run", "--data", dir, "--nats-port", strconv.Itoa(freePort(t)), "--listen", "127.0.0.1:0", "--headless")
		if r.code == 0 || !strings.Contains(r.stderr, "data directory is in use") || !strings.Contains(r.stderr, dir) {
			t.Fatalf("want a refusal naming the data directory in use: %s", r)
		}
	})

	t.Run("read commands go through the running economy's NATS port", func(t *testing.T) {
		live := []string{"--data", dir, "--nats-port", strconv.Itoa(port), "--json"}
		var rep auditReport
		decodeJSON(t, mustRun(t, append([]string{"audit"}, live...)...), &rep)
		checkGenesisOnly(t, rep.Summary)
		var s ecofold.Summary
		decodeJSON(t, mustRun(t, append([]string{"status"}, live...)...), &s)
		checkGenesisOnly(t, s)
	})

	stopRun(t, run)
	run = startRun(t, dir, freePort(t))
	stopRun(t, run)

	t.Run("a restart creates no second genesis", func(t *testing.T) {
		var rep auditReport
		decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
		if !rep.OK {
			t.Fatalf("audit: %+v", rep)
		}
		checkGenesisOnly(t, rep.Summary)
	})

	t.Run("one-shot commands on the stopped economy", func(t *testing.T) {
		r := mustRun(t, "audit", "--data", dir)
		for _, want := range []string{"minted       1000", "OK: every invariant holds"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("audit output lacks %q:\n%s", want, r.stdout)
			}
		}
		var rep auditReport
		decodeJSON(t, mustRun(t, "audit", "--data", dir, "--until", "1", "--json"), &rep)
		if !rep.OK || rep.Summary.LastSeq != 1 {
			t.Errorf("audit --until 1: %+v", rep)
		}
		var v economyView
		decodeJSON(t, mustRun(t, "replay", "--data", dir, "--json"), &v)
		checkGenesisOnly(t, v.Summary)
		// Genesis holds its first bid, placed at start-up.
		if len(v.Accounts) != 1 || v.Accounts[0].AgentID != economy.GenesisID || v.Accounts[0].Balance != genesisGrant ||
			v.Accounts[0].Held <= 0 || v.Accounts[0].Available != genesisGrant-v.Accounts[0].Held ||
			v.Accounts[0].OpenHolds != 1 || v.Accounts[0].Status != "alive" {
			t.Errorf("replay accounts: %+v", v.Accounts)
		}
		decodeJSON(t, mustRun(t, "replay", "--data", dir, "--until", "1", "--json"), &v)
		checkGenesisOnly(t, v.Summary)
		var s ecofold.Summary
		decodeJSON(t, mustRun(t, "status", "--data", dir, "--json"), &s)
		checkGenesisOnly(t, s)
		var txs []history.Transaction
		decodeJSON(t, mustRun(t, "history", "--data", dir, "--json"), &txs)
		if len(txs) != 1 || txs[0].AgentID != economy.GenesisID || txs[0].AmountMicros != genesisGrant || txs[0].Seq != 1 {
			t.Errorf("history: %+v", txs)
		}
		if r := runAgora(t, "history", "--data", dir, "--agent", "nobody", "--json"); r.code != 1 || !strings.Contains(r.stderr, "no agent nobody") {
			t.Errorf("history of an agent the log never created: %s", r)
		}
		for _, args := range [][]string{{"status"}, {"replay"}, {"history"}} {
			r := mustRun(t, append(args, "--data", dir)...)
			if !strings.Contains(r.stdout, "genesis") && !strings.Contains(r.stdout, "agents       1") {
				t.Errorf("agora %s prints neither genesis nor the agent count:\n%s", args[0], r.stdout)
			}
		}
	})

	t.Run("transfers into the running economy are visible live", func(t *testing.T) {
		port := freePort(t)
		run := startRun(t, dir, port)
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		live := make(chan *nats.Msg, 256)
		sub, err := nc.ChanSubscribe("events.>", live)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}

		// Writing the log takes Agora's user: the password the economy
		// keeps in its data directory.
		password, err := natslog.ReadPassword(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfgFile := filepath.Join(t.TempDir(), "load.yaml")
		loadCfg := fmt.Sprintf("nats:\n  url: nats://127.0.0.1:%d\n  user: %s\n  password: %q\n", port, natslog.AgoraUser, password)
		if err := os.WriteFile(cfgFile, []byte(loadCfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := mustRun(t, "load", "--config", cfgFile,
			"--agents", "2", "--transfers", "3", "--concurrency", "1", "--seed", "7")
		acked := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if id, ok := strings.CutPrefix(line, "ack "); ok {
				acked[id] = true
			}
		}
		if len(acked) != 3 {
			t.Fatalf("want 3 acknowledged transfers: %s", r)
		}
		if !strings.Contains(r.stderr, "3 acked") {
			t.Errorf("no summary on stderr: %s", r)
		}
		// Every transfer is sent and received; the load has settled them
		// before it exits, so all six events were published.
		for seen := map[string]int{}; len(seen) < 2*len(acked); {
			select {
			case m := <-live:
				var env events.Envelope
				if err := json.Unmarshal(m.Data, &env); err != nil {
					t.Fatalf("%s: not a JSON envelope: %v", m.Subject, err)
				}
				if env.Subject != m.Subject {
					t.Fatalf("envelope subject %q published on %q", env.Subject, m.Subject)
				}
				var tr struct {
					TransferID string `json:"transfer_id"`
				}
				_ = json.Unmarshal(env.Data, &tr)
				if acked[tr.TransferID] {
					seen[tr.TransferID+" "+env.Type]++
				}
			case <-time.After(commandTimeout):
				t.Fatalf("live events of the transfers not seen within %s", commandTimeout)
			}
		}
		stopRun(t, run)

		var rep auditReport
		decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
		s := rep.Summary
		if !rep.OK || s.Agents != 3 || s.MintedMicros != 3*genesisGrant || s.BalanceMicros != 3*genesisGrant ||
			s.OpenTransfers != 0 || s.InFlightMicros != 0 || s.Events < 1+2+2*3 {
			t.Fatalf("audit after the load: %+v", rep)
		}
	})
}

func checkGenesisOnly(t *testing.T, s ecofold.Summary) {
	t.Helper()
	// Besides genesis the log holds the markets' configuration and, when a
	// cycle moved a price, its events: no other agent and no money moved.
	if s.Events < 1 || s.Agents != 1 || s.AgentsAlive != 1 || s.MintedMicros != genesisGrant ||
		s.BalanceMicros != genesisGrant || s.BurnedMicros != 0 || s.InFlightMicros != 0 {
		t.Fatalf("want exactly the genesis (1000 minted): %+v", s)
	}
}

// streamMessage reads the event at seq straight from the stream, as any
// NATS client can.
func streamMessage(t *testing.T, port int, seq uint64) events.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	js := observer(t, port)
	st, err := js.Stream(ctx, natslog.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	var env events.Envelope
	if err := json.Unmarshal(m.Data, &env); err != nil {
		t.Fatalf("event %d is not a JSON envelope: %v\n%s", seq, err, m.Data)
	}
	if env.Subject != m.Subject {
		t.Fatalf("envelope subject %q stored on %q", env.Subject, m.Subject)
	}
	return env
}

// TestBadInput: every bad flag or configuration value is refused with a
// clear message on stderr, a non-zero exit, and nothing created.
func TestBadInput(t *testing.T) {
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "missing") // must never be created
	badConfig := filepath.Join(tmp, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("economy:\n  spawn_cost: abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unknownKey := filepath.Join(tmp, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("nats:\n  sink: always\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"audit", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"run", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"run", "extra"}, "unknown command"},
		{[]string{"audit", "--data", missing, "--until", "abc"}, `--until "abc" is neither a stream sequence nor an RFC 3339 time`},
		{[]string{"audit", "--data", missing, "--until", "0"}, "--until: sequences start at 1"},
		{[]string{"replay", "--data", missing, "--until", "abc"}, `--until "abc"`},
		{[]string{"replay", "--data", missing, "--until", "0"}, "sequences start at 1"},
		{[]string{"run", "--data", missing, "--nats-port", "70000"}, "nats.port (command line): 70000 is not a port"},
		{[]string{"run", "--data", missing, "--nats-port", "abc"}, `invalid argument "abc" for "--nats-port"`},
		{[]string{"run", "--data", missing, "--sync", "sometimes"}, `nats.sync (command line): "sometimes" must be "always" or "interval"`},
		{[]string{"run", "--data", missing, "--nats-url", "http://x"}, "nats.url"},
		{[]string{"run", "--data", "", "--headless"}, "data.dir (command line): must not be empty"},
		{[]string{"run", "--data", missing, "--config", "/missing.yaml"}, "config file /missing.yaml does not exist"},
		{[]string{"run", "--data", missing, "--config", badConfig}, `economy.spawn_cost: "abc" is not a number of credits (line 2)`},
		{[]string{"run", "--data", missing, "--config", unknownKey}, "nats.sink: unknown key"},
		{[]string{"config", "--config", badConfig}, "economy.spawn_cost"},
		{[]string{"config", "--sync", "sometimes"}, "nats.sync"},
		{[]string{"audit", "--data", missing, "--config", badConfig}, "economy.spawn_cost"},
		{[]string{"audit", "--data", missing, "--nats-port", "70000"}, "70000 is not a port"},
		{[]string{"history", "--data", missing, "--limit", "0"}, "--limit must be between 1 and"},
		{[]string{"history", "--data", missing, "--limit", "1000000"}, "--limit must be between 1 and"},
		{[]string{"history", "--data", missing, "--agent", "A.B"}, `--agent: invalid id: "A.B"`},
		{[]string{"audit", "--data", "/nonexistent"}, "no economy in /nonexistent"},
		{[]string{"audit", "--data", missing}, "no economy in " + missing},
		{[]string{"replay", "--data", missing}, "no economy in " + missing},
		{[]string{"status", "--data", missing}, "no economy in " + missing},
		{[]string{"history", "--data", missing}, "no economy in " + missing},
		{[]string{"load", "--data", missing, "--agents", "1"}, "--agents 1: must be between 2 and"},
		{[]string{"load", "--data", missing, "--transfers", "-1"}, "--transfers -1"},
		{[]string{"load", "--data", missing, "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"load", "--data", missing, "--grant", "abc"}, `--grant "abc"`},
		{[]string{"load", "--data", missing, "--grant", "0"}, `--grant "0"`},
		{[]string{"load", "--data", missing, "--grant", "0.0000001"}, `--grant "0.0000001"`},
		{[]string{"load", "--data", missing, "--sync", "sometimes"}, "nats.sync"},
	}
	for _, c := range cases {
		name := strings.NewReplacer(missing, "MISSING", tmp, "TMP").Replace(strings.Join(c.args, " "))
		t.Run(name, func(t *testing.T) {
			r := runAgora(t, c.args...)
			if r.code == 0 {
				t.Fatalf("accepted: %s", r)
			}
			if !strings.Contains(r.stderr, c.want) {
				t.Fatalf("stderr lacks %q: %s", c.want, r)
			}
			if r.stdout != "" {
				t.Errorf("a refused command printed on stdout: %s", r)
			}
			if _, err := os.Stat(missing); !os.IsNotExist(err) {
				t.Fatalf("a refused command created %s", missing)
			}
		})
	}
}

// TestReadCommandsCreateNothing: a read command pointed at a directory that
// holds no economy must say so, not create an empty economy in it.
func TestReadCommandsCreateNothing(t *testing.T) {
	for _, cmd := range []string{"audit", "replay", "status", "history"} {
		t.Run(cmd, func(t *testing.T) {
			dir := t.TempDir()
			r := runAgora(t, cmd, "--data", dir)
			if r.code == 0 || !strings.Contains(r.stderr, "no economy in") {
				t.Errorf("want a refusal: %s", r)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("agora %s created %d entries in %s", cmd, len(entries), dir)
			}
		})
	}
}

// TestHelp: the root and every command, hidden ones included, answer
// --help with exit 0 and a help text.
func TestHelp(t *testing.T) {
	cmds := [][]string{{}, {"help"}}
	for _, c := range newRootCommand().Commands() {
		cmds = append(cmds, []string{c.Name()})
	}
	for _, args := range cmds {
		args := append(args, "--help")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runAgora(t, args...)
			if r.code != 0 || strings.TrimSpace(r.stdout) == "" {
				t.Fatalf("%s", r)
			}
		})
	}
	r := mustRun(t, "load", "--help")
	for _, flag := range []string{"--agents", "--transfers", "--concurrency", "--grant", "--seed", "--data", "--config", "--nats-url", "--nats-port", "--sync", "ack <transfer_id>"} {
		if !strings.Contains(r.stdout, flag) {
			t.Errorf("load --help does not mention %s", flag)
		}
	}
}

// TestConfigPrintsTheEffectiveConfiguration: defaults, then a file, then
// flags; the output is YAML that `agora config --config` reads back.
func TestConfigPrintsTheEffectiveConfiguration(t *testing.T) {
	r := mustRun(t, "config")
	for _, want := range []string{"initial_credit_budget: 1000", "spawn_cost: 100", "message_cost: 1", "cpu_seconds:", "sync: always"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config lacks %q:\n%s", want, r.stdout)
		}
	}
	file := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(file, []byte("economy:\n  initial_credit_budget: 2500.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "config", "--config", file, "--sync", "interval")
	for _, want := range []string{"initial_credit_budget: 2500.5", "sync: interval"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config --config --sync lacks %q:\n%s", want, r.stdout)
		}
	}
	again := filepath.Join(t.TempDir(), "again.yaml")
	if err := os.WriteFile(again, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	if r2 := mustRun(t, "config", "--config", again); r2.stdout != r.stdout {
		t.Errorf("the printed configuration does not read back to itself:\n%s\n---\n%s", r.stdout, r2.stdout)
	}

	// --json: the same configuration, the YAML's keys, secrets redacted.
	secret := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(secret, []byte("economy:\n  initial_credit_budget: 2500.5\nserver:\n  operator_token: 0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "config", "--config", secret, "--sync", "interval", "--json")
	var cfg struct {
		Economy struct {
			InitialCreditBudget json.Number `json:"initial_credit_budget"`
		} `json:"economy"`
		Nats struct {
			Sync string `json:"sync"`
		} `json:"nats"`
		Server struct {
			OperatorToken string `json:"operator_token"`
		} `json:"server"`
	}
	decodeJSON(t, r, &cfg)
	if cfg.Economy.InitialCreditBudget != "2500.5" || cfg.Nats.Sync != "interval" || cfg.Server.OperatorToken != "[redacted]" {
		t.Errorf("config --json: %+v\n%s", cfg, r.stdout)
	}
}

// TestLoadReportsEveryOutcome: one line per transfer on stdout, "ack" or
// "rej" with the reason, and the books still balance. Two agents with one
// micro-credit each and transfers of one micro-credit make rejections
// certain.
func TestLoadReportsEveryOutcome(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	r := mustRun(t, "load", "--data", dir, "--agents", "2", "--grant", "0.000001", "--transfers", "50", "--concurrency", "1", "--seed", "3")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	ids := map[string]bool{}
	var acked, rejected int
	for _, line := range lines {
		kind, rest, _ := strings.Cut(line, " ")
		id, reason, _ := strings.Cut(rest, " ")
		if err := events.ValidateID(id); err != nil || ids[id] {
			t.Fatalf("line %q: the transfer id is not a fresh id", line)
		}
		ids[id] = true
		switch {
		case kind == "ack" && reason == "":
			acked++
		case kind == "rej" && strings.HasPrefix(reason, "insufficient credits"):
			rejected++
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	if len(lines) != 50 || acked == 0 || rejected == 0 {
		t.Fatalf("want 50 lines with both outcomes; got %d acked, %d rejected: %s", acked, rejected, r)
	}
	if want := fmt.Sprintf("%d acked, %d rejected, 0 failed", acked, rejected); !strings.Contains(r.stderr, want) {
		t.Errorf("summary lacks %q: %s", want, r)
	}
	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	s := rep.Summary
	if !rep.OK || s.MintedMicros != 2 || s.BalanceMicros != 2 || s.OpenTransfers != 0 || s.Events != uint64(2+2*acked) {
		t.Fatalf("audit: %+v", rep)
	}
}
