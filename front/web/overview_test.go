package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/economy"
)

// TestOverviewShowsWhatTheOperatorAPIAnswers: every figure of the
// overview is the figure GET /admin/status and GET /admin/markets answer,
// written the same way, for an empty economy and a populated one.
func TestOverviewShowsWhatTheOperatorAPIAnswers(t *testing.T) {
	s := serve(t)
	b := s.loggedIn()
	check := func(when string) {
		t.Helper()
		if err := s.eco.Sync(s.ctx); err != nil {
			t.Fatal(err)
		}
		var status economy.Summary
		s.operator(http.MethodGet, "/admin/status", nil, &status)
		var mkts system.MarketState
		s.operator(http.MethodGet, "/admin/markets", nil, &mkts)
		a := b.get("/")
		if a.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET / %d\n%s", when, a.StatusCode, a.body)
		}
		want := map[string]string{
			"cycle":              strconv.FormatUint(mkts.Cycle, 10),
			"agents-alive":       strconv.Itoa(status.AgentsAlive),
			"agents-total":       strconv.Itoa(status.Agents),
			"credits-minted":     status.MintedMicros.String(),
			"credits-burned":     status.BurnedMicros.String(),
			"credits-in-flight":  status.InFlightMicros.String(),
			"credits-balance":    status.BalanceMicros.String(),
			"events":             strconv.FormatUint(status.Events, 10),
			"open-bids":          strconv.Itoa(status.OpenBids),
			"executions-running": strconv.Itoa(status.ExecutionsRunning),
			"executions-started": strconv.FormatInt(status.ExecutionsStarted, 10),
		}
		for _, m := range mkts.Markets {
			p := "market-" + m.Resource + "-"
			want[p+"supply"], want[p+"leased"] = m.Supply.String(), m.Leased.String()
			want[p+"price"], want[p+"bids"] = m.Price.String(), strconv.Itoa(m.ActiveBids)
			if got, _ := attr(a.body, p+"utilization", "data-value"); got != m.Utilization.String() {
				t.Errorf("%s: utilization of %s %q, the API says %s", when, m.Resource, got, m.Utilization)
			}
		}
		for id, w := range want {
			if got, ok := byID(a.body, id); !ok || got != w {
				t.Errorf("%s: #%s is %q (found %v), the API says %q", when, id, got, ok, w)
			}
		}
		if n := strings.Count(a.body, `class="market"`); n != len(mkts.Markets) {
			t.Errorf("%s: %d markets shown, the API has %d", when, n, len(mkts.Markets))
		}
	}
	check("empty")
	s.populate()
	check("populated")
	var status economy.Summary
	s.operator(http.MethodGet, "/admin/status", nil, &status)
	if status.AgentsAlive != 2 || status.MintedMicros != events.Credits(150) {
		t.Fatalf("the populated economy is not what the test made: %+v", status)
	}
	// The feed shows the newest money movements of GET /admin/history.
	var hist operator.HistoryOutput
	s.operator(http.MethodGet, "/admin/history?limit=20", nil, &hist.Body)
	page := b.get("/").body
	for _, tx := range hist.Body.Transactions {
		if !strings.Contains(page, `data-seq="`+strconv.FormatUint(tx.Seq, 10)+`"`) {
			t.Errorf("the feed lacks the movement at seq %d (%s of %s)", tx.Seq, tx.Kind, tx.AgentID)
		}
	}
}

// TestStreamSendsWhatMoves: the overview's stream sends the overview's
// parts at once, then again after a grant and after a bid, with the new
// figures: the grant in the feed and the minted credits, the bid in its
// market's open bids.
func TestStreamSendsWhatMoves(t *testing.T) {
	s := serve(t)
	s.populate()
	b := s.loggedIn()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/ui/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The stream lasts: a client without the browser's timeout.
	res, err := (&http.Client{Jar: b.http.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /ui/events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	stream := sseReader{r: bufio.NewReader(res.Body), latest: map[string]string{}}
	first := stream.until(t, func(l map[string]string) bool { return l["totals"] != "" })
	if got, _ := byID(first["totals"], "credits-minted"); got != "150" {
		t.Fatalf("the first update says %q minted, want 150:\n%s", got, first["totals"])
	}

	s.operator(http.MethodPost, "/admin/agents/alice/fund", map[string]any{"amount": 5, "reason": "seen-in-the-stream"}, nil)
	stream.until(t, func(l map[string]string) bool {
		v, _ := byID(l["totals"], "credits-minted")
		return v == "155" && strings.Contains(l["feed"], "seen-in-the-stream")
	})

	s.bid("bob", 1, 9)
	stream.until(t, func(l map[string]string) bool { v, _ := byID(l["markets"], "market-cpu_seconds-bids"); return v == "2" })

	// A transfer: sent, then received (the transfer manager's reaction).
	if _, err := s.eco.Accounts().Transfer(s.ctx, "alice", "", agent.Transfer{TransferID: "t-stream", To: "bob",
		AmountMicros: events.Credits(3), Memo: "seen-as-a-transfer"}); err != nil {
		t.Fatal(err)
	}
	stream.until(t, func(l map[string]string) bool {
		return strings.Contains(l["feed"], "kind-transfer_out") && strings.Contains(l["feed"], "kind-transfer_in")
	})
}

// sseReader reads server-sent events, keeping the latest data of each
// event name.
type sseReader struct {
	r      *bufio.Reader
	latest map[string]string
}

// next returns the next event's name and data (its data lines joined).
func (e sseReader) next(t *testing.T) (string, string) {
	t.Helper()
	var name string
	var data []string
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			t.Fatalf("the stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if name != "" || data != nil {
				return name, strings.Join(data, "\n")
			}
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

// until reads events until the latest of each satisfy ok, and returns
// them. The test's deadline bounds the wait.
func (e sseReader) until(t *testing.T, ok func(map[string]string) bool) map[string]string {
	t.Helper()
	for !ok(e.latest) {
		n, d := e.next(t)
		e.latest[n] = d
	}
	return e.latest
}

// TestStreamEndsWhenTheEconomyStops: a stop ends the open streams (the
// HTTP server's shutdown waits for handlers, and a stream never ends on
// its own).
func TestStreamEndsWhenTheEconomyStops(t *testing.T) {
	s := serve(t)
	b := s.loggedIn()
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.base+"/ui/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Jar: b.http.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := sseReader{r: bufio.NewReader(res.Body), latest: map[string]string{}}
	r.until(t, func(l map[string]string) bool { return l["feed"] != "" })
	s.stop()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatalf("the stream broke instead of ending: %v", err)
	}
}

// TestAttentionStreamShowsNewPrompts: the attention page's stream sends
// the active prompt with its rating form when a prompt becomes active,
// the waiting ones as they queue, and never the active prompt again while
// it stays the one the page shows (a rating being typed is kept).
func TestAttentionStreamShowsNewPrompts(t *testing.T) {
	s := serve(t)
	b := s.loggedIn()
	if a := b.get("/ui/events?view=nonsense"); a.StatusCode != http.StatusBadRequest {
		t.Fatalf("GET /ui/events?view=nonsense: %d, want 400", a.StatusCode)
	}
	token := csrf(t, b.get("/ui/attention").body)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.base+"/ui/events?view=attention&active=", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Jar: b.http.Jar}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := sseReader{r: bufio.NewReader(res.Body), latest: map[string]string{}}
	r.until(t, func(l map[string]string) bool { return l["attention-summary"] != "" })
	if _, sent := r.latest["attention-active"]; sent {
		t.Fatalf("the stream sent the active prompt the page shows (none): %s", r.latest["attention-active"])
	}

	id := s.withPrompt()
	active := r.until(t, func(l map[string]string) bool { return strings.Contains(l["attention-active"], id) })["attention-active"]
	if !strings.Contains(active, `id="rating"`) || !strings.Contains(active, `value="`+token+`"`) {
		t.Fatalf("the active prompt came without its form and the session's CSRF token:\n%s", active)
	}
	delete(r.latest, "attention-active")

	if _, _, _, err := s.eco.Attention().Place(s.ctx, "poet", "second", "And another thing.", events.Credits(60)); err != nil {
		t.Fatal(err)
	}
	r.until(t, func(l map[string]string) bool {
		v, _ := byID(l["attention-summary"], "attention-waiting")
		return v == "1" && strings.Contains(l["attention-queue"], `class="queued"`)
	})
	if a, sent := r.latest["attention-active"]; sent {
		t.Fatalf("the stream sent the active prompt again while it stayed: %s", a)
	}
}
