package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/front/web/browser"
)

// screenshotsDir is where TestDashboardScreenshots writes its pictures
// (docs/img for docs/dashboard.md); relative to the repository's root.
// Empty: it checks the pages and writes nothing.
//
//	go test -count=1 ./cmd/agora -run TestDashboardScreenshots -args -screenshots docs/img
var screenshotsDir = flag.String("screenshots", "", "write the dashboard's screenshots (PNG) to this directory, relative to the repository's root")

// dashboardPages are the dashboard's pages, each with the name of its
// screenshot (dashboard-<name>.png).
var dashboardPages = []struct{ name, path string }{
	{"overview", "/"},
	{"charts", "/ui/charts"},
	{"agents", "/ui/agents"},
	{"agent", "/ui/agents/" + economy.GenesisID},
	{"tree", "/ui/tree"},
	{"bids", "/ui/bids"},
	{"transactions", "/ui/transactions"},
	{"attention", "/ui/attention"},
}

// phonePages are the pages pictured at a phone's width too (every page is
// checked there).
var phonePages = []string{"overview", "attention"}

// richEconomy is a rich genesis (it spawns helpers from its first
// executions, docs/agents.md) with a cycle every half second.
const richEconomy = "economy:\n  initial_credit_budget: 100000\nallocation:\n  schedule_seconds: 0.5\n  lease_timeout_seconds: 1200\nexecution:\n  timeout_seconds: 600\n"

// TestDashboardScreenshots shows every page of the dashboard on a living
// economy: genesis (the real Python program) and the helpers it spawns; a
// poet whose prompts the human rated, has in front of them, and has
// waiting; a hog that held most of the cpu seconds for a while (the price
// rose, then fell); a worker that ran and died; a sitter that holds most
// of them since, with the poet's bids waiting behind it. The login form,
// then each page, loads at the laptop's size without an error in the
// browser's console, its charts drawn from their data; then again at a
// phone's width, where none scrolls sideways. With -screenshots DIR each
// is written to DIR/dashboard-<page>.png (1366x768), and the overview and
// the attention page on the phone to dashboard-<page>-phone.png (390x844).
func TestDashboardScreenshots(t *testing.T) {
	needPython(t)
	d := startDashboard(t, richEconomy)
	populate(t, d)

	visitor := d.privateTab(browser.Desktop)
	d.open(visitor, "/")
	d.waitFor(visitor, "the login form", `document.body.dataset.page === "login" && document.getElementById("login") !== null`)
	d.picture(visitor, "dashboard-login", browser.Desktop)

	tab := d.login(browser.Desktop)
	errs := consoleErrors(tab)
	for _, p := range dashboardPages {
		d.open(tab, p.path)
		d.waitFor(tab, "the "+p.name+" page", `document.getElementById("main") !== null && document.body.dataset.page !== "login"`)
		d.waitCharts(tab, p.name)
		d.picture(tab, "dashboard-"+p.name, browser.Desktop)
		if p.name == "charts" {
			// The population, the credits and their distribution are
			// below the first screen.
			eval[bool](d, tab, `(() => { const h = document.getElementById("chart-population").parentElement.previousElementSibling;
				window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - 8); return true })()`)
			d.picture(tab, "dashboard-charts-population", browser.Desktop)
		}
	}
	phone := d.tabBeside(tab, browser.Phone)
	phoneErrs := consoleErrors(phone)
	for _, p := range dashboardPages {
		d.open(phone, p.path)
		d.waitFor(phone, "the "+p.name+" page on a phone", `document.getElementById("main") !== null && document.body.dataset.page !== "login"`)
		d.waitCharts(phone, p.name)
		if w := eval[int](d, phone, `document.documentElement.scrollWidth`); w > browser.Phone.Width {
			t.Errorf("the %s page is %d pixels wide on a phone %d pixels wide: it scrolls sideways", p.name, w, browser.Phone.Width)
		}
		if slices.Contains(phonePages, p.name) {
			d.picture(phone, "dashboard-"+p.name+"-phone", browser.Phone)
		}
	}
	for _, e := range append(errs(), phoneErrs()...) {
		t.Errorf("the browser's console: %s", e)
	}
}

// populate gives the economy something of everything the pages show, and
// waits (bounded, through the operator API) until it has happened.
func populate(t *testing.T, d *dashboard) {
	t.Helper()
	bid := func(cpu int, amount int) map[string]any {
		return map[string]any{"resources": map[string]any{"cpu_seconds": cpu, "memory_mb": 64}, "amount": amount}
	}
	driver := map[string]string{"main.sh": `printf '%s' "$AGORA_TOKEN" > token.tmp && mv token.tmp token && exec sleep 3600` + "\n"}
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "poet", "files": driver, "command": []string{"sh", "main.sh"},
		"grant": 5000, "initial_bid": bid(1, 20)})
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "worker", "files": map[string]string{"main.sh": "echo counting the markets\nsleep 1\n"},
		"command": []string{"sh", "main.sh"}, "grant": 1000, "initial_bid": bid(1, 20)})
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "hog", "files": map[string]string{"main.sh": "echo holding\nsleep 8\n"},
		"command": []string{"sh", "main.sh"}, "grant": 5000, "initial_bid": bid(90, 600)})

	token := waitNewToken(t, filepath.Join(d.dir, economy.WorkspacesDir, "poet", "token"), "")
	prompt := func(content string, amount int) string {
		var p struct {
			PromptID string `json:"prompt_id"`
		}
		call(t, d.url, token, http.MethodPost, "/attention/prompt", map[string]any{"content": content, "bid_amount": amount}, &p)
		return p.PromptID
	}
	first := prompt("cpu_seconds costs twice what it did an hour ago.\nWorth watching.", 90)
	waitActive(t, d, first)
	var rated map[string]any
	call(t, d.url, d.token, http.MethodPost, "/attention/prompt/"+first+"/response",
		map[string]any{"interesting": 8, "useful": 6, "understandable": 9, "reason": "clear and short"}, &rated)
	second := prompt("Three agents now share the cpu market.\nThe hog holds 90 of 100 cpu seconds until it ends.", 80)
	waitActive(t, d, second)
	prompt("memory_mb is idle: its price falls every cycle.", 60)

	deadline := time.Now().Add(2 * commandTimeout)
	for {
		var g struct {
			Children       []string `json:"children"`
			ExecutionCount int64    `json:"execution_count"`
		}
		call(t, d.url, d.token, http.MethodGet, "/admin/agents/"+economy.GenesisID, nil, &g)
		var ms apiMarkets
		call(t, d.url, d.token, http.MethodGet, "/admin/markets", nil, &ms)
		var hog apiAgent
		call(t, d.url, d.token, http.MethodGet, "/admin/agents/hog", nil, &hog)
		if len(g.Children) > 0 && g.ExecutionCount >= 3 && ms.Cycle >= 30 && hog.Status == "dead" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the economy did not grow within %s: genesis's children %v, %d executions; cycle %d; the hog %s",
				2*commandTimeout, g.Children, g.ExecutionCount, ms.Cycle, hog.Status)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A sitter takes 96 of the 100 cpu seconds for good; the bids the
	// operator then places for the poet, 10 cpu seconds each, wait in
	// the book behind it.
	createAgent(t, d.url, d.token, map[string]any{"agent_id": "sitter", "files": map[string]string{"main.sh": "exec sleep 3600\n"},
		"command": []string{"sh", "main.sh"}, "grant": 5000, "initial_bid": bid(96, 1000)})
	for deadline := time.Now().Add(commandTimeout); ; {
		var ms apiMarkets
		call(t, d.url, d.token, http.MethodGet, "/admin/markets", nil, &ms)
		if cpuLeased(ms) >= 96 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sitter's lease did not come within %s: %+v", commandTimeout, ms)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, amount := range []int{150, 120, 100} {
		var placed struct {
			Status string `json:"status"`
		}
		call(t, d.url, d.token, http.MethodPost, "/admin/agents/poet/bids", bid(10, amount), &placed)
		if placed.Status != "open" {
			t.Fatalf("a bid of the poet behind the sitter is %s, want open", placed.Status)
		}
	}
}

// cpuLeased is the cpu seconds leased now.
func cpuLeased(ms apiMarkets) float64 {
	for _, m := range ms.Markets {
		if m.Resource == "cpu_seconds" {
			f, _ := m.Leased.Float64()
			return f
		}
	}
	return 0
}

// waitActive waits until the prompt id is in front of the human.
func waitActive(t *testing.T, d *dashboard, id string) {
	t.Helper()
	deadline := time.Now().Add(commandTimeout)
	for {
		var a struct {
			Active *struct {
				PromptID string `json:"prompt_id"`
			} `json:"active"`
		}
		call(t, d.url, d.token, http.MethodGet, "/attention/active", nil, &a)
		if a.Active != nil && a.Active.PromptID == id {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the prompt %s was not shown to the human within %s (active: %+v)", id, commandTimeout, a.Active)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitCharts waits until every chart of the page has loaded its data,
// and fails on a chart that could not, or a market's chart without a
// point.
func (d *dashboard) waitCharts(tab context.Context, page string) {
	d.t.Helper()
	d.waitFor(tab, "the charts of the "+page+" page", `Array.from(document.querySelectorAll("[data-src][data-kind]")).every(
		el => el.dataset.loaded === "true" || el.dataset.error !== undefined)`)
	if failed := eval[[]string](d, tab, `Array.from(document.querySelectorAll("[data-src][data-kind]")).
		filter(el => el.dataset.error !== undefined).map(el => el.id + ": " + el.dataset.error)`); len(failed) > 0 {
		d.t.Errorf("charts of the %s page failed: %v", page, failed)
	}
	if empty := eval[[]string](d, tab, `Array.from(document.querySelectorAll("#chart-markets .chart, #chart-population, #chart-agent-balance")).
		filter(el => el.dataset.points === "0").map(el => el.id)`); len(empty) > 0 {
		d.t.Errorf("charts of the %s page have no point: %v", page, empty)
	}
}

// picture takes a screenshot of the tab's viewport, checks it is a PNG of
// the viewport's size, and writes it to -screenshots as name.png.
func (d *dashboard) picture(tab context.Context, name string, v browser.Viewport) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserWaitMax)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		d.t.Fatalf("screenshot %s: %v", name, err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(shot))
	if err != nil || cfg.Width != v.Width || cfg.Height != v.Height {
		d.t.Fatalf("screenshot %s: %dx%d (%v), want a PNG of %dx%d", name, cfg.Width, cfg.Height, err, v.Width, v.Height)
	}
	if *screenshotsDir == "" {
		return
	}
	dir := *screenshotsDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repositoryRoot(d.t), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.t.Logf("wrote %s", file)
}

// repositoryRoot is the directory of go.mod above the test's.
func repositoryRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// consoleErrors collects the errors of the tab's console from now on
// (exceptions, console.error, and the browser's own errors: a failed
// load, a refused script); the result returns those seen so far.
func consoleErrors(tab context.Context) func() []string {
	var mu sync.Mutex
	var seen []string
	messages := chromedp.Console(tab)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				mu.Lock()
				seen = append(seen, fmt.Sprintf("%s %s (%s:%d)", m.Type, strings.TrimSpace(m.Text), m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}
