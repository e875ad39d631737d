package browser

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// firstPaintScript is the page's own first contentful paint, in
// milliseconds from the start of its navigation, or null until the page
// has painted content (Paint Timing: the entry appears once, after the
// paint).
const firstPaintScript = `(() => {
	const e = performance.getEntriesByName('first-contentful-paint')[0];
	return e ? e.startTime : null;
})()`

// Paint is how long a page took to show, as the page's own performance
// timeline measured it: from the start of the navigation to the first
// paint of content, and to the load event (the page and what it loads,
// scripts and styles among them).
type Paint struct {
	FirstContentful time.Duration
	Load            time.Duration
}

// FirstPaint loads url in a fresh tab of tab's browser context (so with its
// cookies) and returns when it painted. tab is a context from Tab or
// PrivateTab; ctx bounds the wait. The page's cache is the tab's: a second
// load of the same page reuses its scripts and styles, as a returning
// visitor does.
func FirstPaint(ctx context.Context, url string) (Paint, error) {
	var p Paint
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return p, fmt.Errorf("browser: load %s: %w", url, err)
	}
	fcp, err := chromedp.Run(ctx, chromedp.Poll[float64](firstPaintScript, chromedp.WithPollingInterval(5*time.Millisecond)))
	if err != nil {
		return p, fmt.Errorf("browser: first paint of %s: %w", url, err)
	}
	load, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType('navigation')[0].loadEventEnd`))
	if err != nil {
		return p, fmt.Errorf("browser: navigation timing of %s: %w", url, err)
	}
	return Paint{FirstContentful: millis(fcp), Load: millis(load)}, nil
}

// millis converts the performance timeline's milliseconds.
func millis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// SetCookie gives tab's browser context the cookie c for the site of url,
// as if that site had set it: a page the tab loads from there sends it.
// The dashboard's benchmark logs in over HTTP and hands the session to
// the browser this way, so that its figures do not hang on the login
// form's markup.
func SetCookie(tab context.Context, url string, c *http.Cookie) error {
	_, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{
		Name: c.Name, Value: c.Value, URL: url, Path: c.Path, HTTPOnly: &c.HttpOnly,
	})
	if err != nil {
		return fmt.Errorf("browser: set cookie %s: %w", c.Name, err)
	}
	return nil
}
