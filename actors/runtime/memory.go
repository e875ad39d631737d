package runtime

import (
	"encoding/json"

	"github.com/agora-econ/agora/events"
)

// memory is the bounded memory of applied commands: idempotency key -> the
// event the command wrote. It is rebuilt from the envelopes' idempotency
// keys on recovery and saved in snapshots, so a retry is recognised after a
// restart too, as long as fewer than capacity newer keyed commands came
// between.
//
// It grows as keys are applied, up to capacity, and is searched in order
// until it holds memoryIndexMin keys, indexed after: most actors apply a
// few keyed commands between two sleeps, and a map made for them (at
// first pre-sized to capacity) was most of what an idle actor cost.
type memory struct {
	capacity int
	ring     []applied // oldest first until full, then from next
	next     int
	index    map[string]int // key -> position in ring; nil below memoryIndexMin keys
}

// memoryIndexMin is the number of keys from which a memory indexes them.
const memoryIndexMin = 16

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

// find returns the position of key in the ring.
func (m *memory) find(key string) (int, bool) {
	if m.index != nil {
		i, ok := m.index[key]
		return i, ok
	}
	for i := range m.ring {
		if m.ring[i].Key == key {
			return i, true
		}
	}
	return 0, false
}

func (m *memory) add(a applied) {
	if _, ok := m.find(a.Key); ok {
		return
	}
	at := len(m.ring)
	if at < m.capacity {
		m.ring = append(m.ring, a)
	} else {
		at = m.next
		if m.index != nil {
			delete(m.index, m.ring[at].Key)
		}
		m.ring[at] = a
		m.next = (m.next + 1) % m.capacity
	}
	switch {
	case m.index != nil:
		m.index[a.Key] = at
	case len(m.ring) >= memoryIndexMin:
		m.index = make(map[string]int, len(m.ring))
		for i := range m.ring {
			m.index[m.ring[i].Key] = i
		}
	}
}

// result answers a retried command with what the first one wrote.
func (m *memory) result(key string) (Result, bool, error) {
	i, ok := m.find(key)
	if !ok {
		return Result{}, false, nil
	}
	a := m.ring[i]
	e, err := events.Decode(events.Envelope{Type: a.Type, Data: a.Data})
	if err != nil {
		return Result{}, true, err
	}
	return Result{Seq: a.Seq, Event: e, Replayed: true}, true, nil
}

// entries lists the remembered commands oldest first, for a snapshot.
func (m *memory) entries() []applied {
	out := make([]applied, 0, len(m.ring))
	for i := range m.ring {
		out = append(out, m.ring[(m.next+i)%len(m.ring)])
	}
	return out
}
