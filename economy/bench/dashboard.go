package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/front/web"
	"github.com/agora-econ/agora/front/web/browser"
)

// `agora bench dashboard` measures the web dashboard of a big economy
// (issue 14): how fast the server answers the overview, and how soon a
// browser paints it, each beside a static page of the same byte size
// measured in the same run, so that the figures are ratios to what the
// HTTP server and the browser take for bytes alone.

// DashboardOptions are the parameters of `agora bench dashboard`. Its
// Concurrency is that of the callers building the log; its CPU profile
// is of the measures (the server's and the browser's), not of the build.
type DashboardOptions struct {
	Common
	// Events is about how many events the log holds when the dashboard is
	// measured: the agents' creations, then transfers between them.
	Events int
	// Requests is how many times the overview (and the static page) is
	// fetched over HTTP.
	Requests int
	// Loads is how many times the browser loads the overview (and the
	// static page); 0 measures the server alone.
	Loads int
}

func (o DashboardOptions) Validate() error {
	errs := o.Common.validate(2)
	if o.Events < o.Agents {
		errs = append(errs, fmt.Errorf("--events must be at least --agents (one creation each), got %d", o.Events))
	}
	if o.Requests < 1 {
		errs = append(errs, fmt.Errorf("--requests must be at least 1, got %d", o.Requests))
	}
	if o.Loads < 0 {
		errs = append(errs, fmt.Errorf("--loads must not be negative, got %d", o.Loads))
	}
	return errors.Join(errs...)
}

// The targets of issue 14, reported beside the figures, never enforced: a
// benchmark does not fail because a machine is slow.
const (
	overviewTargetMillis   = 200
	firstPaintTargetMillis = 1000
)

// DashboardReport is what `agora bench dashboard --json` prints.
type DashboardReport struct {
	Sync        string `json:"sync"`
	Agents      int    `json:"agents"`
	Concurrency int    `json:"concurrency"`
	// Events is how many events the log held when the dashboard was
	// measured; BuildSeconds how long building it took.
	Events       uint64  `json:"events"`
	BuildSeconds float64 `json:"build_seconds"`
	// PageBytes is the size of the overview's HTML, and of the static
	// page it is compared with.
	PageBytes int `json:"page_bytes"`

	Server  ServerFigure   `json:"server"`
	Browser *BrowserFigure `json:"browser,omitempty"`
	// BrowserSkipped says why the browser was not measured (no chromium,
	// or --loads 0).
	BrowserSkipped string `json:"browser_skipped,omitempty"`

	Audit AuditResult `json:"audit"`
}

// Audited is the economy audit of the log the dashboard benchmark built.
func (r DashboardReport) Audited() AuditResult { return r.Audit }

// ServerFigure is the time from sending a GET to reading the whole
// answer, one request at a time over one kept-alive connection, for the
// overview (logged in) and for the static page; the ratios are the
// overview's over the static page's.
type ServerFigure struct {
	Requests     int       `json:"requests"`
	Overview     latencies `json:"overview"`
	Static       latencies `json:"static"`
	RatioP50     float64   `json:"ratio_p50"`
	RatioP99     float64   `json:"ratio_p99"`
	TargetMillis float64   `json:"target_ms"`
	// WithinTarget: the overview's p99 is under the target.
	WithinTarget bool `json:"within_target"`
}

// BrowserFigure is the time from the start of a navigation to the first
// contentful paint, and to the end of the load event, as the page's own
// performance timeline measures them in headless Chromium at 1366x768,
// for the overview (logged in, its scripts and styles cached after the
// first load) and the static page, loaded in turn in the same tab.
type BrowserFigure struct {
	Chromium           string    `json:"chromium"`
	Loads              int       `json:"loads"`
	OverviewPaint      latencies `json:"overview_first_paint"`
	StaticPaint        latencies `json:"static_first_paint"`
	OverviewLoad       latencies `json:"overview_load"`
	StaticLoad         latencies `json:"static_load"`
	RatioFirstPaintP50 float64   `json:"ratio_first_paint_p50"`
	RatioLoadP50       float64   `json:"ratio_load_p50"`
	TargetMillis       float64   `json:"target_ms"`
	// WithinTarget: the overview's p99 first paint is under the target.
	WithinTarget bool `json:"within_target"`
}

// loginPath is where the dashboard takes its login form.
const loginPath = web.Prefix + "login"

// buildTransfers is how many transfers the build drives after the
// creations: each writes two events.
func (o DashboardOptions) buildTransfers() int {
	return max(o.Events-o.Agents, 0) / 2
}

// RunDashboard runs the dashboard benchmark on a fresh embedded server.
func RunDashboard(ctx context.Context, o DashboardOptions) (DashboardReport, error) {
	rep := DashboardReport{Sync: o.Sync, Agents: o.Agents, Concurrency: o.Concurrency}
	dir, remove, err := benchDir()
	if err != nil {
		return rep, err
	}
	defer remove()
	cfg, err := dashboardConfig(dir, o.Sync)
	if err != nil {
		return rep, err
	}
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, o.Logger)
	if err != nil {
		return rep, err
	}
	defer n.Close()
	started := time.Now()
	e, err := startWithAgents(ctx, o.Common, "dashboard", n, benchAgentIDs(o.Agents))
	if err != nil {
		return rep, err
	}
	defer stopEconomy(e, o.Progress)
	if err := buildLog(ctx, o, e); err != nil {
		return rep, err
	}
	serving, err := e.Serve(ctx)
	if err != nil {
		return rep, err
	}
	if err := waitCurrent(ctx, e); err != nil {
		return rep, err
	}
	if rep.Events, err = e.Log().LastSeq(ctx); err != nil {
		return rep, err
	}
	rep.BuildSeconds = time.Since(started).Seconds()

	site := "http://" + serving.Addr.String()
	token, err := readToken(serving, cfg)
	if err != nil {
		return rep, err
	}
	err = profile(o.CPUProfile, func() error { return measureDashboard(ctx, o, site, token, &rep) })
	if err != nil {
		return rep, err
	}
	rep.Audit, err = stopAndAudit(ctx, o.Common, e, n)
	return rep, err
}

// dashboardConfig is the benchmark's configuration over an embedded
// server in dir: no genesis (the agents are the benchmark's), the HTTP
// APIs and the dashboard on a free loopback port.
func dashboardConfig(dir, sync string) (config.Config, error) {
	cfg, err := benchConfig(dir, sync, 0)
	if err != nil {
		return cfg, err
	}
	cfg.Economy.Genesis = false
	cfg.Server.Listen = "127.0.0.1:0"
	return cfg, cfg.Validate()
}

// buildLog drives transfers between the agents until the log holds about
// o.Events events, every one settled.
func buildLog(ctx context.Context, o DashboardOptions, e *economy.Economy) error {
	ids := benchAgentIDs(o.Agents)
	total := o.buildTransfers()
	started := time.Now()
	progressf(o.Progress, "dashboard: %d transfers through the actors, %d callers", total, o.Concurrency)
	for done := 0; done < total; {
		chunk := min(total-done, buildChunk)
		if _, err := driveTransfers(ctx, e, ids, chunk, o.Concurrency); err != nil {
			return err
		}
		if err := backgroundFailure(e); err != nil {
			return err
		}
		done += chunk
		progressf(o.Progress, "dashboard: %d / %d transfers (%.0f events/s)", done, total,
			rate(float64(2*done), time.Since(started)))
	}
	_, err := settle(ctx, e)
	return err
}

// measureDashboard measures the server, then the browser.
func measureDashboard(ctx context.Context, o DashboardOptions, site, token string, rep *DashboardReport) error {
	client := &http.Client{
		Timeout: time.Minute,
		// The login answers with a redirect whose cookie is the point.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	session, err := dashboardLogin(ctx, client, site, token)
	if err != nil {
		return err
	}
	overview, err := fetch(ctx, client, site+"/", session)
	if err != nil {
		return err
	}
	rep.PageBytes = len(overview)
	static, stop, err := serveStatic(staticPage(len(overview)))
	if err != nil {
		return err
	}
	defer stop()

	progressf(o.Progress, "dashboard: %d requests of the overview (%d bytes) and of a static page of its size", o.Requests, len(overview))
	if rep.Server, err = measureServer(ctx, client, site+"/", static, session, o.Requests); err != nil {
		return err
	}
	if o.Loads == 0 {
		rep.BrowserSkipped = "--loads 0"
		return nil
	}
	b, err := browser.Launch(ctx)
	if errors.Is(err, browser.ErrNoChromium) {
		rep.BrowserSkipped = err.Error()
		progressf(o.Progress, "dashboard: %v: the browser is not measured", err)
		return nil
	}
	if err != nil {
		return err
	}
	defer b.Close()
	progressf(o.Progress, "dashboard: %d loads of the overview and of the static page in %s", o.Loads, b.Executable())
	f, err := measureBrowser(ctx, b, site, static, session, o.Loads)
	if err != nil {
		return err
	}
	rep.Browser = &f
	return nil
}

// readToken is the operator token the economy serves with: the
// configuration's, or the one it created in the data directory.
func readToken(s economy.Serving, cfg config.Config) (string, error) {
	if s.TokenPath == "" {
		return cfg.Server.OperatorToken, nil
	}
	b, err := os.ReadFile(s.TokenPath)
	if err != nil {
		return "", fmt.Errorf("the operator token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// dashboardLogin logs in with the operator token as the login form does
// and returns the session cookie.
func dashboardLogin(ctx context.Context, client *http.Client, site, token string) (*http.Cookie, error) {
	form := url.Values{"token": {token}, "next": {"/"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, site+loginPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dashboard login: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie && c.Value != "" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("dashboard login: %s and no %s cookie", res.Status, web.SessionCookie)
}

// fetch GETs u with the session and returns the body of a 200.
func fetch(ctx context.Context, client *http.Client, u string, session *http.Cookie) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if session != nil {
		req.AddCookie(session)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return body, nil
}

// staticPage is an HTML page of exactly size bytes (at least its markup's)
// with text to paint.
func staticPage(size int) []byte {
	const head = "<!doctype html><html><head><meta charset=\"utf-8\"><title>static</title></head><body><p>"
	const tail = "</p></body></html>\n"
	var b bytes.Buffer
	b.WriteString(head)
	for b.Len()+len(tail) < size {
		b.WriteString("static page ")
	}
	b.Truncate(max(size-len(tail), len(head)))
	b.WriteString(tail)
	return b.Bytes()
}

// serveStatic serves page at / of an HTTP server on a free loopback port
// in this process, and returns its address; stop closes it.
func serveStatic(page []byte) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(page)
	}), ReadHeaderTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() { _ = srv.Close() }, nil
}

// measureServer fetches the overview and the static page n times each, in
// turn, after a warm-up of each.
func measureServer(ctx context.Context, client *http.Client, overview, static string, session *http.Cookie, n int) (ServerFigure, error) {
	f := ServerFigure{Requests: n, TargetMillis: overviewTargetMillis}
	var ov, st []time.Duration
	for i := -serverWarmup; i < n; i++ {
		for _, m := range []struct {
			url string
			to  *[]time.Duration
		}{{overview, &ov}, {static, &st}} {
			began := time.Now()
			if _, err := fetch(ctx, client, m.url, session); err != nil {
				return f, err
			}
			if i >= 0 {
				*m.to = append(*m.to, time.Since(began))
			}
		}
	}
	f.Overview, f.Static = summarise(ov), summarise(st)
	f.RatioP50 = ratio(f.Overview.P50Millis, f.Static.P50Millis)
	f.RatioP99 = ratio(f.Overview.P99Millis, f.Static.P99Millis)
	f.WithinTarget = f.Overview.P99Millis < overviewTargetMillis
	return f, nil
}

// serverWarmup is how many requests of each page go unmeasured first (the
// connection, the first render's allocations).
const serverWarmup = 3

// measureBrowser loads the overview and the static page n times each, in
// turn, in one logged-in tab at the laptop size, after a load of each
// that fills the cache.
func measureBrowser(ctx context.Context, b *browser.Browser, site, static string, session *http.Cookie, n int) (BrowserFigure, error) {
	f := BrowserFigure{Chromium: b.Executable(), Loads: n, TargetMillis: firstPaintTargetMillis}
	tab, cancel, err := b.PrivateTab(browser.Desktop)
	if err != nil {
		return f, err
	}
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	if err := browser.SetCookie(tab, site, session); err != nil {
		return f, err
	}
	var ovPaint, stPaint, ovLoad, stLoad []time.Duration
	for i := -1; i < n; i++ {
		for _, m := range []struct {
			url         string
			paint, load *[]time.Duration
		}{{site + "/", &ovPaint, &ovLoad}, {static, &stPaint, &stLoad}} {
			p, err := loadBounded(tab, m.url)
			if err != nil {
				return f, err
			}
			if i >= 0 {
				*m.paint = append(*m.paint, p.FirstContentful)
				*m.load = append(*m.load, p.Load)
			}
		}
	}
	f.OverviewPaint, f.StaticPaint = summarise(ovPaint), summarise(stPaint)
	f.OverviewLoad, f.StaticLoad = summarise(ovLoad), summarise(stLoad)
	f.RatioFirstPaintP50 = ratio(f.OverviewPaint.P50Millis, f.StaticPaint.P50Millis)
	f.RatioLoadP50 = ratio(f.OverviewLoad.P50Millis, f.StaticLoad.P50Millis)
	f.WithinTarget = f.OverviewPaint.P99Millis < firstPaintTargetMillis
	return f, nil
}

// loadMax bounds one load in the browser: a page that never paints fails
// the benchmark rather than hanging it.
const loadMax = time.Minute

func loadBounded(tab context.Context, u string) (browser.Paint, error) {
	ctx, cancel := context.WithTimeout(tab, loadMax)
	defer cancel()
	return browser.FirstPaint(ctx, u)
}

func (r DashboardReport) Print(out io.Writer) error {
	fmt.Fprintf(out, "agora bench dashboard: %d agents, %d events in the log (built in %.1f s), sync %s, overview of %d bytes\n\n",
		r.Agents, r.Events, r.BuildSeconds, r.Sync, r.PageBytes)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASURE\tCOUNT\tP50 MS\tP99 MS\tMAX MS\t")
	row := func(label string, n int, l latencies) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", label, n, l.P50Millis, l.P99Millis, l.MaxMillis)
	}
	s := r.Server
	row("server: overview", s.Requests, s.Overview)
	row("server: static page, same size", s.Requests, s.Static)
	if b := r.Browser; b != nil {
		row("browser: overview first paint", b.Loads, b.OverviewPaint)
		row("browser: static first paint", b.Loads, b.StaticPaint)
		row("browser: overview load", b.Loads, b.OverviewLoad)
		row("browser: static load", b.Loads, b.StaticLoad)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nserver: overview / static page: %.2f at p50, %.2f at p99; overview p99 %.1f ms (target < %.0f ms: %s)\n",
		s.RatioP50, s.RatioP99, s.Overview.P99Millis, s.TargetMillis, verdict(s.WithinTarget))
	if b := r.Browser; b != nil {
		fmt.Fprintf(out, "browser (%s): overview / static page: first paint %.2f, load %.2f at p50; overview first paint p99 %.1f ms (target < %.0f ms: %s)\n",
			b.Chromium, b.RatioFirstPaintP50, b.RatioLoadP50, b.OverviewPaint.P99Millis, b.TargetMillis, verdict(b.WithinTarget))
	} else {
		fmt.Fprintf(out, "browser: not measured (%s)\n", r.BrowserSkipped)
	}
	printAudit(out, r.Audit)
	return nil
}

// verdict words a target's outcome: reported, not enforced.
func verdict(within bool) string {
	if within {
		return "met"
	}
	return "missed"
}
