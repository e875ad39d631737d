package projections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/follow"
)

// Durable is a Projection that can be saved and restored, so that a
// restart applies only the records after its snapshot instead of the whole
// log. Snapshot is called between records (under the same lock as Apply),
// never while Apply runs; Restore before the first record is applied. A
// Restore that returns an error leaves the view to be Reset and rebuilt
// from sequence 1.
type Durable interface {
	Projection
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// GroupOptions configures a Group. Name is required; the others are
// optional.
type GroupOptions struct {
	// Name is the group's name in the store (its snapshots are under
	// readmodels.<Name>) and in logs.
	Name string
	// Store keeps the group's snapshots; nil: none, every start rebuilds
	// from sequence 1.
	Store events.Store
	// SnapshotEvery is how many records are applied between two saves
	// (default SnapshotEveryDefault); SnapshotInterval the most time
	// between two saves while records come (default
	// SnapshotIntervalDefault). A clean stop always saves.
	SnapshotEvery    uint64
	SnapshotInterval time.Duration
	// ChunkBytes is the most bytes of one value in the store (default
	// SnapshotChunkBytesDefault).
	ChunkBytes int
	Logger     *slog.Logger
}

// Defaults of GroupOptions. A snapshot is the whole view, marshalled while
// the group applies nothing: saving it every few records would cost more
// than the records, and the records that come meanwhile overflow the
// group's queue, which then reads them from the log a second time
// (follow.Options.QueueMax). Either bound keeps what a crash makes the
// views read again to about SnapshotEveryDefault records (a few seconds);
// docs/decisions.md, "Read models decode once and save seldom".
const (
	SnapshotEveryDefault    = 500_000
	SnapshotIntervalDefault = 5 * time.Minute
	// SnapshotChunkBytesDefault keeps each value of a snapshot in the store
	// well under the server's maximum payload (1 MiB by default): a
	// key-value bucket holds a value in one message, so a read model of
	// many megabytes is stored as numbered chunks, see Group.
	SnapshotChunkBytesDefault = 512 << 10
)

// Group is read models fed by one follow of the log (a follow.Consumer):
// each record is applied to every runner in turn, in the order they were
// added (a runner whose AdmitWith asks another view comes after it). The
// group keeps its durable views' snapshots in the store, all at one stream
// sequence, so that views consistent with each other restore consistent:
//
//	readmodels.<name>                  manifest: sequence, slot, per view chunks, bytes, sha256
//	readmodels.<name>.<slot>.<view>.<i> chunk i of the view's snapshot
//
// A save writes its chunks in the slot the manifest does not name, then
// the manifest: a crash half-way leaves the previous snapshot whole. The
// chunks of a snapshot bigger than the next one in the same slot stay
// unused in the bucket (the Store port has no delete); they are at most
// the size of the biggest snapshot saved.
//
// At start (Open), each Durable view whose snapshot is in the manifest is
// restored at its sequence; a view that is not Durable, has no snapshot,
// refuses its snapshot, or whose snapshot is of a sequence beyond the
// log's end (a new stream) is rebuilt from sequence 1. The follow then
// starts at the least of the views' sequences, and each view gets only the
// records after its own.
type Group struct {
	o       GroupOptions
	names   []string
	runners []*Runner
	gens    []uint64 // the runners' generations when the follow last started
	// opened are the sequences each runner resumed from at Open, and
	// advanced the records each has applied (or skipped) since: Stats.
	opened   []uint64
	advanced []atomic.Uint64

	mu       sync.Mutex // guards what follows, and makes saves one at a time
	applied  uint64     // records delivered since the last save
	lastSave time.Time
	closing  bool
	saved    uint64 // the sequence of the snapshot in the store
	slot     int    // the slot the manifest names
}

// NewGroup returns an empty group.
func NewGroup(o GroupOptions) (*Group, error) {
	if err := validateViewName(o.Name); err != nil {
		return nil, fmt.Errorf("projections: group: %w", err)
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = SnapshotEveryDefault
	}
	if o.SnapshotInterval <= 0 {
		o.SnapshotInterval = SnapshotIntervalDefault
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = SnapshotChunkBytesDefault
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Group{o: o}, nil
}

// Add adds a runner under name (its snapshot's name: keep it stable), to
// be applied after those added before. Call it before the group is
// followed.
func (g *Group) Add(name string, r *Runner) error {
	if r == nil {
		return fmt.Errorf("projections: %w: a nil runner", ErrNilDependency)
	}
	if err := validateViewName(name); err != nil {
		return fmt.Errorf("projections: view: %w", err)
	}
	for _, n := range g.names {
		if n == name {
			return fmt.Errorf("projections: view %q added twice", name)
		}
	}
	g.names = append(g.names, name)
	g.runners = append(g.runners, r)
	return nil
}

func validateViewName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("name %q has %q; allowed are a-z, A-Z, 0-9, - and _", name, c)
		}
	}
	return nil
}

var _ follow.Consumer = (*Group)(nil)

// Name names the group in logs (follow.Consumer).
func (g *Group) Name() string { return "read models " + g.o.Name }

// Types is nil: a read model sees every record (follow.Consumer), so that
// LastSeq is the sequence a writer got back and WaitFor can be given it.
func (g *Group) Types() []string { return nil }

// Open restores the views from the group's snapshot and returns the least
// sequence any of them has applied (follow.Consumer).
func (g *Group) Open(ctx context.Context, last uint64) (uint64, error) {
	if len(g.runners) == 0 {
		return 0, errors.New("no read model")
	}
	if err := firstErr(g.runners); err != nil {
		return 0, err
	}
	if g.o.Store != nil {
		if err := g.restore(ctx, last); err != nil {
			return 0, err
		}
	}
	g.mu.Lock()
	g.lastSave = time.Now()
	g.mu.Unlock()
	from := g.resync()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.opened = make([]uint64, len(g.runners))
	g.advanced = make([]atomic.Uint64, len(g.runners))
	for i, r := range g.runners {
		g.opened[i] = r.LastSeq()
	}
	return from, nil
}

// ViewStat is what a group did for one view since it was opened: the
// sequence the view resumed from (0: rebuilt from the first event) and how
// many records it has applied since.
type ViewStat struct {
	Name    string `json:"name"`
	Durable bool   `json:"durable"`
	From    uint64 `json:"from_seq"`
	Applied uint64 `json:"applied"`
}

// Stats lists the group's views, once it is opened.
func (g *Group) Stats() []ViewStat {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]ViewStat, 0, len(g.opened))
	for i := range g.opened {
		_, durable := g.runners[i].view.(Durable)
		out = append(out, ViewStat{Name: g.names[i], Durable: durable, From: g.opened[i], Applied: g.advanced[i].Load()})
	}
	return out
}

// resync notes the runners' generations and returns the least sequence
// they have applied.
func (g *Group) resync() uint64 {
	g.gens = make([]uint64, len(g.runners))
	from := uint64(0)
	for i, r := range g.runners {
		r.applyMu.Lock()
		g.gens[i] = r.gen
		seq := r.lastSeq.Load()
		r.applyMu.Unlock()
		if i == 0 || seq < from {
			from = seq
		}
	}
	return from
}

// Deliver applies rec to every runner that has not applied it
// (follow.Consumer). A Rebuild of one meanwhile makes the follow start
// again from the least sequence the runners have applied.
func (g *Group) Deliver(_ context.Context, rec events.Record) error {
	// The views read the record one after another on this goroutine:
	// its event is decoded once for all of them.
	rec = events.Shared(rec)
	for i, r := range g.runners {
		r.applyMu.Lock()
		if r.gen != g.gens[i] {
			r.applyMu.Unlock()
			return follow.Rewind(g.resync())
		}
		before := r.lastSeq.Load()
		err := r.applyLocked(rec)
		if r.lastSeq.Load() != before {
			g.advanced[i].Add(1)
		}
		r.applyMu.Unlock()
		if err != nil {
			return err
		}
	}
	g.mu.Lock()
	g.applied++
	g.mu.Unlock()
	return nil
}

// Close makes the next Save the last one: it saves whatever was applied
// (follow.Consumer).
func (g *Group) Close() {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
}

// manifest is the group's record of its snapshot in the store.
type manifest struct {
	Seq   uint64                  `json:"seq"`
	Slot  int                     `json:"slot"`
	Views map[string]manifestView `json:"views"`
}

type manifestView struct {
	Chunks int    `json:"chunks"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func (g *Group) manifestKey() string { return "readmodels." + g.o.Name }

func (g *Group) chunkKey(slot int, view string, i int) string {
	return g.manifestKey() + "." + strconv.Itoa(slot) + "." + view + "." + strconv.Itoa(i)
}

// Save saves the durable views' snapshot when enough records came since
// the last, or at the last save after Close (follow.Consumer). The views
// are snapshotted while the group applies nothing, all at one sequence;
// the store is written after.
func (g *Group) Save(ctx context.Context) error {
	if g.o.Store == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	due := g.closing || g.applied >= g.o.SnapshotEvery || time.Since(g.lastSave) >= g.o.SnapshotInterval
	if g.applied == 0 || !due {
		return nil
	}
	seq, snaps, err := g.snapshot()
	if err != nil || snaps == nil || seq == g.saved {
		return err
	}
	m := manifest{Seq: seq, Slot: 1 - g.slot, Views: map[string]manifestView{}}
	for name, b := range snaps {
		sum := sha256.Sum256(b)
		v := manifestView{Bytes: len(b), SHA256: hex.EncodeToString(sum[:])}
		for off := 0; off < len(b) || v.Chunks == 0; off += g.o.ChunkBytes {
			chunk := b[off:min(off+g.o.ChunkBytes, len(b))]
			if err := g.o.Store.Put(ctx, g.chunkKey(m.Slot, name, v.Chunks), chunk); err != nil {
				return fmt.Errorf("save %s: %w", name, err)
			}
			v.Chunks++
		}
		m.Views[name] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := g.o.Store.Put(ctx, g.manifestKey(), b); err != nil {
		return fmt.Errorf("save manifest: %w", err)
	}
	g.saved, g.slot, g.applied, g.lastSave = seq, m.Slot, 0, time.Now()
	return nil
}

// snapshot takes every durable view's snapshot, with every runner held,
// at the one sequence they have all applied; snaps is nil when there is no
// durable view, or they are not at one sequence (a Rebuild is under way,
// or a view stopped): the next save tries again.
func (g *Group) snapshot() (uint64, map[string][]byte, error) {
	var held []*Runner
	defer func() {
		for _, r := range held {
			r.applyMu.Unlock()
		}
	}()
	var seq uint64
	snaps := map[string][]byte{}
	for i, r := range g.runners {
		d, ok := r.view.(Durable)
		if !ok {
			continue
		}
		r.applyMu.Lock()
		held = append(held, r)
		s := r.lastSeq.Load()
		if len(held) == 1 {
			seq = s
		}
		if s != seq || r.Err() != nil {
			return 0, nil, nil
		}
		b, err := d.Snapshot()
		if err != nil {
			return 0, nil, fmt.Errorf("snapshot %s: %w", g.names[i], err)
		}
		snaps[g.names[i]] = b
	}
	if len(snaps) == 0 {
		return 0, nil, nil
	}
	return seq, snaps, nil
}

// restore restores the durable views from the store; see Group.
func (g *Group) restore(ctx context.Context, last uint64) error {
	b, ok, err := g.o.Store.Get(ctx, g.manifestKey())
	if err != nil {
		return fmt.Errorf("load %s: %w", g.manifestKey(), err)
	}
	if !ok {
		return nil
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || (m.Slot != 0 && m.Slot != 1) {
		g.o.Logger.Warn("read models: snapshot manifest unreadable; rebuilding from the first event", "group", g.o.Name, "err", err)
		return nil
	}
	g.mu.Lock()
	g.slot = m.Slot
	g.mu.Unlock()
	if m.Seq > last {
		g.o.Logger.Warn("read models: snapshot beyond the end of the log (a new stream?); rebuilding from the first event",
			"group", g.o.Name, "snapshot_seq", m.Seq, "last_seq", last)
		return nil
	}
	for i, r := range g.runners {
		d, ok := r.view.(Durable)
		v, saved := m.Views[g.names[i]]
		if !ok || !saved {
			continue
		}
		data, err := g.load(ctx, m.Slot, g.names[i], v)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		r.applyMu.Lock()
		if err == nil {
			err = d.Restore(data)
		}
		if err != nil {
			d.Reset()
			r.lastSeq.Store(0)
			g.o.Logger.Warn("read models: snapshot not restored; rebuilding the view from the first event",
				"group", g.o.Name, "view", g.names[i], "err", err)
		} else {
			// Woken too: a WaitFor made before the group opened waits
			// for a sequence the snapshot may already hold.
			r.advance(m.Seq)
		}
		r.applyMu.Unlock()
	}
	g.mu.Lock()
	g.saved = m.Seq
	g.mu.Unlock()
	return nil
}

// load reads a view's snapshot from its chunks and checks it whole.
func (g *Group) load(ctx context.Context, slot int, name string, v manifestView) ([]byte, error) {
	var buf bytes.Buffer
	for i := range v.Chunks {
		b, ok, err := g.o.Store.Get(ctx, g.chunkKey(slot, name, i))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("chunk %d of %d missing", i, v.Chunks)
		}
		buf.Write(b)
	}
	sum := sha256.Sum256(buf.Bytes())
	if buf.Len() != v.Bytes || hex.EncodeToString(sum[:]) != v.SHA256 {
		return nil, fmt.Errorf("snapshot of %d bytes does not match its manifest (%d bytes)", buf.Len(), v.Bytes)
	}
	return buf.Bytes(), nil
}

// RunGroup follows log for the group alone until ctx is done.
func RunGroup(ctx context.Context, log events.Log, g *Group) error {
	f, err := follow.New(log, follow.Options{Filter: Filter, Logger: g.o.Logger})
	if err != nil {
		return err
	}
	f.Add(g)
	err = f.Run(ctx)
	if e := firstErr(g.runners); e != nil {
		return e
	}
	return err
}
