package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/front/web/browser"
)

// The dashboard's browser tests (issue 14) drive the dashboard of a real
// `agora run` (the built binary, its embedded NATS, a temporary data
// directory, --listen on a free loopback port) with Debian's chromium,
// headless, through chromedp (front/web/browser), and compare what the
// pages show with what the operator API answers. One browser serves the
// whole test binary: it starts on the first test that needs it, and
// TestMain closes it. Each test logs in from a private tab (a browser
// context of its own), so that the session cookie of one economy never
// reaches another (cookies do not tell ports apart).

var sharedBrowser struct {
	once sync.Once
	b    *browser.Browser
	err  error
}

// needBrowser is the test binary's browser. Without chromium the test
// skips, or fails when AGORA_REQUIRE_CHROMIUM=1 (CI).
func needBrowser(t *testing.T) *browser.Browser {
	t.Helper()
	sharedBrowser.once.Do(func() {
		sharedBrowser.b, sharedBrowser.err = browser.Launch(context.Background())
	})
	err := sharedBrowser.err
	switch {
	case err == nil:
		return sharedBrowser.b
	case errors.Is(err, browser.ErrNoChromium) && !browser.Required():
		t.Skipf("%v: skipping the dashboard's browser tests (set %s=1 to fail instead)", err, browser.RequireEnv)
	}
	t.Fatalf("%v (%s=%q)", err, browser.RequireEnv, os.Getenv(browser.RequireEnv))
	return nil
}

// closeBrowser ends the test binary's browser, if one started.
func closeBrowser() {
	if sharedBrowser.b != nil {
		sharedBrowser.b.Close()
	}
}

// browserWaitMax bounds each wait for a page to show something: a page
// that never shows it fails the test with what it shows instead, rather
// than hanging the run. No test asserts on time.
const browserWaitMax = commandTimeout

// dashboard is a running `agora run` whose dashboard a test drives.
type dashboard struct {
	t     *testing.T
	b     *browser.Browser
	dir   string   // the data directory
	url   string   // the HTTP APIs and the dashboard, http://127.0.0.1:port
	token string   // the operator token
	run   *process // the economy
}

// startDashboard starts `agora run` with the configuration cfg (YAML) and
// the test binary's browser.
func startDashboard(t *testing.T, cfg string) *dashboard {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the economy and a browser")
	}
	b := needBrowser(t)
	dir := filepath.Join(t.TempDir(), "data")
	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	run := startAgora(t, "run", "--data", dir, "--config", cfgFile, "--nats-port", strconv.Itoa(freePort(t)),
		"--listen", "127.0.0.1:0", "--headless")
	url := apiURLIn(t, run.waitLine("running"))
	return &dashboard{t: t, b: b, dir: dir, url: url, token: operatorToken(t, dir), run: run}
}

// privateTab opens a tab of viewport v with cookies of its own: a visitor
// who has not logged in. The test's cleanup closes it.
func (d *dashboard) privateTab(v browser.Viewport) context.Context {
	d.t.Helper()
	tab, cancel, err := d.b.PrivateTab(v)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(cancel)
	return tab
}

// tabBeside opens a tab of viewport v that shares tab's cookies (its
// login). The test's cleanup closes it.
func (d *dashboard) tabBeside(tab context.Context, v browser.Viewport) context.Context {
	d.t.Helper()
	other, cancel, err := d.b.TabBeside(tab, v)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(cancel)
	return other
}

// do runs the page's actions, each bounded by browserWaitMax.
func (d *dashboard) do(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWaitMax)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		d.t.Fatalf("%s: %v\nthe page shows:\n%s", what, err, d.bodyText(tab))
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](d *dashboard, tab context.Context, expr string) T {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWaitMax)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		d.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// bodyText is the text the page shows, for a failure's message; it
// never fails.
func (d *dashboard) bodyText(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)", err)
	}
	return text
}

// open navigates tab to the dashboard's path and waits until the page
// has loaded.
func (d *dashboard) open(tab context.Context, path string) {
	d.t.Helper()
	d.do(tab, "open "+path, chromedp.Navigate(d.url+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// waitFor evaluates the JavaScript predicate in the page until it is
// true; after browserWaitMax it fails the test, saying what it waited for
// and what the page shows. It polls from here, not in the page, so that
// it goes on across a navigation (which ends every script of the page).
func (d *dashboard) waitFor(tab context.Context, what, predicate string) {
	d.t.Helper()
	deadline := time.Now().Add(browserWaitMax)
	var last error
	for {
		ctx, cancel := context.WithTimeout(tab, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](predicate))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) || tab.Err() != nil {
			d.t.Fatalf("waiting for %s: not within %s (last error: %v)\nthe page (%s) shows:\n%s",
				what, browserWaitMax, last, d.location(tab), d.bodyText(tab))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// location is the page's address, for a failure's message.
func (d *dashboard) location(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// text is the text of the element with the given id, trimmed; it waits
// for the element to be there.
func (d *dashboard) text(tab context.Context, id string) string {
	d.t.Helper()
	d.waitFor(tab, "#"+id, fmt.Sprintf("document.getElementById(%s) !== null", strconv.Quote(id)))
	return strings.TrimSpace(eval[string](d, tab, fmt.Sprintf("document.getElementById(%s).textContent", strconv.Quote(id))))
}

// login opens a private tab of viewport v at the dashboard, which sends
// it to the login form; logs in there with the operator token, as a
// person would (typed, then submitted); and returns the tab, back on the
// overview.
func (d *dashboard) login(v browser.Viewport) context.Context {
	d.t.Helper()
	tab := d.privateTab(v)
	d.open(tab, "/")
	d.waitFor(tab, "the login form", `location.pathname === "/ui/login" && document.querySelector("input[name=token]") !== null`)
	d.do(tab, "log in", chromedp.SendKeys(chromedp.CSS("input[name=token]"), d.token), chromedp.Submit(chromedp.CSS("input[name=token]")))
	d.waitFor(tab, "the overview after the login", `location.pathname === "/" && document.body.dataset.page === "overview"`)
	return tab
}

// quietEconomy is a fresh economy whose figures stay put: genesis with
// its first bid, no clearing cycle within a test.
const quietEconomy = "allocation:\n  schedule_seconds: 3600\n"

// get makes one request without a session (no cookie, no token), not
// following redirects, and returns the status, the Location and the body.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(body)
}

// TestDashboardLogin: without the operator token nothing of the economy
// can be read, by a browser or otherwise: every page sends the browser to
// the login form, which shows no figure; the live stream, the fragments
// and the charts' data answer 401, a rating is refused; a wrong token is
// refused with a message and no session; the right one, typed into the
// form, opens the overview; logging out asks for the token again.
func TestDashboardLogin(t *testing.T) {
	d := startDashboard(t, quietEconomy)
	for _, path := range []string{"/", "/ui/agents", "/ui/agents/genesis", "/ui/charts", "/ui/bids", "/ui/transactions", "/ui/attention", "/ui/tree"} {
		code, loc, body := get(t, d.url+path)
		if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ui/login") {
			t.Errorf("GET %s without a session: %d to %q, want 303 to the login form", path, code, loc)
		}
		if strings.Contains(body, "credits") || strings.Contains(body, "<table") {
			t.Errorf("GET %s without a session shows figures:\n%s", path, body)
		}
	}
	for _, path := range []string{"/ui/events", "/ui/fragments/overview", "/ui/data/history/markets", "/ui/data/history/economy",
		"/ui/data/agents/genesis/history", "/ui/data/distribution"} {
		if code, _, body := get(t, d.url+path); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401\n%s", path, code, body)
		}
	}
	res, err := http.PostForm(d.url+"/ui/attention/p-1/response", url.Values{"interesting": {"10"}, "useful": {"10"}, "understandable": {"10"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a rating without a session: %s, want 401", res.Status)
	}

	tab := d.privateTab(browser.Desktop)
	d.open(tab, "/")
	d.waitFor(tab, "the login form", `location.pathname === "/ui/login" && document.getElementById("login") !== null`)
	if eval[bool](d, tab, `document.getElementById("overview") !== null || document.getElementById("credits-minted") !== null`) {
		t.Fatalf("the login form shows the overview:\n%s", d.bodyText(tab))
	}
	d.do(tab, "a wrong token", chromedp.SendKeys(chromedp.ID("token"), "not-the-operator-token-0123456789"), chromedp.Submit(chromedp.ID("token")))
	d.waitFor(tab, "the refusal", `document.getElementById("login-error") !== null`)
	if eval[bool](d, tab, `document.getElementById("overview") !== null`) {
		t.Fatalf("a wrong token opened the overview:\n%s", d.bodyText(tab))
	}
	d.do(tab, "the operator token", chromedp.SendKeys(chromedp.ID("token"), d.token), chromedp.Submit(chromedp.ID("token")))
	d.waitFor(tab, "the overview", `location.pathname === "/" && document.getElementById("overview") !== null`)
	if got := d.text(tab, "agents-alive"); got != "1" {
		t.Errorf("the overview shows %q agents alive, want genesis alone", got)
	}
	// Another browser, not logged in, still gets the login form.
	other := d.privateTab(browser.Desktop)
	d.open(other, "/")
	d.waitFor(other, "the login form in another browser context", `location.pathname === "/ui/login"`)

	// Logging out ends the session: the overview asks for the token again.
	d.do(tab, "log out", chromedp.Click(chromedp.CSS("#logout button")))
	d.waitFor(tab, "the login form after logging out", `location.pathname === "/ui/login" && document.getElementById("login") !== null`)
	d.open(tab, "/")
	d.waitFor(tab, "the login form for the overview after logging out", `location.pathname === "/ui/login"`)
}

// apiStatus is what the overview's figures are compared with: GET
// /admin/status and GET /admin/markets of the operator API.
type apiStatus struct {
	Agents            int   `json:"agents"`
	AgentsAlive       int   `json:"agents_alive"`
	Events            int64 `json:"events"`
	MintedMicros      int64 `json:"minted_micros"`
	BurnedMicros      int64 `json:"burned_micros"`
	InFlightMicros    int64 `json:"in_flight_micros"`
	BalanceMicros     int64 `json:"balance_micros"`
	OpenBids          int   `json:"open_bids"`
	ExecutionsRunning int   `json:"executions_running"`
	ExecutionsStarted int64 `json:"executions_started"`
}

type apiMarkets struct {
	Cycle   uint64 `json:"cycle"`
	Markets []struct {
		Resource   string      `json:"resource"`
		Supply     json.Number `json:"supply"`
		Leased     json.Number `json:"leased"`
		Price      json.Number `json:"price"`
		ActiveBids int         `json:"active_bids"`
	} `json:"markets"`
}

// TestDashboardOverviewMatchesTheAPI: every figure of the overview is the
// operator API's, to the micro-credit: the cycle, the agents, the credits
// minted, burned, in flight and held, the open bids, the executions, the
// events, and each market's supply, leased units, utilization, price and
// open bids.
func TestDashboardOverviewMatchesTheAPI(t *testing.T) {
	d := startDashboard(t, quietEconomy)
	tab := d.login(browser.Desktop)
	var status apiStatus
	call(t, d.url, d.token, http.MethodGet, "/admin/status", nil, &status)
	var ms apiMarkets
	call(t, d.url, d.token, http.MethodGet, "/admin/markets", nil, &ms)

	same := func(what, page, api string) {
		t.Helper()
		if page != api {
			t.Errorf("%s: the overview shows %q, the API %q", what, page, api)
		}
	}
	credits := func(id string) string {
		t.Helper()
		text := d.text(tab, id)
		m, err := events.ParseCredits(text)
		if err != nil {
			t.Errorf("#%s shows %q, not credits: %v", id, text, err)
		}
		return strconv.FormatInt(int64(m), 10)
	}
	same("cycle", d.text(tab, "cycle"), strconv.FormatUint(ms.Cycle, 10))
	same("agents alive", d.text(tab, "agents-alive"), strconv.Itoa(status.AgentsAlive))
	same("agents", d.text(tab, "agents-total"), strconv.Itoa(status.Agents))
	same("credits minted (micros)", credits("credits-minted"), strconv.FormatInt(status.MintedMicros, 10))
	same("credits burned (micros)", credits("credits-burned"), strconv.FormatInt(status.BurnedMicros, 10))
	same("credits in flight (micros)", credits("credits-in-flight"), strconv.FormatInt(status.InFlightMicros, 10))
	same("credits held by agents (micros)", credits("credits-balance"), strconv.FormatInt(status.BalanceMicros, 10))
	same("open bids", d.text(tab, "open-bids"), strconv.Itoa(status.OpenBids))
	same("executions running", d.text(tab, "executions-running"), strconv.Itoa(status.ExecutionsRunning))
	same("executions ever", d.text(tab, "executions-started"), strconv.FormatInt(status.ExecutionsStarted, 10))
	same("events", d.text(tab, "events"), strconv.FormatInt(status.Events, 10))
	if status.MintedMicros == 0 || status.OpenBids != 1 {
		t.Errorf("genesis's grant is not minted, or its first bid not open: %+v", status)
	}

	rows := eval[int](d, tab, `document.querySelectorAll("#markets tr.market").length`)
	if rows != len(ms.Markets) || rows == 0 {
		t.Errorf("the overview lists %d markets, the API %d", rows, len(ms.Markets))
	}
	decimal := func(what, page, api string) {
		t.Helper()
		p, err1 := events.ParseCredits(page)
		a, err2 := events.ParseCredits(api)
		if err1 != nil || err2 != nil || p != a {
			t.Errorf("%s: the overview shows %q, the API %q", what, page, api)
		}
	}
	for _, m := range ms.Markets {
		id := "market-" + m.Resource
		decimal(m.Resource+" supply", d.text(tab, id+"-supply"), m.Supply.String())
		decimal(m.Resource+" leased", d.text(tab, id+"-leased"), m.Leased.String())
		decimal(m.Resource+" price", d.text(tab, id+"-price"), m.Price.String())
		same(m.Resource+" open bids", d.text(tab, id+"-bids"), strconv.Itoa(m.ActiveBids))
		supply, _ := events.ParseUnits(m.Supply.String())
		leased, _ := events.ParseUnits(m.Leased.String())
		ppm := eval[string](d, tab, fmt.Sprintf(`document.getElementById(%q).dataset.ppm`, id+"-utilization"))
		same(m.Resource+" utilization (ppm)", ppm, strconv.FormatInt(int64(leased)*1_000_000/max(int64(supply), 1), 10))
	}
	if t.Failed() {
		t.Logf("the overview:\n%s", d.bodyText(tab))
	}
}

// TestDashboardPriceMovesLive: a price change appears on the open
// overview without a reload. The overview is opened on an economy with no
// agent, where every price falls each cycle (0.2 s) for want of demand.
// Then an agent's bid for 90 of the 100 cpu seconds wins a cycle; its
// execution holds the lease (the program sleeps), so utilization stays
// above the high mark (80%) and the price of cpu_seconds rises every
// cycle. The page shows the lease, then a price above the one it showed
// with the lease, through its live stream: the marks the test left in the
// page (a variable, the sequence the page was read at) are still there,
// so it was not loaded again.
func TestDashboardPriceMovesLive(t *testing.T) {
	d := startDashboard(t, liveEconomy)
	tab := d.login(browser.Desktop)
	seq := eval[string](d, tab, `document.getElementById("overview").dataset.seq`)
	eval[bool](d, tab, `(window.agoraNotReloaded = true)`)

	createAgent(t, d.url, d.token, map[string]any{"agent_id": "hog", "files": map[string]string{"main.sh": "exec sleep 3600\n"},
		"command": []string{"sh", "main.sh"}, "grant": 100000,
		"initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 90, "memory_mb": 64}, "amount": 500}})

	d.waitFor(tab, "the lease of 90 cpu seconds on the overview", `document.getElementById("market-cpu_seconds-leased").textContent.trim() === "90"`)
	leased := d.text(tab, "market-cpu_seconds-price")
	was, err := events.ParseCredits(leased)
	if err != nil {
		t.Fatalf("the price of cpu_seconds reads %q: %v", leased, err)
	}
	d.waitFor(tab, "the price of cpu_seconds above "+leased+" on the overview",
		fmt.Sprintf(`parseFloat(document.getElementById("market-cpu_seconds-price").textContent) > %s`, leased))
	if !eval[bool](d, tab, `window.agoraNotReloaded === true`) ||
		eval[string](d, tab, `document.getElementById("overview").dataset.seq`) != seq {
		t.Fatal("the overview was loaded again; the lease and the price should have come through its live stream")
	}
	now, err := events.ParseCredits(d.text(tab, "market-cpu_seconds-price"))
	if err != nil || now <= was {
		t.Fatalf("the price of cpu_seconds went from %s to %s (%v) under demand; want up", was, now, err)
	}
}

// liveEconomy is a fresh economy with no agent and a cycle every 0.2 s,
// whose leases outlast a test and whose executions may run for minutes.
const liveEconomy = "economy:\n  genesis: false\nallocation:\n  schedule_seconds: 0.2\n  lease_timeout_seconds: 1200\nexecution:\n  timeout_seconds: 600\n"

// apiAgent is what an agent's page is compared with: GET
// /admin/agents/{id}.
type apiAgent struct {
	Status         string      `json:"status"`
	ExecutionCount int64       `json:"execution_count"`
	BidsWon        int64       `json:"bids_won"`
	Balance        json.Number `json:"balance"`
	LastExecution  *struct {
		ID         string `json:"execution_id"`
		Cause      string `json:"cause"`
		ExitCode   int    `json:"exit_code"`
		CPUMillis  int64  `json:"cpu_millis"`
		WallMillis int64  `json:"wall_millis"`
	} `json:"last_execution"`
}

// waitAgent polls GET /admin/agents/{id} until done holds, and returns
// the last answer; after commandTimeout it fails with that answer.
func waitAgent(t *testing.T, d *dashboard, id, what string, done func(apiAgent) bool) apiAgent {
	t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for {
		var a apiAgent
		call(t, d.url, d.token, http.MethodGet, "/admin/agents/"+id, nil, &a)
		if done(a) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent %s: not %s within %s: %+v", id, what, commandTimeout, a)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDashboardAgentPage: an agent's page shows its executions as the
// operator API records them. The agent's program prints a line and
// sleeps a second; three bids the operator places for it win three
// executions, after which it has no bid and dies.
// Its page shows it dead with three executions and three bids won, its
// latest execution's cause, exit code and usage as the API has them,
// and the program's line and its end in the tail of its output; the
// agents' table counts the same executions.
func TestDashboardAgentPage(t *testing.T) {
	d := startDashboard(t, liveEconomy)
	bid := map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 20}
	// No first bid: the three bids are all in the book before any wins,
	// so none can end the agent's life early.
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "worker",
		"files":   map[string]string{"main.sh": "echo hello from the worker\nsleep 1\n"},
		"command": []string{"sh", "main.sh"}, "grant": 1000})
	for range 3 {
		var placed map[string]any
		call(t, d.url, d.token, http.MethodPost, "/admin/agents/worker/bids", bid, &placed)
	}
	a := waitAgent(t, d, "worker", "dead after three executions", func(a apiAgent) bool {
		return a.Status == "dead" && a.ExecutionCount == 3 && a.LastExecution != nil && a.LastExecution.Cause != ""
	})

	tab := d.login(browser.Desktop)
	d.open(tab, "/ui/agents/worker")
	d.waitFor(tab, "the worker's page", `document.getElementById("agent") !== null && document.getElementById("agent").dataset.id === "worker"`)
	same := func(what, page, api string) {
		t.Helper()
		if page != api {
			t.Errorf("%s: the page shows %q, the API %q", what, page, api)
		}
	}
	same("status", d.text(tab, "agent-status"), a.Status)
	same("executions", d.text(tab, "agent-executions"), strconv.FormatInt(a.ExecutionCount, 10))
	same("bids won", d.text(tab, "agent-bids-won"), strconv.FormatInt(a.BidsWon, 10))
	x := a.LastExecution
	same("latest execution", eval[string](d, tab, `document.getElementById("last-execution").dataset.id`), x.ID)
	field := func(class string) string {
		return strings.TrimSpace(eval[string](d, tab, fmt.Sprintf(`document.querySelector("#last-execution .%s").textContent`, class)))
	}
	same("latest execution's cause", field("cause"), x.Cause)
	same("latest execution's exit code", field("exit-code"), strconv.Itoa(x.ExitCode))
	same("latest execution's CPU", field("cpu-millis"), strconv.FormatInt(x.CPUMillis, 10))
	same("latest execution's wall time", field("wall-millis"), strconv.FormatInt(x.WallMillis, 10))
	if out := d.text(tab, "output"); !strings.Contains(out, "hello from the worker") || !strings.Contains(out, "cause="+x.Cause) {
		t.Errorf("the tail of the output does not show the program's line and how it ended:\n%s", out)
	}
	if t.Failed() {
		t.Logf("the page:\n%s", d.bodyText(tab))
	}

	d.open(tab, "/ui/agents")
	d.waitFor(tab, "the worker in the agents' table", `document.querySelector('#agents tr.agent[data-id="worker"]') !== null`)
	same("executions in the agents' table",
		strings.TrimSpace(eval[string](d, tab, `document.querySelector('#agents tr.agent[data-id="worker"] td.executions').textContent`)), "3")
}

// TestDashboardRatingMintsTheReward: the human rates the active prompt
// from the attention page as from the terminal, and the reward is minted
// to the agent. The poet's program hands its execution token to the test
// and waits; the test prompts the human with it (through the System
// Service). The attention page, open on the free slot, shows the prompt
// as it comes, without a reload; the rating typed into its form (7, 5, 9,
// with a reason) and sent mints sum(score x 50) = 1050
// credits: the page says so, the poet's balance is up by exactly that,
// and the operator API lists the response with its reason.
func TestDashboardRatingMintsTheReward(t *testing.T) {
	d := startDashboard(t, liveEconomy)
	driver := map[string]string{"main.sh": `printf '%s' "$AGORA_TOKEN" > token.tmp && mv token.tmp token && exec sleep 3600` + "\n"}
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "poet", "files": driver, "command": []string{"sh", "main.sh"},
		"grant": 1000, "initial_bid": map[string]any{"resources": map[string]any{"cpu_seconds": 1, "memory_mb": 64}, "amount": 20}})
	token := waitNewToken(t, filepath.Join(d.dir, economy.WorkspacesDir, "poet", "token"), "")

	tab := d.login(browser.Desktop)
	d.open(tab, "/ui/attention")
	d.waitFor(tab, "the free slot", `document.getElementById("no-active-prompt") !== null`)
	eval[bool](d, tab, `(window.agoraNotReloaded = true)`)
	var prompt struct {
		PromptID string `json:"prompt_id"`
	}
	call(t, d.url, token, http.MethodPost, "/attention/prompt",
		map[string]any{"content": "Markets are quiet.\nBuy cpu_seconds now.", "bid_amount": 60}, &prompt)
	d.waitFor(tab, "the poet's prompt in front of the human",
		fmt.Sprintf(`(() => { const p = document.getElementById("active-prompt"); return p !== null && p.dataset.id === %q })()`, prompt.PromptID))
	if !eval[bool](d, tab, `window.agoraNotReloaded === true`) {
		t.Error("the attention page was loaded again; the prompt should have come through its live stream")
	}
	if content := eval[string](d, tab, `document.querySelector("#active-prompt pre.content").textContent`); content != "Markets are quiet.\nBuy cpu_seconds now." {
		t.Errorf("the prompt shows %q", content)
	}
	before := waitAgent(t, d, "poet", "read", func(apiAgent) bool { return true })

	type score struct{ id, value string }
	for _, s := range []score{{"interesting", "7"}, {"useful", "5"}, {"understandable", "9"}, {"reason", "short and true"}} {
		d.do(tab, "type "+s.id, chromedp.Clear(chromedp.ID(s.id)), chromedp.SendKeys(chromedp.ID(s.id), s.value))
	}
	d.do(tab, "send the rating", chromedp.Click(chromedp.ID("rate")))
	d.waitFor(tab, "the rating recorded",
		fmt.Sprintf(`(() => { const a = document.getElementById("answered"); return a !== null && a.dataset.id === %q })()`, prompt.PromptID))
	reward := strings.TrimSpace(eval[string](d, tab, `document.querySelector("#answered .reward").textContent`))
	if m, err := events.ParseCredits(reward); err != nil || m != 1050*events.MicrosPerCredit {
		t.Errorf("the page says the reward is %q, want 1050 credits", reward)
	}
	if minted := strings.TrimSpace(eval[string](d, tab, `document.querySelector("#answered .minted").textContent`)); minted != "minted" {
		t.Errorf("the page says the reward was %q, want minted", minted)
	}

	after := waitAgent(t, d, "poet", "read", func(apiAgent) bool { return true })
	was, err1 := events.ParseCredits(before.Balance.String())
	now, err2 := events.ParseCredits(after.Balance.String())
	if err1 != nil || err2 != nil || now-was != 1050*events.MicrosPerCredit {
		t.Errorf("the poet's balance went from %s to %s, want up by exactly 1050 credits", before.Balance, after.Balance)
	}
	var responses struct {
		Responses []struct {
			PromptID string `json:"prompt_id"`
			Reason   string `json:"reason"`
			Reward   int    `json:"reward"`
		} `json:"responses"`
	}
	call(t, d.url, d.token, http.MethodGet, "/attention/responses", nil, &responses)
	if len(responses.Responses) != 1 || responses.Responses[0].PromptID != prompt.PromptID ||
		responses.Responses[0].Reason != "short and true" || responses.Responses[0].Reward != 1050 {
		t.Errorf("the responses: %+v", responses.Responses)
	}
	if !eval[bool](d, tab, fmt.Sprintf(`document.querySelector('#responses tr.response[data-id=%q]') !== null`, prompt.PromptID)) {
		t.Errorf("the page's latest responses do not list the rating:\n%s", d.bodyText(tab))
	}
}
