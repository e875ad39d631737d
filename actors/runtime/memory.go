package runtime

import (
	"encoding/json"

	"github.com/agora-econ/agora/events"
)

// memory is the bounded memory of applied commands: idempotency key -> the
// event the command wrote. It is rebuilt from the envelopes' idempotency
// keys on recovery and saved in snapshots, so a retry is recognised after a
// restart too, as long as fewer than capacity newer keyed commands came
// between. It grows as keys are applied, up to capacity: most actors
// apply few keyed commands, and a map pre-sized to capacity was most of
// what an idle actor cost.
type memory struct {
	capacity int
	order    []string // ring of keys, oldest first once full
	next     int
	byKey    map[string]applied // nil until the first key
}

type applied struct {
	Key  string          `json:"key"`
	Seq  uint64          `json:"seq"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func newMemory(capacity int) *memory {
	if capacity < 1 {
		capacity = 1
	}
	return &memory{capacity: capacity}
}

func (m *memory) add(a applied) {
	if _, ok := m.byKey[a.Key]; ok {
		return
	}
	if m.byKey == nil {
		m.byKey = map[string]applied{}
	}
	if len(m.order) < m.capacity {
		m.order = append(m.order, a.Key)
	} else {
		delete(m.byKey, m.order[m.next])
		m.order[m.next] = a.Key
		m.next = (m.next + 1) % m.capacity
	}
	m.byKey[a.Key] = a
}

// result answers a retried command with what the first one wrote.
func (m *memory) result(key string) (Result, bool, error) {
	a, ok := m.byKey[key]
	if !ok {
		return Result{}, false, nil
	}
	e, err := events.Decode(events.Envelope{Type: a.Type, Data: a.Data})
	if err != nil {
		return Result{}, true, err
	}
	return Result{Seq: a.Seq, Event: e, Replayed: true}, true, nil
}

// entries lists the remembered commands oldest first, for a snapshot.
func (m *memory) entries() []applied {
	out := make([]applied, 0, len(m.order))
	for i := range m.order {
		out = append(out, m.byKey[m.order[(m.next+i)%len(m.order)]])
	}
	return out
}
