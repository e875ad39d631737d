package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// session is one login. Its id is only in the browser's cookie; the
// server keeps its digest, so that a dump of the map names no live
// session.
type session struct {
	key     [sha256.Size]byte
	csrf    string
	expires time.Time
}

// sessions are the logins the server holds. A session is created by a
// login with the operator token and ends at logout, at its expiry, or
// when SessionsMax newer ones pushed it out.
type sessions struct {
	token [sha256.Size]byte
	ttl   time.Duration
	now   func() time.Time

	mu    sync.Mutex
	byKey map[[sha256.Size]byte]*session
	order []*session // oldest first, for the bound
}

func newSessions(token string, ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{token: sha256.Sum256([]byte(token)), ttl: ttl, now: now, byKey: map[[sha256.Size]byte]*session{}}
}

// operator reports whether token is the operator token, comparing digests
// in constant time as the operator API does (neither the content nor the
// length shows in the time taken).
func (ss *sessions) operator(token string) bool {
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], ss.token[:]) == 1
}

// create starts a session and returns its id, for the cookie.
func (ss *sessions) create() (string, *session) {
	id := randomToken()
	s := &session{key: sha256.Sum256([]byte(id)), csrf: randomToken(), expires: ss.now().Add(ss.ttl)}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep()
	for len(ss.order) >= SessionsMax {
		delete(ss.byKey, ss.order[0].key)
		ss.order = ss.order[1:]
	}
	ss.byKey[s.key] = s
	ss.order = append(ss.order, s)
	return id, s
}

// get returns the live session of id.
func (ss *sessions) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	key := sha256.Sum256([]byte(id))
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byKey[key]
	if !ok || !ss.now().Before(s.expires) {
		return nil, false
	}
	return s, true
}

// end ends the session s.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byKey, s.key)
	for i, o := range ss.order {
		if o == s {
			ss.order = append(ss.order[:i], ss.order[i+1:]...)
			break
		}
	}
}

// sweep drops the expired sessions; the caller holds mu.
func (ss *sessions) sweep() {
	now := ss.now()
	kept := ss.order[:0]
	for _, s := range ss.order {
		if now.Before(s.expires) {
			kept = append(kept, s)
		} else {
			delete(ss.byKey, s.key)
		}
	}
	ss.order = kept
}

// randomToken is 32 random bytes, base64url: a session id or a CSRF
// token nobody can guess.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's live session, if its cookie names one.
func (d *Dashboard) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, false
	}
	return d.sessions.get(c.Value)
}

// handler is a handler behind the login, given its session.
type handler func(http.ResponseWriter, *http.Request, *session)

// page wraps a page: without a session the browser is sent to the login
// form, and back here after it.
func (d *Dashboard) page(h handler) http.HandlerFunc {
	return d.withSession(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	}, h)
}

// data wraps what a page loads (a fragment, the stream, a chart's JSON):
// without a session, 401.
func (d *Dashboard) data(h handler) http.HandlerFunc {
	return d.withSession(refuseUnauthorized, h)
}

// action wraps a form's POST: it needs a session (401), a request from
// this origin (403: the browser says where a request comes from, see
// http.CrossOriginProtection) and the session's CSRF token in the form
// (403), so that no other site can make the operator's browser act.
func (d *Dashboard) action(h handler) http.HandlerFunc {
	return d.withSession(refuseUnauthorized, func(w http.ResponseWriter, r *http.Request, s *session) {
		if err := sameOrigin(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, FormBytesMax)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "the form does not parse: "+err.Error(), http.StatusBadRequest)
			return
		}
		got := r.PostForm.Get("csrf")
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
			http.Error(w, "the form's CSRF token is missing or not this session's: reload the page", http.StatusForbidden)
			return
		}
		h(w, r, s)
	})
}

// withSession is the one gate of page, data and action: h runs with the
// request's session and nothing cached; without one, refuse answers.
func (d *Dashboard) withSession(refuse http.HandlerFunc, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := d.session(r)
		if !ok {
			refuse(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, s)
	}
}

func refuseUnauthorized(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "log in first: "+Prefix+"login", http.StatusUnauthorized)
}

// crossOrigin is the standard library's check of where a request comes
// from: Sec-Fetch-Site when the browser sends it, else Origin against
// Host. A request with neither is not a browser's, so not a forgery.
var crossOrigin = http.NewCrossOriginProtection()

func sameOrigin(r *http.Request) error { return crossOrigin.Check(r) }

// loginData is what the login form shows.
type loginData struct {
	Next  string
	Error string
}

func (d *Dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if _, ok := d.session(r); ok {
		// Logged in already: on to where the form would lead.
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "login", nil, "Log in", "login", loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// login takes the operator token from the form and starts a session. The
// form has no CSRF token (there is no session yet); a login from another
// origin is refused all the same, so that no site logs the browser into
// a session of its choosing.
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := sameOrigin(r); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, LoginBytesMax)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form does not parse: "+err.Error(), http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if !d.sessions.operator(r.PostForm.Get("token")) {
		d.opts.Logger.Warn("dashboard: login refused", "remote", r.RemoteAddr)
		d.render(w, r, http.StatusUnauthorized, "login", nil, "Log in", "login",
			loginData{Next: next, Error: "That is not the operator token (the data directory's operator.token, or server.operator_token)."})
		return
	}
	id, _ := d.sessions.create()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(d.opts.SessionTTL / time.Second)})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *session) {
	d.sessions.end(s)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: -1})
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// safeNext is where a login sends the browser: a path of the dashboard,
// never another site (an open redirect).
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(next, "//") || strings.Contains(next, "\\") || !Path(u.Path) || strings.HasPrefix(u.Path, Prefix+"log") {
		return "/"
	}
	return u.RequestURI()
}
