package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	d.waitFor(tab, "the overview after the login", `location.pathname === "/" && document.querySelector("input[name=token]") === null`)
	return tab
}
