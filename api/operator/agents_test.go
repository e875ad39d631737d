package operator_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/events"
)

// TestCreateAnAgent: the operator introduces an agent with a program, a
// grant and a first bid; its workspace, account and bid exist, and the
// directory shows it at once.
func TestCreateAnAgent(t *testing.T) {
	e := startEconomy(t)
	out := e.ok(e.admin("POST", "/admin/agents", newAgent(100.5, "initial_bid", firstBid(12.5))))
	id := out["agent_id"].(string)
	if !strings.HasPrefix(id, "op-") || events.ValidateID(id) != nil {
		t.Fatalf("agent id %q", id)
	}

	// The workspace holds the files.
	b, err := os.ReadFile(filepath.Join(e.creator.root, id, "lib", "util.py"))
	if err != nil || string(b) != "X = 1\n" {
		t.Fatalf("workspace file: %q, %v", b, err)
	}
	// The account has the grant, minus nothing, with the bid held.
	a := e.account(id)
	if a.Status != agent.StatusAlive || a.BalanceMicros != 100_500_000 || a.HeldMicros != 12_500_000 ||
		strings.Join(a.Command, " ") != "python3 main.py" {
		t.Fatalf("account %+v", a)
	}
	// The bid is in the book.
	open, err := clearing.Inspect(context.Background(), e.clearing, func(b clearing.Book) int {
		n := 0
		for _, bid := range b.Bids {
			if bid.AgentID == id && bid.AmountMicros == 12_500_000 {
				n++
			}
		}
		return n
	})
	if err != nil || open != 1 {
		t.Fatalf("%d open bids of %s, %v", open, id, err)
	}

	// Read your writes: the directory has it already.
	rec := e.ok(e.admin("GET", "/admin/agents/"+id, nil))
	wantJSON(t, rec, map[string]string{"agent_id": id, "status": "alive", "balance": "100.5", "held": "12.5",
		"available": "88", "creation_reason": "operator", "bids_placed": "1", "bids_won": "0", "execution_count": "0"})
	if cmd := fmt.Sprint(rec["command"]); cmd != "[python3 main.py]" {
		t.Fatalf("command %s", cmd)
	}
	wantJSON(t, rec["earned"].(map[string]any), map[string]string{"total": "100.5", "grant": "100.5", "transfers_received": "0"})
	wantJSON(t, rec["spent"].(map[string]any), map[string]string{"total": "0"})
	if _, ok := rec["last_execution"]; ok {
		t.Fatalf("an agent that never ran has a last execution: %v", rec)
	}

	// Without a first bid, and with the operator's own id.
	e.ok(e.admin("POST", "/admin/agents", newAgent(1, "agent_id", "momentum-2")))
	if a := e.account("momentum-2"); a.BalanceMicros != 1_000_000 || a.HeldMicros != 0 {
		t.Fatalf("momentum-2 %+v", a)
	}
	// An id taken is a conflict, and changes nothing.
	e.settle()
	before := e.lastSeq()
	e.problem(e.admin("POST", "/admin/agents", newAgent(5, "agent_id", "momentum-2")), http.StatusConflict, "already exists", "momentum-2")
	e.settle()
	if e.lastSeq() != before {
		t.Fatal("a refused creation wrote to the log")
	}
}

// TestRetriedCreationAppliesOnce: the same Idempotency-Key names the same
// agent and creates it once; another key is another agent.
func TestRetriedCreationAppliesOnce(t *testing.T) {
	e := startEconomy(t)
	key := []string{"Idempotency-Key", "create-1"}
	first := e.ok(e.admin("POST", "/admin/agents", newAgent(50, "initial_bid", firstBid(20)), key...))
	e.settle()
	seq := e.lastSeq()
	again := e.ok(e.admin("POST", "/admin/agents", newAgent(50, "initial_bid", firstBid(20)), key...))
	if first["agent_id"] != again["agent_id"] {
		t.Fatalf("a retry answered %v, then %v", first, again)
	}
	e.settle()
	if e.lastSeq() != seq {
		t.Fatal("a retried creation wrote to the log")
	}
	id := first["agent_id"].(string)
	if a := e.account(id); a.BalanceMicros != 50_000_000 || a.HeldMicros != 20_000_000 {
		t.Fatalf("account after a retry %+v", a)
	}
	other := e.ok(e.admin("POST", "/admin/agents", newAgent(50), "Idempotency-Key", "create-2"))
	if other["agent_id"] == id {
		t.Fatal("another key named the same agent")
	}
	if got := e.creator.workspaces(t); len(got) != 2 {
		t.Fatalf("workspaces %v, want 2", got)
	}
	list := e.ok(e.admin("GET", "/admin/agents", nil))
	wantJSON(t, list, map[string]string{"total": "2", "alive": "2"})
}

// TestTheRecordFollowsTheEconomy: transfers, a won bid, an execution that
// ends, a death and a child are all in the agent's record.
func TestTheRecordFollowsTheEconomy(t *testing.T) {
	e := startEconomy(t)
	ctx := context.Background()
	e.create("genesis", 1000)
	id := e.ok(e.admin("POST", "/admin/agents", newAgent(100, "initial_bid", firstBid(30))))["agent_id"].(string)
	e.do("genesis", agent.Transfer{TransferID: "t-1", To: id, AmountMicros: events.Credits(10)})
	e.do(id, agent.Transfer{TransferID: "t-2", To: "genesis", AmountMicros: events.Credits(4)})
	e.do(id, agent.Burn{AmountMicros: events.Credits(1), Reason: "message"})
	e.settle()

	// The bid wins a cycle and is paid.
	cycle, seq, err := e.clearing.Clear(ctx, time.Now())
	if err != nil || cycle == nil || len(cycle.Allocations) != 1 {
		t.Fatalf("cycle %+v, %v", cycle, err)
	}
	alloc := cycle.Allocations[0]
	// The executor starts the execution and records its end.
	e.do(id, agent.StartExecution{ExecutionID: alloc.ExecutionID, BidID: alloc.BidID, PayerID: id, Pool: pool,
		Resources: alloc.Resources, Trigger: events.Trigger{Manager: "executor", Seq: seq}})
	e.do(id, agent.EndExecution{ExecutionID: alloc.ExecutionID, ExitCode: 0, Cause: events.CauseExited,
		CPUMillis: 40, MemoryPeakKB: 9000, WallMillis: 70})
	// A child of genesis, recorded with its parent.
	e.do("kid", agent.Create{ParentID: "genesis", GrantMicros: events.Credits(3), Reason: "spawn"})
	e.settle()

	rec := e.ok(e.admin("GET", "/admin/agents/"+id, nil))
	wantJSON(t, rec, map[string]string{"status": "alive", "balance": "75", "held": "0", "bids_placed": "1",
		"bids_won": "1", "execution_count": "1", "executions_running": "0"})
	wantJSON(t, rec["earned"].(map[string]any), map[string]string{"total": "110", "grant": "100", "transfers_received": "10"})
	wantJSON(t, rec["spent"].(map[string]any), map[string]string{"total": "35", "payments": "30", "transfers_sent": "4", "burned": "1"})
	last := rec["last_execution"].(map[string]any)
	wantJSON(t, last, map[string]string{"execution_id": alloc.ExecutionID, "bid_id": alloc.BidID, "payer_id": id,
		"running": "false", "cause": "exited", "exit_code": "0", "cpu_millis": "40", "wall_millis": "70"})
	if last["started_at"] == nil || last["ended_at"] == nil {
		t.Fatalf("last execution %v", last)
	}

	kid := e.ok(e.admin("GET", "/admin/agents/kid", nil))
	wantJSON(t, kid, map[string]string{"parent_id": "genesis", "creation_reason": "spawn"})
	if fmt.Sprint(kid["lineage"]) != "[genesis]" {
		t.Fatalf("lineage %v", kid["lineage"])
	}

	// A death: the record stays, dead, with when and why.
	e.do(id, agent.Die{Reason: "operator"})
	e.settle()
	rec = e.ok(e.admin("GET", "/admin/agents/"+id, nil))
	wantJSON(t, rec, map[string]string{"status": "dead", "death_reason": "operator", "balance": "0", "death_burned": "75"})
	if rec["died_at"] == nil {
		t.Fatalf("no died_at: %v", rec)
	}
	// The System Service's list of living agents is the same read model.
	var living []string
	token, err := e.tickets.Issue("genesis", "x-test", map[string]events.Units{"cpu_seconds": events.WholeUnits(1)}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range e.ok(e.call("GET", "/social/agents", token, nil))["agents"].([]any) {
		living = append(living, v.(string))
	}
	if fmt.Sprint(living) != "[genesis kid]" {
		t.Fatalf("living %v", living)
	}
}

// TestListPages: every agent, dead or alive, in order of id, a page at a
// time; the cursor is the last id of the previous page.
func TestListPages(t *testing.T) {
	e := startEconomy(t)
	for _, id := range []string{"e", "a", "d", "b", "c"} {
		e.create(id, 2)
	}
	e.do("b", agent.Die{Reason: "test"})
	e.settle()
	var seen []string
	cursor := ""
	for page := 0; ; page++ {
		path := "/admin/agents?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		out := e.ok(e.admin("GET", path, nil))
		wantJSON(t, out, map[string]string{"total": "5", "alive": "4"})
		agents := out["agents"].([]any)
		for _, a := range agents {
			seen = append(seen, a.(map[string]any)["agent_id"].(string))
		}
		next, ok := out["next_cursor"].(string)
		if !ok {
			if page != 2 || len(agents) != 1 {
				t.Fatalf("last page %d has %d agents", page, len(agents))
			}
			break
		}
		cursor = next
	}
	if strings.Join(seen, ",") != "a,b,c,d,e" {
		t.Fatalf("pages gave %v", seen)
	}
	b := e.ok(e.admin("GET", "/admin/agents?cursor=a&limit=1", nil))["agents"].([]any)[0].(map[string]any)
	wantJSON(t, b, map[string]string{"agent_id": "b", "status": "dead", "balance": "0", "earned": "2", "spent": "0"})
	if b["died_at"] == nil || b["created_at"] == nil {
		t.Fatalf("summary %v", b)
	}
	// An empty economy, or a cursor past the end: an empty list, not null.
	if out := e.admin("GET", "/admin/agents?cursor=z", nil); !strings.Contains(string(out.Body), `"agents":[]`) {
		t.Fatalf("past the end: %s", out.Body)
	}
}

// TestUnknownAgent is a 404 problem naming the id.
func TestUnknownAgent(t *testing.T) {
	e := startEconomy(t)
	e.problem(e.admin("GET", "/admin/agents/nobody", nil), http.StatusNotFound, "unknown agent", "nobody")
	e.problem(e.admin("GET", "/admin/nothing-here", nil), http.StatusNotFound, "no route")
	e.problem(e.admin("GET", "/admin/agents/.", nil), http.StatusNotFound, "no route GET /admin/agents/.", "/admin/agents/")
	a := e.admin("DELETE", "/admin/agents", nil)
	e.problem(a, http.StatusMethodNotAllowed, "not allowed")
	if a.Header.Get("Allow") == "" {
		t.Fatal("405 without Allow")
	}
}
