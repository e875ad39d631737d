package bidbook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/bidbook"
)

// The view is fed by the runner; this fails to compile if it stops fitting.
var _ projections.Projection = (*bidbook.View)(nil)

const pool = "main"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one event appended to the log, by default the main pool's.
type step struct {
	kind  events.Kind
	id    string
	event events.Event
}

func clearingStep(e events.Event) step { return step{events.KindClearing, pool, e} }

// fataler is what record needs of a test: testing.TB or *rapid.T.
type fataler interface{ Fatal(args ...any) }

func record(t fataler, seq uint64, s step) events.Record {
	if s.kind == "" {
		s.kind, s.id = events.KindClearing, pool
	}
	env, err := events.Encode(s.kind, s.id, s.event, events.Meta{ID: fmt.Sprintf("ev%d", seq), Time: t0.Add(time.Duration(seq) * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Seq: seq, Envelope: env}
}

func cr(c int64) events.Micros { return events.Credits(c) }

func bundle(cpu, mem, tokens int64) map[string]events.Units {
	b := map[string]events.Units{"cpu_seconds": events.WholeUnits(cpu), "memory_mb": events.WholeUnits(mem)}
	if tokens > 0 {
		b["tokens"] = events.WholeUnits(tokens)
	}
	return b
}

// listed is a bid of amount credits placed at t0 plus at seconds.
func listed(id, agent string, amount int64, at int) events.BidListed {
	return events.BidListed{BidID: id, AgentID: agent, Resources: bundle(2, 128, 0), AmountMicros: cr(amount),
		PlacedAt: t0.Add(time.Duration(at) * time.Second)}
}

func withTokens(b events.BidListed) events.BidListed {
	b.Resources = bundle(1, 64, 500)
	return b
}

// sponsored makes b a bid for beneficiary to run.
func sponsored(b events.BidListed, beneficiary string) events.BidListed {
	b.BeneficiaryID = beneficiary
	return b
}

func build(t testing.TB, steps ...step) *bidbook.Book {
	t.Helper()
	var b bidbook.Book
	for i, s := range steps {
		if err := bidbook.Apply(&b, record(t, uint64(i+1), s)); err != nil {
			t.Fatalf("step %d: %v", i+1, err)
		}
	}
	return &b
}

func steps(es ...events.Event) []step {
	out := make([]step, len(es))
	for i, e := range es {
		out[i] = clearingStep(e)
	}
	return out
}

// ids pages through the whole book (or one resource's part) and returns
// the bid ids in order.
func ids(t testing.TB, b *bidbook.Book, resource string, limit int) []string {
	t.Helper()
	var out []string
	cursor := ""
	for range 10_000 {
		page, next, err := b.Page(resource, limit, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, bid := range page {
			out = append(out, bid.ID)
		}
		if next == "" {
			return out
		}
		if len(page) != limit {
			t.Fatalf("a page of %d with a next cursor, want full pages of %d", len(page), limit)
		}
		cursor = next
	}
	t.Fatal("paging does not end")
	return nil
}

func TestApply(t *testing.T) {
	tests := []struct {
		name   string
		given  []step
		want   []string // the book in clearing order
		counts map[string]int
	}{
		{
			name: "listing orders by amount, then time placed, then id",
			given: steps(
				listed("b-c", "a", 10, 5),
				listed("b-a", "a", 12, 9),
				listed("b-d", "b", 10, 3),
				listed("b-b", "b", 10, 3),
			),
			want:   []string{"b-a", "b-b", "b-d", "b-c"},
			counts: map[string]int{"cpu_seconds": 4, "memory_mb": 4, "tokens": 0},
		},
		{
			name: "a raise moves a bid up",
			given: steps(
				listed("b-1", "a", 10, 1),
				listed("b-2", "a", 20, 2),
				listed("b-3", "b", 30, 3),
				events.BidRaised{BidID: "b-1", AmountMicros: cr(25)},
			),
			want: []string{"b-3", "b-1", "b-2"},
		},
		{
			name: "a raise to an equal amount orders by time",
			given: steps(
				listed("b-1", "a", 10, 5),
				listed("b-2", "a", 20, 9),
				events.BidRaised{BidID: "b-1", AmountMicros: cr(20)},
			),
			want: []string{"b-1", "b-2"},
		},
		{
			name: "a raise of a bid not in the book changes nothing",
			given: steps(
				listed("b-1", "a", 10, 1),
				events.BidRaised{BidID: "b-9", AmountMicros: cr(25)},
			),
			want: []string{"b-1"},
		},
		{
			name: "a withdrawn bid leaves",
			given: steps(
				listed("b-1", "a", 10, 1),
				listed("b-2", "a", 20, 2),
				events.BidWithdrawn{BidID: "b-2", AgentID: "a", AmountMicros: cr(20), Reason: "withdrawn"},
				events.BidWithdrawn{BidID: "b-2", AgentID: "a", AmountMicros: cr(20), Reason: "twice"},
			),
			want:   []string{"b-1"},
			counts: map[string]int{"cpu_seconds": 1},
		},
		{
			name: "a dead agent's cancelled bids leave, others stay",
			given: steps(
				listed("b-1", "a", 10, 1),
				listed("b-2", "b", 20, 2),
				listed("b-3", "a", 30, 3),
				events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1", "b-3"}},
			),
			want: []string{"b-2"},
		},
		{
			// The beneficiary of b-2 died: the clearing cancels the bid its
			// sponsor placed for it (clearing.Evolve), and so must the book.
			name: "a dead beneficiary's sponsored bids leave with it",
			given: steps(
				listed("b-1", "a", 10, 1),
				sponsored(listed("b-2", "b", 20, 2), "a"),
				listed("b-3", "b", 30, 3),
				events.BidsCancelled{AgentID: "a", BidIDs: []string{"b-1"}, Sponsored: []events.BidRef{{BidID: "b-2", AgentID: "b"}}},
			),
			want:   []string{"b-3"},
			counts: map[string]int{"cpu_seconds": 1},
		},
		{
			name: "allocated bids leave; those that did not fit stay",
			given: steps(
				listed("b-1", "a", 10, 1),
				withTokens(listed("b-2", "b", 20, 2)),
				listed("b-3", "c", 30, 3),
				events.CycleCleared{Cycle: 1, At: t0, Allocations: []events.Allocation{
					{BidID: "b-3", ExecutionID: "x-b-3", AgentID: "c", Resources: bundle(2, 128, 0), AmountMicros: cr(30)},
					{BidID: "b-2", ExecutionID: "x-b-2", AgentID: "b", Resources: bundle(1, 64, 500), AmountMicros: cr(20)},
				}},
			),
			want:   []string{"b-1"},
			counts: map[string]int{"cpu_seconds": 1, "tokens": 0},
		},
		{
			name: "a rejected bid never enters",
			given: steps(
				events.BidRejected{BidID: "b-1", AgentID: "a", AmountMicros: cr(1), Reason: "below the reserve"},
			),
			counts: map[string]int{"cpu_seconds": 0},
		},
		{
			name: "a bid listed again replaces its first listing",
			given: steps(
				listed("b-1", "a", 10, 1),
				listed("b-2", "a", 20, 2),
				withTokens(listed("b-1", "a", 30, 3)),
			),
			want:   []string{"b-1", "b-2"},
			counts: map[string]int{"cpu_seconds": 2, "tokens": 1},
		},
		{
			name: "another pool's events do not touch this pool's bids",
			given: []step{
				clearingStep(listed("b-1", "a", 10, 1)),
				{events.KindClearing, "other", events.BidWithdrawn{BidID: "b-1", AgentID: "a"}},
				{events.KindClearing, "other", events.BidRaised{BidID: "b-1", AmountMicros: cr(99)}},
			},
			want: []string{"b-1"},
		},
		{
			name: "agent and market events are not the book's",
			given: []step{
				clearingStep(listed("b-1", "a", 10, 1)),
				{events.KindAgent, "a", events.HoldVoided{HoldID: "b-1", AmountMicros: cr(10)}},
				{events.KindAgent, "a", events.AgentDied{Reason: "broke", VoidedHolds: []string{"b-1"}}},
				{events.KindMarket, "cpu_seconds", events.LeaseReleased{ExecutionID: "x-b-1", Units: 1}},
			},
			want: []string{"b-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := build(t, tt.given...)
			for _, limit := range []int{1, 2, bidbook.BidsPageMax} {
				if got := ids(t, b, "", limit); !slices.Equal(got, tt.want) {
					t.Fatalf("limit %d: book %v, want %v", limit, got, tt.want)
				}
			}
			if b.Count() != len(tt.want) {
				t.Errorf("Count %d, want %d", b.Count(), len(tt.want))
			}
			for r, want := range tt.counts {
				if got := b.CountFor(r); got != want {
					t.Errorf("CountFor(%s) = %d, want %d", r, got, want)
				}
				if got := len(ids(t, b, r, 3)); got != want {
					t.Errorf("Page(%s) holds %d bids, want %d", r, got, want)
				}
			}
		})
	}
}

func TestBidFields(t *testing.T) {
	b := build(t, steps(
		events.BidListed{BidID: "b-1", AgentID: "a", BeneficiaryID: "child", Resources: bundle(2, 128, 500),
			AmountMicros: cr(45), Payload: "secret plan", PlacedAt: t0},
		events.BidRaised{BidID: "b-1", AmountMicros: events.Micros(50_500_000)},
	)...)
	got, ok := b.Get("b-1")
	want := bidbook.Bid{ID: "b-1", Pool: pool, AgentID: "a", BeneficiaryID: "child", Resources: bundle(2, 128, 500),
		AmountMicros: events.Micros(50_500_000), PlacedAt: t0}
	if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Get = %+v, %v; want %+v", got, ok, want)
	}
	if got.Runner() != "child" {
		t.Errorf("Runner %s, want the beneficiary", got.Runner())
	}
	got.Resources["cpu_seconds"] = 0 // a copy: the book is not changed
	if again, _ := b.Get("b-1"); again.Resources["cpu_seconds"] != events.WholeUnits(2) {
		t.Fatal("Get handed out the book's own map")
	}
	if _, ok := b.Get("b-2"); ok {
		t.Fatal("Get found a bid never listed")
	}

	js, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"bid_id":"b-1","pool":"main","agent_id":"a","beneficiary_id":"child",` +
		`"resources":{"cpu_seconds":2,"memory_mb":128,"tokens":500},"amount":50.5,` +
		`"placed_at":"2030-01-02T03:04:05Z","status":"open"}`
	if string(js) != wantJSON {
		t.Fatalf("JSON\n got %s\nwant %s", js, wantJSON)
	}
	if strings.Contains(string(js), "secret") {
		t.Fatal("the payload is private to the bidder")
	}
	var back bidbook.Bid
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(want) {
		t.Fatalf("round trip %+v, want %+v", back, want)
	}
}

// TestPagingIsStable pages through a book that changes between pages: no
// bid that stays is shown twice or skipped, a bid that left is not shown,
// and a new bid is shown if and only if it sorts after the cursor.
func TestPagingIsStable(t *testing.T) {
	var given []step
	for i := range 20 { // amounts 20, 19, ..., 1: order b-00 ... b-19
		given = append(given, clearingStep(listed(fmt.Sprintf("b-%02d", i), "a", int64(20-i), i)))
	}
	b := build(t, given...)
	seq := uint64(len(given))
	apply := func(e events.Event) {
		t.Helper()
		seq++
		if err := bidbook.Apply(b, record(t, seq, clearingStep(e))); err != nil {
			t.Fatal(err)
		}
	}

	page1, next, err := b.Page("", 5, "")
	if err != nil || next == "" {
		t.Fatalf("first page: %v, next %q", err, next)
	}
	var seen []string
	for _, bid := range page1 {
		seen = append(seen, bid.ID)
	}
	if !slices.Equal(seen, []string{"b-00", "b-01", "b-02", "b-03", "b-04"}) {
		t.Fatalf("first page %v", seen)
	}
	apply(events.BidWithdrawn{BidID: "b-04", AgentID: "a"}) // the cursor's own bid leaves
	apply(events.BidWithdrawn{BidID: "b-01", AgentID: "a"}) // a bid already shown leaves
	apply(events.BidWithdrawn{BidID: "b-07", AgentID: "a"}) // a bid not yet shown leaves
	apply(listed("b-new-high", "z", 100, 50))               // sorts before the cursor: not shown
	apply(listed("b-new-low", "z", 1, 50))                  // sorts after b-19 (same amount, later)
	apply(events.CycleCleared{Cycle: 1, At: t0, Allocations: []events.Allocation{{BidID: "b-10"}}})
	apply(events.BidRaised{BidID: "b-12", AmountMicros: cr(10) + 1}) // moves up past b-11, still after the cursor

	for next != "" {
		var page []bidbook.Bid
		if page, next, err = b.Page("", 5, next); err != nil {
			t.Fatal(err)
		}
		for _, bid := range page {
			seen = append(seen, bid.ID)
		}
	}
	want := []string{"b-00", "b-01", "b-02", "b-03", "b-04", // the first page as it was shown
		"b-05", "b-06", "b-08", "b-09", "b-12", "b-11", "b-13", "b-14", "b-15", "b-16", "b-17", "b-18", "b-19", "b-new-low"}
	if !slices.Equal(seen, want) {
		t.Fatalf("paged\n %v\nwant\n %v", seen, want)
	}
}

func TestResourceFilter(t *testing.T) {
	var given []step
	for i := range 30 {
		l := listed(fmt.Sprintf("b-%02d", i), "a", int64(100-i), i)
		if i%3 == 0 {
			l = withTokens(l)
		}
		given = append(given, clearingStep(l))
	}
	b := build(t, given...)
	want := []string{"b-00", "b-03", "b-06", "b-09", "b-12", "b-15", "b-18", "b-21", "b-24", "b-27"}
	for _, limit := range []int{1, 4, 10, 11} {
		if got := ids(t, b, "tokens", limit); !slices.Equal(got, want) {
			t.Fatalf("tokens, limit %d: %v, want %v", limit, got, want)
		}
	}
	if got := len(ids(t, b, "cpu_seconds", 7)); got != 30 {
		t.Fatalf("cpu_seconds: %d bids, want 30", got)
	}
	if b.CountFor("tokens") != 10 || b.CountFor("cpu_seconds") != 30 || b.CountFor("gpu") != 0 || b.Count() != 30 {
		t.Fatalf("counts: tokens %d, cpu %d, gpu %d, all %d", b.CountFor("tokens"), b.CountFor("cpu_seconds"), b.CountFor("gpu"), b.Count())
	}
	page, next, err := b.Page("gpu", 10, "")
	if err != nil || len(page) != 0 || next != "" {
		t.Fatalf("a resource no bid names: %v, %q, %v", page, next, err)
	}
	// A cursor from the whole book's pages serves a filtered page too: it is
	// a position in the order, not in one list.
	_, next, _ = b.Page("", 4, "")
	page, _, err = b.Page("tokens", 2, next)
	if err != nil || len(page) != 2 || page[0].ID != "b-06" || page[1].ID != "b-09" {
		t.Fatalf("tokens after b-03: %+v, %v", page, err)
	}
}

func TestPageRefusesBadInput(t *testing.T) {
	b := build(t, steps(listed("b-1", "a", 10, 1), listed("b-2", "a", 9, 2))...)
	_, next, err := b.Page("", 1, "")
	if err != nil || next == "" {
		t.Fatal(err)
	}
	forged := func(s string) string { return base64URL(s) }
	tests := []struct {
		name     string
		resource string
		limit    int
		cursor   string
		want     error
	}{
		{"limit zero", "", 0, "", bidbook.ErrInvalidLimit},
		{"negative limit", "", -1, "", bidbook.ErrInvalidLimit},
		{"limit above the page maximum", "", bidbook.BidsPageMax + 1, "", bidbook.ErrInvalidLimit},
		{"not base64", "", 10, "%%%", bidbook.ErrInvalidCursor},
		{"not a cursor", "", 10, forged("hello"), bidbook.ErrInvalidCursor},
		{"an unknown cursor version", "", 10, forged("9|1|2030-01-02T03:04:05Z|b-1"), bidbook.ErrInvalidCursor},
		{"a bad amount", "", 10, forged("1|x|2030-01-02T03:04:05Z|b-1"), bidbook.ErrInvalidCursor},
		{"a bad time", "", 10, forged("1|1|yesterday|b-1"), bidbook.ErrInvalidCursor},
		{"a bad id", "", 10, forged("1|1|2030-01-02T03:04:05Z|B.1"), bidbook.ErrInvalidCursor},
		{"a huge cursor", "", 10, strings.Repeat("A", 1000), bidbook.ErrInvalidCursor},
		{"a resource that is not an id", "CPU.seconds", 10, "", events.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, next, err := b.Page(tt.resource, tt.limit, tt.cursor)
			if !errors.Is(err, tt.want) || page != nil || next != "" {
				t.Fatalf("Page = %v, %q, %v; want %v", page, next, err, tt.want)
			}
		})
	}
	if page, _, err := b.Page("", bidbook.BidsPageMax, next); err != nil || len(page) != 1 || page[0].ID != "b-2" {
		t.Fatalf("the largest page after a good cursor: %+v, %v", page, err)
	}
}

func TestApplyRefusesWhatItCannotRead(t *testing.T) {
	good := record(t, 1, clearingStep(listed("b-1", "a", 10, 1))).Envelope
	mismatched := good
	mismatched.Type = "bid_raised"
	malformed := good
	malformed.Subject = "events.clearing.main"
	badPool := good
	badPool.Subject = "events.clearing.Main.bid_listed"
	badData := good
	badData.Data = []byte(`{"amount_micros":"ten"}`)
	for name, env := range map[string]events.Envelope{"type mismatch": mismatched, "short subject": malformed,
		"pool not an id": badPool, "undecodable": badData} {
		t.Run(name, func(t *testing.T) {
			var b bidbook.Book
			if err := bidbook.Apply(&b, events.Record{Seq: 1, Envelope: env}); err == nil {
				t.Fatal("applied")
			}
			if b.Count() != 0 {
				t.Fatal("a refused record changed the book")
			}
		})
	}
}

// TestBidsLeftAreReused lists bids while others leave, as a busy book
// does, so that the bids indexed reuse those that left: every page and
// resource filter shows exactly the open bids, with their own fields, and
// a bid read before its slot was reused keeps what it read.
func TestBidsLeftAreReused(t *testing.T) {
	var b bidbook.Book
	var seq uint64
	apply := func(e events.Event) {
		seq++
		if err := bidbook.Apply(&b, record(t, seq, clearingStep(e))); err != nil {
			t.Fatal(err)
		}
	}
	open := map[string]events.BidListed{}
	for i := range 40 {
		l := listed(fmt.Sprintf("b-%03d", i), fmt.Sprintf("a-%d", i%3), int64(i%7+1), i)
		if i%2 == 0 {
			l = withTokens(l)
		}
		apply(l)
		open[l.BidID] = l
	}
	read, _ := b.Get("b-004")
	for i := range 40 {
		if i%4 == 0 {
			apply(events.CycleCleared{Cycle: uint64(i + 1), Allocations: []events.Allocation{{BidID: fmt.Sprintf("b-%03d", i)}}})
			delete(open, fmt.Sprintf("b-%03d", i))
		}
		l := listed(fmt.Sprintf("c-%03d", i), "z", int64(i%5+10), 100+i)
		if i%3 == 0 {
			l = withTokens(l)
		}
		apply(l)
		open[l.BidID] = l
	}
	if read.ID != "b-004" || read.AgentID != "a-1" || read.Resources["tokens"] != events.WholeUnits(500) {
		t.Errorf("a bid read before it left changed: %+v", read)
	}
	all := ids(t, &b, "", 7)
	tokens := ids(t, &b, "tokens", 3)
	if len(all) != len(open) || b.Count() != len(open) {
		t.Fatalf("%d bids paged, count %d; want %d", len(all), b.Count(), len(open))
	}
	wantTokens := 0
	for id, l := range open {
		got, ok := b.Get(id)
		if !ok || got.AgentID != l.AgentID || got.AmountMicros != l.AmountMicros || !got.PlacedAt.Equal(l.PlacedAt) ||
			len(got.Resources) != len(l.Resources) {
			t.Errorf("bid %s = %+v, %v; want %+v", id, got, ok, l)
		}
		if _, ok := l.Resources["tokens"]; ok {
			wantTokens++
		}
	}
	if len(tokens) != wantTokens || b.CountFor("tokens") != wantTokens {
		t.Errorf("%d bids with tokens paged, counted %d; want %d", len(tokens), b.CountFor("tokens"), wantTokens)
	}
	for i := 1; i < len(all); i++ {
		x, _ := b.Get(all[i-1])
		y, _ := b.Get(all[i])
		if bidbook.Order(x, y) >= 0 {
			t.Errorf("%s before %s is out of the clearing order", x.ID, y.ID)
		}
	}
}
