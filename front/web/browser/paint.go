package browser

import (
	"context"
	"fmt"
	"time"

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
