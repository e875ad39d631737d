// Package browser starts a headless Chromium (Debian's `chromium`) and
// drives it through the DevTools protocol with chromedp. The dashboard's
// browser tests and `agora bench dashboard` start it the same way: one
// browser per process, a tab per page, at the size of a laptop's screen
// (Desktop) or of a phone's (Phone).
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/chromedp/chromedp"
)

// ErrNoChromium is returned when no Chromium executable is on PATH. The
// browser tests skip on it (unless AGORA_REQUIRE_CHROMIUM=1, as in CI), and
// `agora bench dashboard` reports the server's figures without the
// browser's; the message says how to install it.
var ErrNoChromium = errors.New("browser: no chromium on PATH (Debian: apt-get install chromium)")

// ErrClosed is returned for a tab asked of a browser that is closed: its
// process is gone, and a tab would fail at its first action with a less
// clear error.
var ErrClosed = errors.New("browser: closed")

// executableNames are the names Chromium goes by, Debian's first.
var executableNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell", "headless_shell"}

// Executable is the path of the Chromium this package starts.
func Executable() (string, error) {
	for _, name := range executableNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", ErrNoChromium
}

// Viewport is the size of a tab's page in CSS pixels, and whether the page
// is shown as on a phone (a mobile viewport with touch).
type Viewport struct {
	Width, Height int
	Mobile        bool
}

var (
	// Desktop is a common laptop screen, the size the dashboard is laid
	// out for (issue 14).
	Desktop = Viewport{Width: 1366, Height: 768}
	// Phone is the width of a common phone held upright.
	Phone = Viewport{Width: 390, Height: 844, Mobile: true}
)

// Browser is one headless Chromium process. Its tabs (Tab) share its
// cookies; a private tab (PrivateTab) has cookies of its own. Safe for
// concurrent use: each tab is its own context.
type Browser struct {
	root           context.Context // the first tab, which keeps the browser running
	cancelRoot     context.CancelFunc
	cancelAlloc    context.CancelFunc
	mu             sync.Mutex
	closed         bool
	executablePath string
}

// Launch starts Chromium headless, with the sandbox off when this process
// runs as root (Chromium refuses to start its sandbox as root, and CI runs
// as root), its GPU off (none in a container), and /dev/shm unused (small
// in containers). The browser lives until Close or the end of ctx.
func Launch(ctx context.Context) (*Browser, error) {
	path, err := Executable()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.DisableGPU,
		chromedp.WindowSize(Desktop.Width, Desktop.Height),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	// The first action starts the process; it is bound to root, which has
	// no deadline, so that a bounded action later ends only itself.
	if err := chromedp.Do(root); err != nil {
		cancelRoot()
		cancelAlloc()
		return nil, fmt.Errorf("browser: start %s: %w", path, err)
	}
	return &Browser{root: root, cancelRoot: cancelRoot, cancelAlloc: cancelAlloc, executablePath: path}, nil
}

// Executable is the path of the Chromium b runs.
func (b *Browser) Executable() string { return b.executablePath }

// Tab opens a tab of viewport v that shares the browser's cookies; cancel
// closes it.
func (b *Browser) Tab(v Viewport) (ctx context.Context, cancel context.CancelFunc, err error) {
	return b.tab(v)
}

// PrivateTab opens a tab of viewport v with cookies of its own (a new
// browser context, as an incognito window): a visitor who has not logged
// in. cancel closes it.
func (b *Browser) PrivateTab(v Viewport) (ctx context.Context, cancel context.CancelFunc, err error) {
	return b.tab(v, chromedp.WithNewBrowserContext())
}

// TabBeside opens another tab of viewport v in the browser context of tab
// (a context from Tab, PrivateTab or TabBeside): it shares that tab's
// cookies. It lives until cancel, or until the tab that opened the
// browser context closes.
func (b *Browser) TabBeside(tab context.Context, v Viewport) (ctx context.Context, cancel context.CancelFunc, err error) {
	return b.open(tab, v)
}

func (b *Browser) tab(v Viewport, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc, error) {
	return b.open(b.root, v, opts...)
}

func (b *Browser) open(parent context.Context, v Viewport, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, nil, ErrClosed
	}
	ctx, cancel := chromedp.NewContext(parent, opts...)
	// As in Launch: the tab is created by an action without a deadline.
	if err := chromedp.Do(ctx, emulate(v)); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("browser: open a tab: %w", err)
	}
	return ctx, cancel, nil
}

// emulate sets the tab's viewport to v.
func emulate(v Viewport) chromedp.Action[chromedp.Void] {
	if v.Mobile {
		return chromedp.EmulateViewport(int64(v.Width), int64(v.Height), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	return chromedp.EmulateViewport(int64(v.Width), int64(v.Height))
}

// Close ends the browser process and waits for it. Tabs still open fail
// from then on.
func (b *Browser) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.cancelRoot()
	b.cancelAlloc()
}

// RequireEnv names the environment variable that, set to 1, makes a
// missing Chromium a failure of the browser tests rather than a skip: CI
// (.ci/run) installs Chromium and sets it, so that the dashboard is never
// left untested there unnoticed.
const RequireEnv = "AGORA_REQUIRE_CHROMIUM"

// Required reports whether RequireEnv is set to 1.
func Required() bool { return os.Getenv(RequireEnv) == "1" }
