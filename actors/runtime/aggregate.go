// Package runtime is the event-sourced actor shell: an actor's state is the
// fold of its own events in the log, a command is answered only after its
// event is durable, and a failed append leaves the actor consistent with the
// log. It also hosts the actors (protoactor-go) and runs the process
// managers that carry work from one actor to another.
package runtime

import "github.com/agora-econ/agora/events"

// Aggregate is the pure core of one kind of actor: how to start, decide and
// evolve. It holds no IO; the shell brings the log. C is the kind's
// commands (a marker interface, agent.Command say): a command of another
// kind sent to the actor is refused with ErrWrongCommand before Decide.
//
// Redelivery is the shell's business, not the core's: a command that
// carries a process manager's trigger (events.Triggered) at or below the
// actor's mark for that manager is answered as already applied without
// reaching Decide, and the marks move with the triggers of the events
// written and folded (see marks). Decide must record a triggered
// command's trigger in the event it writes.
type Aggregate[S, C any] struct {
	Kind events.Kind
	// New is the state before the first event.
	New func(id string) S
	// Decide answers a command with one event, nothing (nil, nil: already
	// applied) or a rejection.
	Decide func(state S, command C) (events.Event, error)
	// Evolve applies an event; it may reuse the state it is given.
	Evolve func(state S, e events.Event) S
	// Admit, when set, reports whether an event read from the log may be
	// folded into the state: nil, or why not (typed, wrapped by the shell
	// in an *events.BadRecord). An event that would break the actor's
	// invariants (an overspend, a hold on an account never created, a
	// cycle cleared twice) is then skipped and the state left as it was.
	// It runs on records read from the log (recovery, a foreign record),
	// never on events Decide just wrote, which pass by construction. Pure.
	Admit func(state S, e events.Event) error
	// Public, when set, is what others may read of the durable state
	// without asking the actor (Host.Peek): a small value, never a part
	// of the state that the actor changes later (no maps, no slices). It
	// is published after each recovery and each durable batch.
	Public func(state S) any
	// SnapshotBytesMin, when set, is a lower bound of the size of the
	// state's snapshot, cheap to compute: a state whose bound exceeds
	// SnapshotBytesMax is not encoded only to be found too large.
	SnapshotBytesMin func(state S) int
}

// Request is a command sent to an actor.
type Request struct {
	// Command is one of the actor kind's commands (Aggregate's C).
	Command any
	// Key is the idempotency key: a request with a key the actor remembers
	// is answered with the first result and applies nothing.
	Key           string
	CausationID   string
	CorrelationID string
	// Manager names the process manager sending the command, if any. After
	// a failed append the actor refuses a manager's commands until that
	// manager says it has seen the failure (see fenced in machine.go).
	Manager string
}

// Result is the outcome of an accepted command.
type Result struct {
	// Seq is the stream sequence of the event written; 0 when the command
	// needed no event (already applied).
	Seq uint64
	// Event is the event written, nil when none.
	Event events.Event
	// Replayed is true when the answer came from the memory of applied
	// commands rather than a new decision.
	Replayed bool
}

// Query runs Fn on the actor's state inside the actor and returns what it
// returns. Fn must not keep or change the state.
//
// A query sees durable state only: one that arrives while the actor has
// decided events not yet durable waits for them. Unaffected names event
// types that never change Fn's answer; when every such event is of one of
// those types, Fn's answer on the state with them is its answer on the
// durable state, and it goes out at once.
type Query[S any] struct {
	Fn         func(S) any
	Unaffected []string
}

// recall asks whether a command with this idempotency key was applied.
type recall struct{ key string }

// resume lifts the fence for one manager.
type resume struct{ manager string }

// reply travels back to the asker.
type reply struct {
	result Result
	value  any
	err    error
}
