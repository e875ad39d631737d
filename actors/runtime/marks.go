package runtime

import (
	"fmt"
	"maps"

	"github.com/agora-econ/agora/events"
)

// Marks are an actor's redelivery marks: per process manager, the highest
// trigger (Seq, then Index) of a command the actor applied. A manager
// delivers to each actor in stream order, and the commands one event
// obliges of one actor in Index order, so a command whose trigger is at
// or below its manager's mark is a redelivery: the shell answers it as
// already applied without deciding it. The marks move only with the
// events written and folded (an event records its command's trigger), so
// they are the fold of the actor's log like its state, and a command
// refused or found to need no event leaves them where they were.
//
// One meaning for every kind of actor: a market once kept the sequence
// alone. That was the same as long as every manager sent a market at most
// one command per event (Index 0, as the clearing manager does); the pair
// makes a second command of the same event (Index 1, 2, ...) count as new
// rather than as a redelivery.
type Marks map[string]Mark

// Mark is the highest trigger applied of one manager.
type Mark struct {
	Seq   uint64 `json:"seq"`
	Index uint32 `json:"index,omitempty"`
}

// Applied reports whether a command with trigger t was applied already. A
// command without a trigger (Seq 0) never was.
func (m Marks) Applied(t events.Trigger) bool {
	if t.Seq == 0 {
		return false
	}
	at := m[t.Manager]
	return !t.After(at.Seq, at.Index)
}

// Settle records that a command with trigger t was applied and returns
// the marks (a new map when m was nil; m itself is changed otherwise). A
// mark never moves back, and a zero trigger moves none.
func (m Marks) Settle(t events.Trigger) Marks {
	if t.Seq == 0 || m.Applied(t) {
		return m
	}
	if m == nil {
		m = Marks{}
	}
	m[t.Manager] = Mark{Seq: t.Seq, Index: t.Index}
	return m
}

// Clone copies the marks.
func (m Marks) Clone() Marks { return maps.Clone(m) }

// TriggerOf is the trigger v (a command or an event) carries; zero when it
// carries none (see events.Triggered).
func TriggerOf(v any) events.Trigger {
	if t, ok := v.(events.Triggered); ok {
		return t.Triggered()
	}
	return events.Trigger{}
}

// Step answers command as the shell does, on state and its marks, without
// IO: a command of another kind is refused (ErrWrongCommand); one whose
// trigger is at or below its manager's mark is a redelivery, already
// applied, and writes nothing; any other is agg.Decide's to answer, and
// the event it writes must record the command's trigger, which is what
// moves the mark (else a redelivery would apply it again:
// ErrTriggerNotRecorded). The caller settles the marks with the event's
// trigger when it evolves the state with it.
func Step[S, C any](agg Aggregate[S, C], state S, m Marks, command any) (events.Event, error) {
	cmd, ok := command.(C)
	if !ok {
		return nil, fmt.Errorf("%w: %s cannot handle %T", ErrWrongCommand, agg.Kind, command)
	}
	t := TriggerOf(command)
	if m.Applied(t) {
		return nil, nil
	}
	e, err := agg.Decide(state, cmd)
	if err == nil && e != nil && t.Seq != 0 && TriggerOf(e) != t {
		return nil, fmt.Errorf("%w: %s answered %T with %T", ErrTriggerNotRecorded, agg.Kind, command, e)
	}
	return e, err
}
