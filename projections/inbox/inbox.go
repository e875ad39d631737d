// Package inbox is the read model of the agents' inboxes (SPEC.md 1.6): the
// messages delivered to each agent, unread and read, served by GET
// /social/inbox. It folds MessageDelivered and MessagesRead, the two events
// of the recipient's account that change its inbox; the account itself
// keeps only the ids of the unread messages (actors/agent), so that the
// content is held once, here.
//
// What it keeps is bounded: every unread message (at most the inbox limit
// of its delivery per agent, agent.InboxLimitMax, each at most
// agent.MessageBytesMax), and the last ReadKeptMax read messages of each
// agent; older read messages are in the log only.
package inbox

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
)

// ReadKeptMax is how many read messages the view keeps per agent: the most
// recently delivered ones. An agent reads its inbox to act on it; what it
// read long ago it has had the chance to keep itself.
const ReadKeptMax = 100

// ErrInvalidCursor rejects a cursor this view did not hand out.
var ErrInvalidCursor = errors.New("invalid inbox cursor")

// Message is one message of an inbox.
type Message struct {
	ID          string `json:"id"`
	FromAgentID string `json:"from"`
	Content     string `json:"content"`
	// SentAt is the time of its delivery (the MessageDelivered record).
	SentAt time.Time `json:"sent_at"`
	// Seq is the stream sequence of its delivery: the inbox's order.
	Seq uint64 `json:"seq"`
	// ReadSeq is the sequence of the MessagesRead that marked it read (0:
	// unread).
	ReadSeq uint64 `json:"read_seq,omitempty"`
}

// Read reports whether the message was marked read.
func (m Message) Read() bool { return m.ReadSeq != 0 }

// box is one agent's inbox: unread and read messages, each in delivery
// order (oldest first).
type box struct {
	Unread []Message `json:"unread,omitempty"`
	Read   []Message `json:"read,omitempty"`
}

// View is the inboxes, served to readers while a projections.Runner
// applies records to it.
type View struct {
	mu      sync.RWMutex
	boxes   map[string]*box
	lastSeq uint64
}

// New returns an empty view.
func New() *View { return &View{boxes: map[string]*box{}} }

// Apply folds one record. Records of other types are passed over without
// being decoded. A record the economy fold skips never reaches it (the
// runner's admission), so what it folds the recipient's account admitted:
// a delivery of a message that is unread already, or a read mark of one
// that is not unread, changes nothing.
func (v *View) Apply(rec events.Record) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastSeq = rec.Seq
	typ := rec.Envelope.Type
	if typ != (events.MessageDelivered{}).EventType() && typ != (events.MessagesRead{}).EventType() {
		return nil
	}
	if err := events.Check(rec); err != nil {
		return err
	}
	kind, agentID, _ := events.ActorOf(rec)
	if kind != events.KindAgent {
		return nil
	}
	e, err := events.Read(rec)
	if err != nil {
		return err
	}
	b := v.boxes[agentID]
	if b == nil {
		b = &box{}
		v.boxes[agentID] = b
	}
	switch e := e.(type) {
	case events.MessageDelivered:
		if slices.ContainsFunc(b.Unread, func(m Message) bool { return m.ID == e.MessageID }) {
			return nil
		}
		b.Unread = append(b.Unread, Message{ID: e.MessageID, FromAgentID: e.FromAgentID, Content: e.Content,
			SentAt: rec.Envelope.Time, Seq: rec.Seq})
	case events.MessagesRead:
		b.markRead(e.MessageIDs, rec.Seq)
	}
	return nil
}

// markRead moves the unread messages ids names to the read ones, which
// stay in delivery order and keep the last ReadKeptMax.
func (b *box) markRead(ids []string, seq uint64) {
	kept := b.Unread[:0]
	for _, m := range b.Unread {
		if slices.Contains(ids, m.ID) {
			m.ReadSeq = seq
			b.Read = append(b.Read, m)
			continue
		}
		kept = append(kept, m)
	}
	clear(b.Unread[len(kept):]) // the contents moved out are not held twice
	b.Unread = kept
	slices.SortFunc(b.Read, func(x, y Message) int { return cmpSeq(x.Seq, y.Seq) })
	if n := len(b.Read) - ReadKeptMax; n > 0 {
		b.Read = append([]Message(nil), b.Read[n:]...)
	}
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Reset empties the view before a rebuild.
func (v *View) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.boxes, v.lastSeq = map[string]*box{}, 0
}

// Unread returns the ids of agent id's unread messages, oldest first.
func (v *View) Unread(agentID string) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := v.boxes[agentID]
	if b == nil {
		return nil
	}
	out := make([]string, len(b.Unread))
	for i, m := range b.Unread {
		out[i] = m.ID
	}
	return out
}

// cursor is where a paging of an inbox stands: past the unread messages up
// to delivery sequence afterUnread, before the read message at sequence
// beforeRead (0: none read handed out yet), in a paging that began when the
// view stood at since. A message handed out unread in this paging is read
// afterwards (read_seq > since, seq <= afterUnread) and is not handed out
// again among the read ones.
type cursor struct {
	afterUnread, beforeRead, since uint64
}

func (c cursor) String() string {
	return fmt.Sprintf("%d.%d.%d", c.afterUnread, c.beforeRead, c.since)
}

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return cursor{}, fmt.Errorf("%w: %q", ErrInvalidCursor, s)
	}
	var n [3]uint64
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return cursor{}, fmt.Errorf("%w: %q", ErrInvalidCursor, s)
		}
		n[i] = v
	}
	return cursor{afterUnread: n[0], beforeRead: n[1], since: n[2]}, nil
}

// Page returns up to limit messages of agent id's inbox: the unread ones
// first, oldest first, then the read ones, most recently delivered first;
// and the cursor of the next page ("" when this one is the last). cursor is
// "" for the first page, else the next cursor of the page before. Reading
// a page marks nothing: the caller records the read marks (agent.MarkRead)
// of the unread messages it hands out.
func (v *View) Page(agentID string, limit int, after string) ([]Message, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("%w: limit %d", ErrInvalidCursor, limit)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	c := cursor{since: v.lastSeq}
	if after != "" {
		var err error
		if c, err = parseCursor(after); err != nil {
			return nil, "", err
		}
	}
	b := v.boxes[agentID]
	if b == nil {
		return []Message{}, "", nil
	}
	out := make([]Message, 0, min(limit, len(b.Unread)+len(b.Read)))
	// take adds m to the page and moves the cursor past it with next, or,
	// once the page is full, only notes that more is left.
	more := false
	take := func(m Message, next *uint64) bool {
		if len(out) == limit {
			more = true
			return false
		}
		out = append(out, m)
		*next = m.Seq
		return true
	}
	for _, m := range b.Unread {
		if m.Seq > c.afterUnread && !take(m, &c.afterUnread) {
			break
		}
	}
	for i := len(b.Read) - 1; i >= 0 && !more; i-- {
		m := b.Read[i]
		if c.beforeRead != 0 && m.Seq >= c.beforeRead || m.ReadSeq > c.since && m.Seq <= c.afterUnread {
			continue
		}
		if !take(m, &c.beforeRead) {
			break
		}
	}
	if !more {
		return out, "", nil
	}
	return out, c.String(), nil
}

// snapshotFormat is the version of what Snapshot writes.
const snapshotFormat = 1

type snapshot struct {
	ReadKept int             `json:"read_kept_max"`
	LastSeq  uint64          `json:"last_seq"`
	Boxes    map[string]*box `json:"boxes"`
}

// Snapshot is the view as of the last record applied (projections.Durable).
func (v *View) Snapshot() ([]byte, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return projections.MarshalSnapshot(snapshotFormat, snapshot{ReadKept: ReadKeptMax, LastSeq: v.lastSeq, Boxes: v.boxes})
}

// Restore replaces the view with the one a Snapshot holds; a snapshot of
// another format or kept with another ReadKeptMax is refused
// (projections.ErrSnapshotFormat) and the view is unchanged.
func (v *View) Restore(data []byte) error {
	var s snapshot
	if err := projections.UnmarshalSnapshot(data, snapshotFormat, &s); err != nil {
		return err
	}
	if s.ReadKept != ReadKeptMax {
		return fmt.Errorf("%w: kept %d read messages per agent, this view keeps %d", projections.ErrSnapshotFormat, s.ReadKept, ReadKeptMax)
	}
	if s.Boxes == nil {
		s.Boxes = map[string]*box{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.boxes, v.lastSeq = s.Boxes, s.LastSeq
	return nil
}
