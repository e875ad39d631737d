package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/front/web"
)

// everyPage is every page of the dashboard with what each must show of
// the populated economy (populate, then withFamily and withPrompt).
var everyPage = map[string][]string{
	"/":                                  {`id="overview"`, `data-resource="cpu_seconds"`},
	"/ui/charts":                         {`id="chart-market-cpu_seconds"`, `id="gini"`, `id="chart-population"`},
	"/ui/agents":                         {`data-id="alice"`, `data-id="bob"`, `data-id="kid"`},
	"/ui/agents?sort=balance&order=desc": {`class="sort-balance sorted desc"`},
	"/ui/agents/alice":                   {`id="agent"`, `id="last-execution"`, `class="cause"`, `id="moves"`, `class="execution"`},
	"/ui/agents/kid":                     {`id="lineage"`, `href="/ui/agents/alice"`, `class="message"`, `message 0`, `id="messages-next"`},
	"/ui/tree":                           {`id="tree"`, `data-id="kid"`},
	"/ui/bids":                           {`id="bids"`, `class="bid"`},
	"/ui/bids?resource=memory_mb":        {`id="bids-total"`},
	"/ui/transactions":                   {`class="transaction kind-message_cost"`, `id="page-next"`},
	"/ui/transactions?page=2":            {`class="transaction kind-`, `id="page-prev"`},
	"/ui/transactions?agent=bob":         {`class="transaction kind-grant"`},
	"/ui/attention":                      {`id="active-prompt"`, `id="rating"`},
}

// everyData is what the pages load, each a JSON answer.
var everyData = []string{"/ui/data/history/markets", "/ui/data/history/economy", "/ui/data/agents/alice/history",
	"/ui/data/distribution"}

// withFamily adds kid, alice's child, to a populated economy.
func (s *server) withFamily() {
	s.t.Helper()
	if _, err := s.eco.Accounts().Do(s.ctx, "kid", "", agent.Create{ParentID: "alice", Lineage: []string{"alice"},
		GrantMicros: events.Credits(10), Reason: "operator"}); err != nil {
		s.t.Fatal(err)
	}
}

// withPrompt has poet (created for it) ask for the human's attention and
// returns the prompt's id, active at once.
func (s *server) withPrompt() string {
	s.t.Helper()
	if _, err := s.eco.Accounts().Do(s.ctx, "poet", "", agent.Create{GrantMicros: events.Credits(200), Reason: "operator"}); err != nil {
		s.t.Fatal(err)
	}
	id, status, _, err := s.eco.Attention().Place(s.ctx, "poet", "poem", "Markets are quiet.\nBuy cpu_seconds now.", events.Credits(60))
	if err != nil || status != "active" {
		s.t.Fatalf("place a prompt: %s %s %v", id, status, err)
	}
	if err := s.eco.Sync(s.ctx); err != nil {
		s.t.Fatal(err)
	}
	return id
}

// withMessages has poet (withPrompt) send kid (withFamily) more messages
// than an agent's page shows at once, and waits for their delivery.
func (s *server) withMessages() {
	s.t.Helper()
	n := web.AgentMessagesShown + 1
	for i := range n {
		if _, err := s.eco.Accounts().SendMessage(s.ctx, "poet", "", agent.SendMessage{MessageID: fmt.Sprintf("m-%d", i), To: "kid",
			Content: fmt.Sprintf("message %d", i), CostMicros: events.Credits(1), InboxLimit: 1000}); err != nil {
			s.t.Fatal(err)
		}
	}
	for {
		if err := s.ctx.Err(); err != nil {
			s.t.Fatalf("the messages were not delivered: %v", err)
		}
		if err := s.eco.Sync(s.ctx); err != nil {
			s.t.Fatal(err)
		}
		all, _, err := s.eco.Inbox().Page("kid", n+1, "")
		if err != nil {
			s.t.Fatal(err)
		}
		if len(all) == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEveryPageRenders: every page renders (200, no template error) for
// an empty economy and shows what it must of a populated one; every JSON
// the pages load is JSON.
func TestEveryPageRenders(t *testing.T) {
	s := serve(t)
	b := s.loggedIn()
	for p := range everyPage {
		// A page of an agent that is not there yet is a 404 page.
		a := b.get(p)
		ok := a.StatusCode == http.StatusOK || a.StatusCode == http.StatusNotFound && (strings.Contains(a.body, `id="not-found"`) || strings.Contains(a.body, `id="transactions-error"`))
		if !ok || !strings.Contains(a.body, `<main id="main">`) {
			t.Errorf("empty economy: GET %s: %d\n%s", p, a.StatusCode, a.body)
		}
	}
	s.populate()
	s.withFamily()
	s.withPrompt()
	s.withMessages()
	for p, want := range everyPage {
		a := b.get(p)
		if a.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", p, a.StatusCode, a.body)
			continue
		}
		for _, w := range want {
			if !strings.Contains(a.body, w) {
				t.Errorf("GET %s lacks %s", p, w)
			}
		}
	}
	for _, p := range everyData {
		a := b.get(p)
		if a.StatusCode != http.StatusOK || !json.Valid([]byte(a.body)) || a.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %s %.200s", p, a.StatusCode, a.Header.Get("Content-Type"), a.body)
		}
	}
	// The charts' JSON is the operator API's answer.
	var mine, api operator.MarketsHistory
	if err := json.Unmarshal([]byte(b.get("/ui/data/history/markets").body), &mine); err != nil {
		t.Fatal(err)
	}
	s.operator(http.MethodGet, "/admin/history/markets", nil, &api)
	if len(mine.Markets) == 0 || len(mine.Markets) != len(api.Markets) {
		t.Fatalf("the charts have %d markets, the API %d", len(mine.Markets), len(api.Markets))
	}
	for i := range api.Markets {
		if len(mine.Markets[i].Points) != len(api.Markets[i].Points) || mine.Markets[i].Market != api.Markets[i].Market {
			t.Errorf("market %s: %d points in the charts, %d in the API", api.Markets[i].Market, len(mine.Markets[i].Points), len(api.Markets[i].Points))
		}
	}
	// What is not there is a 404, not an empty page.
	for _, p := range []string{"/ui/agents/nobody", "/ui/transactions?agent=nobody"} {
		if a := b.get(p); a.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, a.StatusCode)
		}
	}
	if a := b.get("/ui/data/agents/nobody/history"); a.StatusCode != http.StatusNotFound {
		t.Errorf("GET the history of nobody: %d, want 404", a.StatusCode)
	}
	if a := b.get("/ui/bids?cursor=not-a-cursor"); a.StatusCode != http.StatusBadRequest || !strings.Contains(a.body, `id="bids-error"`) {
		t.Errorf("GET /ui/bids with a bad cursor: %d", a.StatusCode)
	}
}

// TestAgentsTableSorts: the table sorts by each figure, largest first
// when asked, ties by id.
func TestAgentsTableSorts(t *testing.T) {
	s := serve(t)
	s.populate()
	s.withFamily()
	if _, err := s.eco.Accounts().Do(s.ctx, "kid", "", agent.Die{Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if err := s.eco.Sync(s.ctx); err != nil {
		t.Fatal(err)
	}
	b := s.loggedIn()
	order := func(query string) []string {
		t.Helper()
		var ids []string
		for _, m := range regexp.MustCompile(`<tr class="agent [a-z]+" data-id="([^"]+)"`).FindAllStringSubmatch(b.get("/ui/agents?"+query).body, -1) {
			ids = append(ids, m[1])
		}
		return ids
	}
	for query, want := range map[string]string{
		"":                          "alice bob kid",
		"sort=balance&order=desc":   "alice bob kid",
		"sort=balance&order=asc":    "kid bob alice",
		"sort=children&order=desc":  "alice bob kid",
		"sort=executions&order=asc": "kid alice bob",
		"sort=nonsense":             "alice bob kid",
		"status=alive&sort=balance": "bob alice",
		"status=dead":               "kid",
	} {
		if got := strings.Join(order(query), " "); got != want {
			t.Errorf("?%s: %s, want %s", query, got, want)
		}
	}
}

// TestRatingFromThePageMintsTheReward: the human rates the active prompt
// from the attention page; the reward (sum of score x rate) is minted to
// the agent, as from the terminal; the same form sent again applies once;
// a score out of range or not a number is refused with the API's reason
// and mints nothing.
func TestRatingFromThePageMintsTheReward(t *testing.T) {
	s := serve(t)
	id := s.withPrompt()
	b := s.loggedIn()
	page := b.get("/ui/attention").body
	if !strings.Contains(page, `action="/ui/attention/`+id+`/response"`) {
		t.Fatalf("the attention page has no rating form for %s:\n%s", id, page)
	}
	token := csrf(t, page)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)[1]
	earned := func() operator.AgentRecord {
		var r operator.AgentRecord
		s.operator(http.MethodGet, "/admin/agents/poet", nil, &r)
		return r
	}
	before := earned()

	for name, form := range map[string]url.Values{
		"a score of 11":   {"interesting": {"11"}, "useful": {"5"}, "understandable": {"9"}},
		"a word":          {"interesting": {"seven"}, "useful": {"5"}, "understandable": {"9"}},
		"a missing score": {"interesting": {"7"}, "useful": {"5"}},
	} {
		form.Set("csrf", token)
		form.Set("key", key+"-"+strings.ReplaceAll(name, " ", "-"))
		a := b.post("/ui/attention/"+id+"/response", form, nil)
		if a.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(a.body, `id="rating-error"`) {
			t.Errorf("rating with %s: %d, want 422 with the reason\n%s", name, a.StatusCode, a.body)
		}
	}
	if got := earned(); got.Earned.Rewards != before.Earned.Rewards {
		t.Fatalf("a refused rating minted %s", got.Earned.Rewards)
	}

	form := url.Values{"csrf": {token}, "key": {key}, "interesting": {"7"}, "useful": {"5"}, "understandable": {"9"}, "reason": {"clear"}}
	a := b.post("/ui/attention/"+id+"/response", form, nil)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/attention?answered="+id {
		t.Fatalf("rate: %d to %q\n%s", a.StatusCode, a.Header.Get("Location"), a.body)
	}
	// 7+5+9 = 21 points at 50 credits each.
	after := earned()
	if want := system.Credits(events.Credits(1050)); after.Earned.Rewards != want {
		t.Fatalf("rewards %s after the rating, want %s", after.Earned.Rewards, want)
	}
	shown := b.get(a.Header.Get("Location")).body
	if got, _ := byID(shown, "answered"); !strings.Contains(shown, `<span class="reward">1050</span>`) || !strings.Contains(shown, `<span class="minted">minted</span>`) {
		t.Errorf("the page after the rating does not show the reward minted: %q\n%s", got, shown)
	}
	// The same form again (a double click): answered once.
	if a := b.post("/ui/attention/"+id+"/response", form, nil); a.StatusCode != http.StatusSeeOther {
		t.Errorf("the same rating again: %d, want the first answer\n%s", a.StatusCode, a.body)
	}
	if got := earned(); got.Earned.Rewards != after.Earned.Rewards {
		t.Errorf("the same rating twice minted %s", got.Earned.Rewards)
	}
	// Another rating of the answered prompt is refused.
	form.Set("key", key+"-again")
	if a := b.post("/ui/attention/"+id+"/response", form, nil); a.StatusCode != http.StatusConflict || !strings.Contains(a.body, "answered already") {
		t.Errorf("a second rating: %d, want 409\n%s", a.StatusCode, a.body)
	}
}
