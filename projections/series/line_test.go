package series

import "testing"

func marketAt(cycle uint64) MarketPoint { return MarketPoint{Cycle: cycle, Seq: cycle * 10} }

// A line of one point a cycle, over a long run: never more than its
// maximum; the first point kept, and every point of the window.
func TestALineKeepsItsWindowAndItsFirstPointInABoundedCount(t *testing.T) {
	const max, window, run = 100, 10, 100_000
	var l line[MarketPoint]
	for c := uint64(1); c <= run; c++ {
		l.push(marketAt(c), window, max)
		if l.len() > max {
			t.Fatalf("cycle %d: %d points, max %d", c, l.len(), max)
		}
	}
	points, _ := l.after(0, false, max)
	if first := points[0].Cycle; first != 1 {
		t.Fatalf("first point of cycle %d, want 1", first)
	}
	n := len(points)
	for i := range window {
		if got, want := points[n-1-i].Cycle, uint64(run-i); got != want {
			t.Fatalf("window: point %d from the end is of cycle %d, want %d", i, got, want)
		}
	}
	// The past is thinned evenly, not dropped: one stride between
	// consecutive old points, whatever their age.
	stride := l.old[1].Cycle - l.old[0].Cycle
	for i := 1; i < len(l.old); i++ {
		if d := l.old[i].Cycle - l.old[i-1].Cycle; d != stride {
			t.Fatalf("old points %d and %d are %d cycles apart, the others %d: %v", i-1, i, d, stride, l.old)
		}
	}
	if n < max/2 || uint64(len(l.old))*stride < run-window-2*stride {
		t.Fatalf("%d points, %d old with a stride of %d: the past is not covered", n, len(l.old), stride)
	}
}

// An agent's line has many points a cycle: the window then keeps its
// newest half of the maximum whole, and the line stays bounded.
func TestALineOfManyPointsACycleStaysBounded(t *testing.T) {
	const max, window = 40, 1000
	var l line[agentPoint]
	for seq := uint64(1); seq <= 10_000; seq++ {
		l.push(agentPoint{seq: seq, cycle: seq / 50}, window, max)
		if l.len() > max {
			t.Fatalf("seq %d: %d points", seq, l.len())
		}
	}
	points, _ := l.after(0, true, max)
	n := len(points)
	if points[0].seq != 1 || points[n-1].seq != 10_000 {
		t.Fatalf("first %d, last %d", points[0].seq, points[n-1].seq)
	}
	for i := range max / 2 {
		if got := points[n-1-i].seq; got != uint64(10_000-i) {
			t.Fatalf("the newest half: point %d from the end is seq %d", i, got)
		}
	}
}

// Pages after a cursor put the whole line back together, oldest first,
// and the last page has no next cursor.
func TestPagesAfterACursorCoverTheLine(t *testing.T) {
	var l line[MarketPoint]
	for c := uint64(1); c <= 25; c++ {
		l.push(marketAt(c), 100, 100)
	}
	var got []uint64
	cursor, pages := uint64(0), 0
	for {
		page, next := l.after(cursor, false, 10)
		pages++
		for _, p := range page {
			got = append(got, p.Cycle)
		}
		if next == 0 {
			break
		}
		if next != page[len(page)-1].Cycle {
			t.Fatalf("next cursor %d, the page ends at %d", next, page[len(page)-1].Cycle)
		}
		cursor = next
	}
	if pages != 3 || len(got) != 25 || got[0] != 1 || got[24] != 25 {
		t.Fatalf("%d pages: %v", pages, got)
	}
	if page, next := l.after(25, false, 10); len(page) != 0 || next != 0 {
		t.Fatalf("after the end: %v, %d", page, next)
	}
	if page, next := l.after(200, true, 10); len(page) != 5 || page[0].Seq != 210 || next != 0 {
		t.Fatalf("after seq 200: %v, %d", page, next)
	}
	// A page is a copy: changing it leaves the line alone.
	page, _ := l.after(0, false, 1)
	page[0].Cycle = 99
	if l.at(0).Cycle != 1 {
		t.Fatal("a page shares the line's points")
	}
}
