package series

import "sort"

// point is what a series holds: a value taken at a clearing cycle, in
// the order the log gave it.
type point interface {
	MarketPoint | EconomyPoint | AgentPoint
	cycleOf() uint64
	seqOf() uint64
}

func (p MarketPoint) cycleOf() uint64  { return p.Cycle }
func (p MarketPoint) seqOf() uint64    { return p.Seq }
func (p EconomyPoint) cycleOf() uint64 { return p.Cycle }
func (p EconomyPoint) seqOf() uint64   { return p.Seq }
func (p AgentPoint) cycleOf() uint64   { return p.Cycle }
func (p AgentPoint) seqOf() uint64     { return p.Seq }

// line is one series, oldest first, thinned so that it never holds more
// than its maximum: every point of the last window cycles is kept (up to
// half the maximum), older points are halved each time the maximum is
// passed, the first point always kept. So a long run keeps its recent
// part whole and its past at a resolution that falls with age, in a
// bounded number of points; and since thinning depends on nothing but the
// points pushed, a line rebuilt from the log equals the live one
// (docs/decisions.md, "History is thinned by halving, past a window").
type line[P point] struct {
	points []P
}

// push appends p and thins the line if it holds more than max points;
// window is how many recent cycles (before p's) keep every point.
func (l *line[P]) push(p P, window uint64, max int) {
	l.points = append(l.points, p)
	if len(l.points) > max {
		l.thin(p.cycleOf(), window, max)
	}
}

// thin halves the old part of the line: the points of cycles at or before
// now - window, and in any case all but the newest max/2, so that each
// thinning frees at least a quarter of the line and costs O(1) a push
// amortized. Of the old part it keeps the first point and every second
// one after it.
func (l *line[P]) thin(now, window uint64, max int) {
	n := len(l.points)
	old := n - max/2
	if now > window {
		cut := now - window
		// The points are in log order, and so of cycles that only grow.
		if k := sort.Search(n, func(i int) bool { return l.points[i].cycleOf() > cut }); k > old {
			old = k
		}
	}
	kept := 1
	for i := 2; i < old; i += 2 {
		l.points[kept] = l.points[i]
		kept++
	}
	kept += copy(l.points[kept:], l.points[old:])
	clear(l.points[kept:]) // no string left reachable in the tail
	l.points = l.points[:kept]
}

// after returns up to limit points after the cursor (a cycle, or a
// sequence when bySeq), oldest first, as a copy, and the cursor of the
// next page (0: this page reaches the end).
func (l *line[P]) after(cursor uint64, bySeq bool, limit int) ([]P, uint64) {
	key := P.cycleOf
	if bySeq {
		key = P.seqOf
	}
	i := sort.Search(len(l.points), func(i int) bool { return key(l.points[i]) > cursor })
	rest := l.points[i:]
	if len(rest) <= limit {
		return append([]P{}, rest...), 0
	}
	page := append([]P{}, rest[:limit]...)
	return page, key(page[len(page)-1])
}

// all is a copy of the points.
func (l *line[P]) all() []P { return append([]P{}, l.points...) }
