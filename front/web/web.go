// Package web is the dashboard `agora run` serves at / on server.listen
// (SPEC.md 3.1, issue 14): the markets, the credits and the population as
// they move, the agents and their family tree, the bid book, the
// transactions and the human's attention queue with the rating form.
//
// It is a front end, not a second implementation: every figure it shows
// is read from the read models the operator API reads (the same ports,
// the same conversions, so the page and GET /admin/... agree to the
// micro-credit), and the one action it takes, the human's rating, is a
// call of the operator API's own handler in process. Pages are rendered on
// the server with html/template; htmx and its SSE extension keep the
// overview live, uPlot draws the charts. Both are committed under static/
// from their npm packages and embedded, so that nothing is built and
// nothing is fetched from elsewhere.
//
// The dashboard is behind the operator token (auth.go): a login form
// takes it and sets a session cookie; without one every page redirects to
// the login form and every stream, fragment and JSON answers 401. Every
// form carries the session's CSRF token, and a cross-origin POST is
// refused.
//
// Its paths are / (the overview) and everything under /ui/ (Path): they
// meet neither the System Service's nor the operator API's, so Beside
// puts it in front of both on one listener.
package web

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/projections/inbox"
)

//go:embed static templates
var files embed.FS

// Prefix is where every path of the dashboard but the overview lives.
const Prefix = "/ui/"

// Path reports whether the dashboard serves p: the overview at / and
// every path under Prefix.
func Path(p string) bool { return p == "/" || strings.HasPrefix(p, Prefix) }

// Beside serves the dashboard (dash, from New) and another handler (the
// APIs) on one listener: the dashboard's paths (Path) to dash, every other
// to rest.
func Beside(dash, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Path(r.URL.Path) {
			dash.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// Changes tells the dashboard that the read models moved: LastSeq is the
// stream sequence every read model it reads has applied, and WaitFor
// returns once they have all applied seq. Package economy implements it
// over the read models' runners, which the one follow of the log feeds
// (projections.Group): the live stream is fed by the log through them, not
// by a follow of its own.
type Changes interface {
	LastSeq() uint64
	WaitFor(ctx context.Context, seq uint64) error
}

// Inbox is the agents' messages. *inbox.View satisfies it.
type Inbox interface {
	Page(agentID string, limit int, after string) ([]inbox.Message, string, error)
}

// Deps are what the dashboard reads and acts through; every one is
// required. The read models are the operator API's ports, passed as
// package economy passes them there.
type Deps struct {
	// Operator is the operator API's handler (operator.New): the rating
	// form calls it in process, so that a rating from the page is the
	// same action as one from the terminal.
	Operator      http.Handler
	Directory     operator.Directory
	Markets       operator.Markets
	Economy       operator.Economy
	History       operator.History
	Bids          operator.Bids
	AttentionView operator.AttentionView
	Inbox         Inbox
	Series        operator.Series
	Changes       Changes
}

func (d Deps) check() error {
	var missing []string
	for _, dep := range []struct {
		name  string
		value any
	}{
		{"Operator", d.Operator}, {"Directory", d.Directory}, {"Markets", d.Markets}, {"Economy", d.Economy},
		{"History", d.History}, {"Bids", d.Bids}, {"AttentionView", d.AttentionView}, {"Inbox", d.Inbox},
		{"Series", d.Series}, {"Changes", d.Changes},
	} {
		if isNil(dep.value) {
			missing = append(missing, dep.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrNilDependency, strings.Join(missing, ", "))
	}
	return nil
}

// Options tune the dashboard.
type Options struct {
	// Token is the operator token (operator.LoadOrCreateToken); required.
	Token string
	// Done ends the live streams when it is closed (the economy stops):
	// http.Server.Shutdown waits for handlers, and a stream never ends on
	// its own. nil: streams end when their client goes.
	Done <-chan struct{}
	// Workspace is the directory of an agent's workspace, for the tail
	// of its output on its page; nil: pages show no output.
	Workspace func(agentID string) (string, error)
	// SessionTTL is how long a login lasts (default SessionTTLDefault).
	SessionTTL time.Duration
	// Logger receives what the pages do not show; default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the sessions; default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Token == "" {
		return o, fmt.Errorf("%w: no operator token", ErrInvalidOptions)
	}
	if err := operator.ValidateToken(o.Token); err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = SessionTTLDefault
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Dashboard is the dashboard's handler.
type Dashboard struct {
	deps     Deps
	opts     Options
	sessions *sessions
	pages    *pages
	mux      *http.ServeMux
	static   http.Handler
}

// New builds the dashboard. It refuses a missing dependency
// (ErrNilDependency) and a missing or malformed token
// (ErrInvalidOptions), and a template that does not parse.
func New(deps Deps, opts Options) (*Dashboard, error) {
	if err := deps.check(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{deps: deps, opts: opts, sessions: newSessions(opts.Token, opts.SessionTTL, opts.Now), pages: p,
		mux: http.NewServeMux(), static: http.StripPrefix(Prefix+"static/", http.FileServerFS(static))}
	d.routes()
	return d, nil
}

// ServeHTTP serves the dashboard, with the headers every answer carries.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Scripts, styles and data come from here alone; the pages are never
	// framed (clickjacking of the rating form).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	d.mux.ServeHTTP(w, r)
}

// routes registers every path. Those behind the login are wrapped by
// page (a browser's page: redirected to the login form without a
// session), data (fragments, streams, JSON: 401 without one) or action (a
// POST: 401 without a session, 403 without its CSRF token or from another
// origin).
func (d *Dashboard) routes() {
	m := d.mux
	m.HandleFunc("GET /{$}", d.page(d.overview))
	m.HandleFunc("GET "+Prefix+"login", d.loginForm)
	m.HandleFunc("POST "+Prefix+"login", d.login)
	m.HandleFunc("POST "+Prefix+"logout", d.action(d.logout))
	// The libraries are public: they are the npm packages' files, and the
	// login form needs its style sheet.
	m.Handle("GET "+Prefix+"static/", d.cached(d.static))

	m.HandleFunc("GET "+Prefix+"events", d.data(d.stream))
	m.HandleFunc("GET "+Prefix+"fragments/overview", d.data(d.overviewFragment))
	d.routesMore()
	m.HandleFunc(Prefix, d.page(d.notFound))
}

// cached lets the browser keep the static files for an hour: they change
// only with the binary. It lists no directory.
func (d *Dashboard) cached(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request, s *session) {
	d.render(w, r, http.StatusNotFound, "notfound", s, "Not found", "notfound", r.URL.Path)
}
