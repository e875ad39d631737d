package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
)

// societyRoutes are the System Service routes genesis's society needs:
// without them genesis lives alone (it takes the 404s in its stride), and
// TestGenesisSpawnsAHelper has nothing to see.
var societyRoutes = []string{"/social/message", "/social/inbox", "/social/spawn"}

// TestGenesisSpawnsAHelper runs the real binary with a generous grant, so
// that genesis is rich enough to spawn from its first executions, and a
// short schedule, and watches the society form through the real routes:
// genesis spawns its helper (an agent whose parent is genesis), the helper
// runs in the sandbox and bids for its own continuation from inside its
// execution, its report reaches genesis's inbox and genesis reads it (the
// read is recorded in the log, and genesis's memory holds the report);
// then the audit of the whole log passes.
func TestGenesisSpawnsAHelper(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the economy with real executions")
	}
	dir, port, run, apiURL := runRichGenesis(t)
	if missing := missingRoutes(t, apiURL, societyRoutes); len(missing) > 0 {
		stopRun(t, run)
		t.Skipf("the System Service of this build does not serve %s (its /openapi.json has no such paths): "+
			"genesis can neither spawn its helper nor hear from it", strings.Join(missing, ", "))
	}

	w := watchSociety(t, port)
	stopRun(t, run)

	for _, e := range w.helperEnded {
		if e.Cause != events.CauseExited || e.ExitCode != 0 {
			t.Errorf("an execution of the helper %s ended %s with exit code %d; its output is in %s",
				w.helper, e.Cause, e.ExitCode, filepath.Join(dir, "workspaces", w.helper))
		}
	}
	// The helper's workspace holds what genesis sent and what the service
	// copied in.
	for _, name := range []string{"main.py", "helper.json", "agora.py"} {
		if _, err := os.Stat(filepath.Join(dir, "workspaces", w.helper, name)); err != nil {
			t.Errorf("the helper's workspace: %v", err)
		}
	}
	var helperCfg struct {
		ParentID string `json:"parent_id"`
	}
	readJSONFile(t, filepath.Join(dir, "workspaces", w.helper, "helper.json"), &helperCfg)
	if helperCfg.ParentID != economy.GenesisID {
		t.Errorf("helper.json names parent %q, want %s", helperCfg.ParentID, economy.GenesisID)
	}
	// Genesis's memory: the helper it spawned and the report it read.
	var memory struct {
		Children     []string `json:"children"`
		ScoutReports []struct {
			From string `json:"from"`
		} `json:"scout_reports"`
		Inbox struct {
			Read int `json:"read"`
		} `json:"inbox"`
	}
	readJSONFile(t, filepath.Join(dir, "workspaces", economy.GenesisID, "state.json"), &memory)
	if !slices.Contains(memory.Children, w.helper) {
		t.Errorf("genesis remembers children %v, not its helper %s", memory.Children, w.helper)
	}
	if memory.Inbox.Read == 0 || !slices.ContainsFunc(memory.ScoutReports, func(r struct {
		From string `json:"from"`
	}) bool {
		return r.From == w.helper
	}) {
		t.Errorf("genesis read %d messages and kept no report of %s: %+v", memory.Inbox.Read, w.helper, memory.ScoutReports)
	}

	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK {
		t.Fatalf("audit: %+v", rep)
	}
	if rep.Summary.Agents < 2 {
		t.Errorf("the audit counts %d agents; want genesis and its helper at least", rep.Summary.Agents)
	}
}

// society is what TestGenesisSpawnsAHelper saw in the log.
type society struct {
	helper      string                  // the first agent whose parent is genesis
	lineage     []string                // its lineage, as its creation records it
	started     int                     // executions of the helper started
	bidsInside  int                     // bids the helper placed from inside an execution
	helperEnded []events.ExecutionEnded // executions of the helper ended
	sent        map[string]bool         // ids of the helper's messages to genesis
	delivered   map[string]bool         // those that reached genesis's inbox
	read        bool                    // genesis read one of them
	readEnded   bool                    // and the execution that read it ended
}

func (s *society) done() bool {
	return s.helper != "" && len(s.helperEnded) > 0 && s.bidsInside > 0 && len(s.delivered) > 0 && s.readEnded
}

// watchSociety follows every agent's events in the running economy until
// the society is formed, and fails the test if it does not form.
func watchSociety(t *testing.T, port int) *society {
	t.Helper()
	s := &society{sent: map[string]bool{}, delivered: map[string]bool{}}
	err := followRunning(t, port, 4*time.Minute, events.Filter(events.KindAgent, "*"), func(r events.Record) error {
		if r.Bad != nil {
			return nil
		}
		_, id, _, err := events.ParseSubject(r.Envelope.Subject)
		if err != nil {
			return err
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		if c, ok := e.(events.AgentCreated); ok && c.ParentID == economy.GenesisID && s.helper == "" {
			s.helper, s.lineage = id, c.Lineage
		}
		switch {
		case id == s.helper && s.helper != "":
			switch e := e.(type) {
			case events.ExecutionStarted:
				s.started++
			case events.HoldPlaced:
				// The first bid is the spawn's, placed before any
				// execution; one placed once an execution has started is
				// the helper's own.
				if e.Purpose == events.PurposeBid && s.started > 0 {
					s.bidsInside++
				}
			case events.ExecutionEnded:
				s.helperEnded = append(s.helperEnded, e)
			case events.MessageSent:
				if e.ToAgentID == economy.GenesisID {
					s.sent[e.MessageID] = true
				}
			}
		case id == economy.GenesisID:
			switch e := e.(type) {
			case events.MessageDelivered:
				if e.FromAgentID == s.helper && s.sent[e.MessageID] {
					s.delivered[e.MessageID] = true
				}
			case events.MessagesRead:
				// Read only after it was delivered: genesis's inbox
				// handed the helper's message out.
				for _, m := range e.MessageIDs {
					if s.delivered[m] {
						s.read = true
					}
				}
			case events.ExecutionEnded:
				// The execution that read the message has saved what it
				// learned in state.json, which the test reads once the
				// economy is stopped (a stop kills a running execution).
				if s.read {
					s.readEnded = true
				}
			}
		}
		if s.done() {
			return errEnough
		}
		return nil
	})
	if err != errEnough {
		t.Fatalf("the society did not form: %v; seen: helper %q, %d of its executions started and %d ended, "+
			"%d bids from inside them, %d messages to genesis sent and %d delivered, read %t (and saved %t)",
			err, s.helper, s.started, len(s.helperEnded), s.bidsInside, len(s.sent), len(s.delivered), s.read, s.readEnded)
	}
	if len(s.lineage) == 0 || s.lineage[0] != economy.GenesisID {
		t.Errorf("the helper %s's lineage is %v; want genesis first", s.helper, s.lineage)
	}
	return s
}

// missingRoutes returns the paths of want that the running System
// Service's /openapi.json does not list.
func missingRoutes(t *testing.T, apiURL string, want []string) []string {
	t.Helper()
	res, err := http.Get(apiURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d", res.StatusCode)
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("GET /openapi.json: %v", err)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("GET /openapi.json lists no paths")
	}
	var missing []string
	for _, p := range want {
		if _, ok := doc.Paths[p]; !ok {
			missing = append(missing, p)
		}
	}
	return missing
}

func readJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// runRichGenesis runs the agora binary on a fresh data directory with a
// grant of 100000 credits, a cycle every half second and executions of up
// to 20 s. 100000 credits is far above what genesis needs to feel rich
// (about 1450 at the default prices: the spawn, the helper's credits and
// 200 continuations of its own), so it spawns as soon as it may. It
// returns the data directory, the NATS port, the running process and its
// APIs' URL.
func runRichGenesis(t *testing.T) (dir string, port int, run *process, apiURL string) {
	t.Helper()
	needPython(t)
	dir = filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	cfg := "economy:\n  initial_credit_budget: 100000\nallocation:\n  schedule_seconds: 0.5\nexecution:\n  timeout_seconds: 20\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port = freePort(t)
	run = startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(port),
		"--listen", "127.0.0.1:0", "--headless")
	return dir, port, run, apiURLIn(t, run.waitLine("running"))
}
