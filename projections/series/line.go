package series

import "sort"

// point is what a series holds: a value taken at a clearing cycle, in
// the order the log gave it.
type point interface {
	MarketPoint | EconomyPoint | agentPoint
	cycleOf() uint64
	seqOf() uint64
}

func (p MarketPoint) cycleOf() uint64  { return p.Cycle }
func (p MarketPoint) seqOf() uint64    { return p.Seq }
func (p EconomyPoint) cycleOf() uint64 { return p.Cycle }
func (p EconomyPoint) seqOf() uint64   { return p.Seq }
func (p agentPoint) cycleOf() uint64   { return p.cycle }
func (p agentPoint) seqOf() uint64     { return p.seq }

// line is one series, oldest first, in two parts. recent holds every
// point of the last window cycles, up to half the line's maximum; a point
// that leaves it (older than the window, or pushed out by newer ones)
// joins old, which keeps one point in every stride of them, evenly spaced,
// from the first. When old outgrows the other half, every second point of
// it goes and the stride doubles. So a long run keeps its recent part
// whole and its whole past at one even resolution that halves as the run
// doubles, in a bounded number of points, the first always kept; and since
// the thinning depends on nothing but the points pushed, a line rebuilt
// from the log equals the live one (docs/decisions.md, "History is thinned
// by halving, past a window").
type line[P point] struct {
	old    []P
	recent []P
	// stride is how many points leaving recent make one of old; gap how
	// many have left since the last one old kept.
	stride uint64
	gap    uint64
}

// push appends p, the newest point; window is how many cycles up to p's
// keep every point, max the most points of the line (at least PointsMin).
func (l *line[P]) push(p P, window uint64, max int) {
	l.recent = append(l.recent, p)
	now := p.cycleOf()
	for len(l.recent) > max/2 || now > window && l.recent[0].cycleOf() <= now-window {
		q := l.recent[0]
		var zero P
		l.recent[0] = zero // no string left reachable in the array's head
		l.recent = l.recent[1:]
		l.retire(q, max-max/2)
	}
}

// retire moves q, leaving recent, into old: kept if it ends a stride (or
// is the first), and old halved if that takes it past oldMax.
func (l *line[P]) retire(q P, oldMax int) {
	if l.stride == 0 {
		l.stride = 1
	}
	if len(l.old) > 0 && l.gap+1 < l.stride {
		l.gap++
		return
	}
	l.old = append(l.old, q)
	l.gap = 0
	if len(l.old) <= oldMax {
		return
	}
	// Keep the points at even places; if the last one goes, the points
	// since the one kept before it count towards the next.
	last := len(l.old) - 1
	kept := 0
	for i := 0; i < len(l.old); i += 2 {
		l.old[kept] = l.old[i]
		kept++
	}
	clear(l.old[kept:])
	l.old = l.old[:kept]
	if last%2 == 1 {
		l.gap += l.stride
	}
	l.stride *= 2
}

// len is how many points the line holds.
func (l *line[P]) len() int { return len(l.old) + len(l.recent) }

// at is the i-th point, oldest first.
func (l *line[P]) at(i int) P {
	if i < len(l.old) {
		return l.old[i]
	}
	return l.recent[i-len(l.old)]
}

// after returns up to limit points after the cursor (a cycle, or a
// sequence when bySeq), oldest first, as a copy, and the cursor of the
// next page (0: this page reaches the end).
func (l *line[P]) after(cursor uint64, bySeq bool, limit int) ([]P, uint64) {
	key := P.cycleOf
	if bySeq {
		key = P.seqOf
	}
	n := l.len()
	i := sort.Search(n, func(i int) bool { return key(l.at(i)) > cursor })
	end := min(n, i+limit)
	page := make([]P, 0, end-i)
	for ; i < end; i++ {
		page = append(page, l.at(i))
	}
	if end == n {
		return page, 0
	}
	return page, key(page[len(page)-1])
}
