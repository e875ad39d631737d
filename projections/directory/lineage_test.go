package directory_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/directory"
)

// family is a small family: g's children p (who has c and x) and q; an
// orphan o whose parent the log never created; p's second creation,
// refused by its account, which must not make p g's child twice; and the
// death of p, which leaves its children its own.
var family = []step{
	{"g", created(10)},
	{"p", child("g", 0)},
	{"q", child("g", 0)},
	{"c", child("p", 0)},
	{"o", child("nobody", 0)},
	{"p", child("g", 0)},
	{"x", events.AgentCreated{ParentID: "p", Lineage: []string{"p", "g"}, Reason: "spawn"}},
	{"p", events.AgentDied{Reason: "killed"}},
}

func foldFamily(t *testing.T) *directory.View {
	t.Helper()
	v := directory.New()
	for i, st := range family {
		if err := v.Apply(record(t, uint64(i+1), st)); err != nil && !errors.Is(err, events.ErrBadRecord) {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	return v
}

// TestChildrenInOrderOfCreation: each agent lists the agents created with
// it as their parent, in the order of their creations, whatever became of
// it since; an agent whose parent was never created is nobody's child.
func TestChildrenInOrderOfCreation(t *testing.T) {
	v := foldFamily(t)
	want := map[string][]string{"g": {"p", "q"}, "p": {"c", "x"}, "q": nil, "c": nil, "o": nil, "x": nil}
	for id, children := range want {
		a, ok := v.Get(id)
		if !ok {
			t.Fatalf("%s not in the directory", id)
		}
		if !slices.Equal(a.Children, children) {
			t.Errorf("children of %s = %v, want %v", id, a.Children, children)
		}
	}
	if v.Exists("nobody") {
		t.Error("an unknown parent got a record")
	}
	if o, _ := v.Get("o"); o.ParentID != "nobody" || !slices.Equal(o.Lineage, []string{"nobody"}) {
		t.Errorf("orphan = %+v", o)
	}
	if p, _ := v.Get("p"); p.Status != directory.StatusDead {
		t.Errorf("p = %+v", p)
	}
	// A reader's copy is its own.
	g, _ := v.Get("g")
	g.Children[0] = "mutated"
	if again, _ := v.Get("g"); again.Children[0] != "p" {
		t.Fatalf("a reader's copy changed the state: %v", again.Children)
	}
}

// TestSnapshotKeepsTheFamily: a restored directory has every agent's
// parent, lineage and children; a snapshot of the format before children
// were kept is refused (so the directory is folded again from the log)
// rather than read as a family of childless agents.
func TestSnapshotKeepsTheFamily(t *testing.T) {
	v := foldFamily(t)
	data, err := v.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := directory.New()
	if err := r.Restore(data); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"g", "p", "q", "c", "o", "x"} {
		want, _ := v.Get(id)
		got, _ := r.Get(id)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("restored %s:\n got %+v\nwant %+v", id, got, want)
		}
	}
	// The restored view goes on folding: a new child joins its parent.
	if err := r.Apply(record(t, uint64(len(family)+1), step{"y", child("q", 0)})); err != nil {
		t.Fatal(err)
	}
	if q, _ := r.Get("q"); !slices.Equal(q.Children, []string{"y"}) {
		t.Fatalf("children of q after the restore: %v", q.Children)
	}

	// The same state under the format that had no children.
	var snap struct {
		Format int             `json:"format"`
		State  json.RawMessage `json:"state"`
	}
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	snap.Format = 1
	old, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(old); !errors.Is(err, projections.ErrSnapshotFormat) {
		t.Fatalf("format 1 snapshot: %v, want ErrSnapshotFormat", err)
	}
	if q, _ := r.Get("q"); !slices.Equal(q.Children, []string{"y"}) {
		t.Fatalf("a refused snapshot changed the view: %v", q.Children)
	}
}
