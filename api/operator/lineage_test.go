package operator_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// spawned creates id as a child of parent with the lineage a spawn
// records (parent, grandparent, ...), through the accounts, as the log
// will show a spawn.
func (e *economyForTest) spawned(id, parent string, lineage ...string) {
	e.t.Helper()
	e.do(id, agent.Create{ParentID: parent, Lineage: append([]string{parent}, lineage...),
		GrantMicros: events.Credits(1), Reason: "spawn"})
}

// TestFamilyOverHTTP: GET /admin/agents/{id} gives an agent's parent, its
// lineage nearest first, and its children in order of creation (dead ones
// too); GET /admin/agents gives each line's parent and the sequence of its
// creation, which orders a family tree.
func TestFamilyOverHTTP(t *testing.T) {
	e := startEconomy(t)
	e.create("genesis", 100)
	e.spawned("zed", "genesis")
	e.spawned("amy", "genesis")
	e.spawned("kid", "zed", "genesis")
	e.do("zed", agent.Die{Reason: "operator"})
	e.settle()

	g := e.ok(e.admin("GET", "/admin/agents/genesis", nil))
	wantJSON(t, g, map[string]string{"children_count": "2"})
	if fmt.Sprint(g["children"]) != "[zed amy]" || fmt.Sprint(g["lineage"]) != "[]" || g["parent_id"] != nil {
		t.Fatalf("genesis: parent %v, lineage %v, children %v", g["parent_id"], g["lineage"], g["children"])
	}
	z := e.ok(e.admin("GET", "/admin/agents/zed", nil))
	wantJSON(t, z, map[string]string{"status": "dead", "parent_id": "genesis", "children_count": "1"})
	if fmt.Sprint(z["children"]) != "[kid]" {
		t.Fatalf("zed's children %v", z["children"])
	}
	k := e.ok(e.admin("GET", "/admin/agents/kid", nil))
	wantJSON(t, k, map[string]string{"parent_id": "zed", "children_count": "0"})
	if fmt.Sprint(k["lineage"]) != "[zed genesis]" || fmt.Sprint(k["children"]) != "[]" {
		t.Fatalf("kid: lineage %v, children %v", k["lineage"], k["children"])
	}

	// The listing, in order of id, with each line's parent and creation.
	parents, seqs := map[string]any{}, map[string]int{}
	for _, a := range e.ok(e.admin("GET", "/admin/agents", nil))["agents"].([]any) {
		line := a.(map[string]any)
		id := line["agent_id"].(string)
		parents[id] = line["parent_id"]
		seqs[id], _ = strconv.Atoi(jsonText(line["created_seq"]))
	}
	if fmt.Sprint(parents) != "map[amy:genesis genesis:<nil> kid:zed zed:genesis]" {
		t.Fatalf("parents %v", parents)
	}
	if !(0 < seqs["genesis"] && seqs["genesis"] < seqs["zed"] && seqs["zed"] < seqs["amy"] && seqs["amy"] < seqs["kid"]) {
		t.Fatalf("creation sequences %v", seqs)
	}
}
