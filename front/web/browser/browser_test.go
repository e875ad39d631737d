package browser_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agora-econ/agora/front/web/browser"
)

// waitMax bounds every browser action of these tests; it only keeps a
// broken browser from hanging the run.
const waitMax = 60 * time.Second

// shared is the one browser of this test binary, started by TestMain
// when Chromium is installed.
var (
	shared    *browser.Browser
	launchErr error
)

func TestMain(m *testing.M) {
	shared, launchErr = browser.Launch(context.Background())
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// needBrowser is the shared browser; without Chromium the test skips,
// or fails when AGORA_REQUIRE_CHROMIUM=1.
func needBrowser(t *testing.T) *browser.Browser {
	t.Helper()
	switch {
	case launchErr == nil:
		return shared
	case errors.Is(launchErr, browser.ErrNoChromium) && !browser.Required():
		t.Skipf("%v: skipping the browser tests (set %s=1 to fail instead)", launchErr, browser.RequireEnv)
	}
	t.Fatalf("%v (%s=%s)", launchErr, browser.RequireEnv, os.Getenv(browser.RequireEnv))
	return nil
}

// bounded is ctx with waitMax.
func bounded(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitMax)
	t.Cleanup(cancel)
	return ctx
}

// TestViewports: a tab lays its page out at the viewport it was opened
// with, a laptop's or a phone's.
func TestViewports(t *testing.T) {
	b := needBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><meta name="viewport" content="width=device-width"><p>hello</p>`)
	}))
	defer srv.Close()
	for _, v := range []browser.Viewport{browser.Desktop, browser.Phone} {
		tab, cancel, err := b.Tab(v)
		if err != nil {
			t.Fatal(err)
		}
		ctx := bounded(t, tab)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
			t.Fatal(err)
		}
		width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if width != v.Width {
			t.Errorf("a tab of %+v lays out %d pixels wide", v, width)
		}
		cancel()
	}
}

// TestPrivateTabHasItsOwnCookies: a cookie set in a tab is sent by the
// browser's other tabs and not by a private tab; a tab beside the private
// tab shares the private tab's cookies.
func TestPrivateTabHasItsOwnCookies(t *testing.T) {
	b := needBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("set"); v != "" {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: v, Path: "/", HttpOnly: true})
		}
		value := "none"
		if c, err := r.Cookie("session"); err == nil {
			value = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><p id="c">%s</p>`, value)
	}))
	defer srv.Close()
	cookie := func(tab context.Context, query string) string {
		t.Helper()
		ctx := bounded(t, tab)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"+query)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("c")))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(text)
	}
	open := func(tab context.Context, cancel context.CancelFunc, err error) context.Context {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cancel)
		return tab
	}
	first := open(b.Tab(browser.Desktop))
	cookie(first, "?set=a")
	if got := cookie(first, ""); got != "a" {
		t.Errorf("the tab that got the cookie sends %s, want a", got)
	}
	if got := cookie(open(b.Tab(browser.Desktop)), ""); got != "a" {
		t.Errorf("another tab sends %s, want a", got)
	}
	private := open(b.PrivateTab(browser.Desktop))
	if got := cookie(private, ""); got != "none" {
		t.Errorf("a private tab sends %s, want none", got)
	}
	cookie(private, "?set=b")
	if got := cookie(open(b.TabBeside(private, browser.Phone)), ""); got != "b" {
		t.Errorf("a tab beside the private one sends %s, want b", got)
	}
	if got := cookie(first, ""); got != "a" {
		t.Errorf("after the private tab got its cookie, the first tab sends %s, want a", got)
	}
}

// TestFirstPaint: a page with content paints, after the navigation
// started and no later than its load event ended.
func TestFirstPaint(t *testing.T) {
	b := needBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><p>`+strings.Repeat("word ", 2000)+`</p>`)
	}))
	defer srv.Close()
	tab, cancel, err := b.Tab(browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	p, err := browser.FirstPaint(bounded(t, tab), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if p.FirstContentful <= 0 || p.Load <= 0 {
		t.Fatalf("paint %+v: want both after the start of the navigation", p)
	}
}

// TestClosedBrowserOpensNoTab: a tab asked of a closed browser is
// ErrClosed.
func TestClosedBrowserOpensNoTab(t *testing.T) {
	needBrowser(t)
	b, err := browser.Launch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if _, _, err := b.Tab(browser.Desktop); !errors.Is(err, browser.ErrClosed) {
		t.Fatalf("a tab of a closed browser: %v, want ErrClosed", err)
	}
}

// TestSetCookie: a cookie set through the browser is sent by the tab's
// next request to that site.
func TestSetCookie(t *testing.T) {
	b := needBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		value := "none"
		if c, err := r.Cookie("session"); err == nil {
			value = c.Value
		}
		fmt.Fprintf(w, `<!doctype html><p id="c">%s</p>`, value)
	}))
	defer srv.Close()
	tab, cancel, err := b.PrivateTab(browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	ctx := bounded(t, tab)
	if err := browser.SetCookie(ctx, srv.URL, &http.Cookie{Name: "session", Value: "given", Path: "/", HttpOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("c")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "given" {
		t.Fatalf("the page got the cookie %q, want given", text)
	}
}
