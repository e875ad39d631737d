package web

import (
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// TestSessionsExpireAndAreBounded: a session lasts its TTL and no longer;
// an ended one is gone; past SessionsMax the oldest goes first; ids and
// CSRF tokens are never reused.
func TestSessionsExpireAndAreBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ss := newSessions("operator-token-0123456789", time.Hour, func() time.Time { return now })
	id, s := ss.create()
	if got, ok := ss.get(id); !ok || got != s {
		t.Fatal("a new session is not found")
	}
	if _, ok := ss.get(id + "x"); ok {
		t.Fatal("another id finds the session")
	}
	now = now.Add(time.Hour - time.Nanosecond)
	if _, ok := ss.get(id); !ok {
		t.Fatal("the session ended before its TTL")
	}
	now = now.Add(time.Nanosecond)
	if _, ok := ss.get(id); ok {
		t.Fatal("the session outlived its TTL")
	}

	seen := map[string]bool{}
	var first string
	for i := range SessionsMax + 1 {
		id, s := ss.create()
		if seen[id] || seen[s.csrf] {
			t.Fatal("an id or a CSRF token came twice")
		}
		seen[id], seen[s.csrf] = true, true
		if i == 0 {
			first = id
		}
	}
	if len(ss.byKey) != SessionsMax || len(ss.order) != SessionsMax {
		t.Fatalf("%d sessions held (%d in order), want %d", len(ss.byKey), len(ss.order), SessionsMax)
	}
	if _, ok := ss.get(first); ok {
		t.Fatal("the oldest session stayed past the bound")
	}
	last, s := ss.create()
	ss.end(s)
	if _, ok := ss.get(last); ok {
		t.Fatal("an ended session is still found")
	}
}

// TestOperatorTokenCompared: only the operator token passes, around
// spaces a form may add.
func TestOperatorTokenCompared(t *testing.T) {
	ss := newSessions("operator-token-0123456789", time.Hour, time.Now)
	for tok, want := range map[string]bool{"operator-token-0123456789": true, " operator-token-0123456789\n": true,
		"operator-token-012345678": false, "": false, "OPERATOR-TOKEN-0123456789": false} {
		if got := ss.operator(tok); got != want {
			t.Errorf("operator(%q) = %v, want %v", tok, got, want)
		}
	}
}

// TestDistribution: the histogram counts every balance once, the top one
// in the last bin, and the Gini coefficient is 0 for equal balances and
// (n-1)/n when one agent holds everything.
func TestDistribution(t *testing.T) {
	c := events.Credits
	for name, tc := range map[string]struct {
		balances []events.Micros
		gini     string
	}{
		"none":       {nil, "0.000"},
		"equal":      {[]events.Micros{c(5), c(5), c(5), c(5)}, "0.000"},
		"one holds":  {[]events.Micros{0, 0, 0, c(100)}, "0.750"},
		"all broke":  {[]events.Micros{0, 0}, "0.000"},
		"two halves": {[]events.Micros{0, c(1)}, "0.500"},
	} {
		d := distributionOf(tc.balances)
		if d.GiniText != tc.gini {
			t.Errorf("%s: Gini %s, want %s", name, d.GiniText, tc.gini)
		}
		n := 0
		for _, b := range d.Bins {
			n += b.Agents
		}
		if n != len(tc.balances) || d.Alive != len(tc.balances) {
			t.Errorf("%s: %d agents in the bins, %d alive, want %d", name, n, d.Alive, len(tc.balances))
		}
		if len(tc.balances) > 0 && len(d.Bins) != DistributionBins {
			t.Errorf("%s: %d bins", name, len(d.Bins))
		}
	}
	d := distributionOf([]events.Micros{0, c(100)})
	if d.Bins[0].Agents != 1 || d.Bins[DistributionBins-1].Agents != 1 {
		t.Errorf("0 and the top are not in the first and last bins: %+v", d.Bins)
	}
}
