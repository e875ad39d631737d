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
// browser's other tabs, and not by a private tab.
func TestPrivateTabHasItsOwnCookies(t *testing.T) {
	b := needBrowser(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/", HttpOnly: true})
			fmt.Fprint(w, `<!doctype html><p id="c">set</p>`)
			return
		}
		c, err := r.Cookie("session")
		fmt.Fprintf(w, `<!doctype html><p id="c">%v</p>`, err == nil && c.Value == "s1")
	}))
	defer srv.Close()
	cookie := func(tab context.Context, path string) string {
		t.Helper()
		ctx := bounded(t, tab)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("c")))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(text)
	}
	first, cancel1, err := b.Tab(browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel1()
	if got := cookie(first, "/set"); got != "set" {
		t.Fatalf("the page that sets the cookie: %s", got)
	}
	if got := cookie(first, "/"); got != "true" {
		t.Errorf("the tab that got the cookie sends it: %s, want true", got)
	}
	second, cancel2, err := b.Tab(browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel2()
	if got := cookie(second, "/"); got != "true" {
		t.Errorf("another tab sends the cookie: %s, want true", got)
	}
	private, cancel3, err := b.PrivateTab(browser.Desktop)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel3()
	if got := cookie(private, "/"); got != "false" {
		t.Errorf("a private tab sends the cookie: %s, want false", got)
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
