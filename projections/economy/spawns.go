package economy

import (
	"slices"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// A spawn is followed as a transfer from the parent to its child under
// events.SpawnTransferID: ChildSpawned sends the initial credits (and
// burns the cost), the child's funded AgentCreated receives them, or a
// TransferBounced and TransferReturned give them back. So the checks of a
// transfer's life (settled once, for its amount, by its parties) hold for
// a spawn's credits as they are, and conservation counts them in flight
// meanwhile.

// checkSpawn checks a spawn and a child's creation: the spawn is
// the first under its child's id and records the child's true lineage
// (its parent alive is checked with every act: a dead or unknown agent
// never acts); the child's creation takes in exactly the credits its
// parent's spawn sent it, with the lineage that spawn recorded.
func (e *Economy) checkSpawn(a agent.Account, ev events.Event, v violationFunc) error {
	switch ev := ev.(type) {
	case events.ChildSpawned:
		if _, dup := e.transfers.byID[events.SpawnTransferID(ev.ChildID)]; dup {
			return v("spawn once", "child %s spawned twice", ev.ChildID)
		}
		if want := lineageOfChild(a); !slices.Equal(ev.Lineage, want) {
			return v("lineage recorded", "%s spawns %s with lineage %v, its lineage makes %v", a.ID, ev.ChildID, ev.Lineage, want)
		}
	case events.AgentCreated:
		if ev.FundedMicros == 0 {
			// A creation with a grant (genesis, the operator's) may name a
			// parent, which must then be alive.
			if p, ok := e.Accounts[ev.ParentID]; ev.ParentID != "" && (!ok || p.Status != agent.StatusAlive) {
				return v("a child's parent is alive", "%s is created with parent %s, which is not alive", a.ID, ev.ParentID)
			}
			return nil
		}
		if ev.GrantMicros != 0 || ev.FundedMicros < 0 {
			return v("a child is funded by its parent", "child %s of %s: grant %s, funded %s", a.ID, ev.ParentID,
				ev.GrantMicros, ev.FundedMicros)
		}
		if err := e.transfers.check(events.SpawnTransferID(a.ID), ev.FundedMicros, a.ID, transferInFlight, true, v); err != nil {
			return err
		}
		t := e.transfers.byID[events.SpawnTransferID(a.ID)]
		if t.from != ev.ParentID {
			return v("a child's parent spawned it", "child %s names parent %s, spawned by %s", a.ID, ev.ParentID, t.from)
		}
		if want := lineageOfChild(e.Accounts[ev.ParentID]); !slices.Equal(ev.Lineage, want) {
			return v("lineage recorded", "child %s has lineage %v, its parent's makes %v", a.ID, ev.Lineage, want)
		}
	}
	return nil
}

// lineageOfChild is the lineage a child of a has: a, then a's lineage,
// as agent.Decide records it.
func lineageOfChild(a agent.Account) []string {
	l := append([]string{a.ID}, a.Lineage...)
	if len(l) > agent.LineageLengthMax {
		l = l[:agent.LineageLengthMax]
	}
	return l
}

// foldSpawn burns a spawn's cost and sends its initial credits in flight.
func (e *Economy) foldSpawn(parentID string, ev events.ChildSpawned) {
	e.BurnedMicros += ev.CostMicros
	e.send(&e.transfers, events.SpawnTransferID(ev.ChildID), parentID, ev.ChildID, ev.InitialCreditsMicros)
}

// foldSpawnedCreation settles a spawn's credits at its child's creation.
func (e *Economy) foldSpawnedCreation(childID string, ev events.AgentCreated) {
	if ev.FundedMicros == 0 {
		return
	}
	e.settle(&e.transfers, events.SpawnTransferID(childID), ev.FundedMicros, false)
}
