package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/agora-econ/agora/front/web"
)

// pagesBehindLogin are every page of the dashboard; dataBehindLogin what
// the pages load (streams, fragments, JSON); actionsBehindLogin the
// forms' POSTs.
var (
	pagesBehindLogin = []string{"/", "/ui/", "/ui/nothing-here", "/ui/charts", "/ui/agents", "/ui/agents?sort=balance",
		"/ui/agents/alice", "/ui/tree", "/ui/bids", "/ui/transactions", "/ui/transactions?agent=alice", "/ui/attention"}
	dataBehindLogin = []string{"/ui/events", "/ui/fragments/overview", "/ui/data/history/markets", "/ui/data/history/economy",
		"/ui/data/agents/alice/history", "/ui/data/distribution"}
	actionsBehind = []string{"/ui/logout", "/ui/attention/p-1/response", "/ui/attention/p-1/skip"}
)

// TestNothingReadableWithoutLogin: without a session every page sends the
// browser to the login form and shows nothing of the economy, and every
// stream, fragment, JSON and form answers 401; a cookie that names no
// session is no session.
func TestNothingReadableWithoutLogin(t *testing.T) {
	s := serve(t)
	s.populate()
	for _, b := range []*browser{s.browser(), s.forgedCookie()} {
		for _, p := range pagesBehindLogin {
			a := b.get(p)
			loc := a.Header.Get("Location")
			if a.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, web.Prefix+"login?next=") {
				t.Errorf("GET %s without login: %d to %q, want 303 to the login form", p, a.StatusCode, loc)
			}
			if strings.Contains(a.body, "data-") || strings.Contains(a.body, "market-") || strings.Contains(a.body, "credits") {
				t.Errorf("GET %s without login shows the economy:\n%s", p, a.body)
			}
		}
		for _, p := range dataBehindLogin {
			if a := b.get(p); a.StatusCode != http.StatusUnauthorized || strings.Contains(a.body, "data-") || strings.Contains(a.body, "{") {
				t.Errorf("GET %s without login: %d %q, want 401 and nothing of the economy", p, a.StatusCode, a.body)
			}
		}
		for _, p := range actionsBehind {
			if a := b.post(p, url.Values{"csrf": {"x"}}, nil); a.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST %s without login: %d, want 401", p, a.StatusCode)
			}
		}
	}
	// The login form itself and the libraries are public.
	b := s.browser()
	if a := b.get(web.Prefix + "login"); a.StatusCode != http.StatusOK || !strings.Contains(a.body, `id="login"`) {
		t.Errorf("GET /ui/login: %d\n%s", a.StatusCode, a.body)
	}
	if a := b.get(web.Prefix + "static/"); a.StatusCode != http.StatusNotFound {
		t.Errorf("GET static/: %d, want 404 (no listing)", a.StatusCode)
	}
	for _, f := range []string{"htmx.min.js", "sse.js", "uPlot.iife.min.js", "uPlot.min.css", "app.css", "app.js"} {
		if a := b.get(web.Prefix + "static/" + f); a.StatusCode != http.StatusOK || len(a.body) == 0 {
			t.Errorf("GET static/%s: %d, %d bytes", f, a.StatusCode, len(a.body))
		}
	}
}

// forgedCookie is a browser whose session cookie names no session.
func (s *server) forgedCookie() *browser {
	b := s.browser()
	u, err := url.Parse(s.base)
	if err != nil {
		s.t.Fatal(err)
	}
	b.http.Jar.SetCookies(u, []*http.Cookie{{Name: web.SessionCookie, Value: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Path: "/"}})
	return b
}

// TestLoginRefusesAWrongToken: a wrong or empty token is a 401 with the
// form again and no session; the right one sets an HttpOnly,
// SameSite=Strict cookie and sends the browser where it was going.
func TestLoginRefusesAWrongToken(t *testing.T) {
	s := serve(t)
	b := s.browser()
	for _, tok := range []string{"", "nope", s.token + "x", strings.ToUpper(s.token)} {
		a := b.post(web.Prefix+"login", url.Values{"token": {tok}}, nil)
		if a.StatusCode != http.StatusUnauthorized || !strings.Contains(a.body, `id="login-error"`) || len(a.Cookies()) != 0 {
			t.Errorf("login with %q: %d, cookies %v, want 401, the error and no cookie", tok, a.StatusCode, a.Cookies())
		}
		if a := b.get("/"); a.StatusCode != http.StatusSeeOther {
			t.Errorf("after a refused login, GET /: %d, want 303", a.StatusCode)
		}
	}
	a := b.post(web.Prefix+"login", url.Values{"token": {s.token}, "next": {"/ui/nothing-here?x=1"}}, nil)
	if a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/nothing-here?x=1" {
		t.Fatalf("login: %d to %q", a.StatusCode, a.Header.Get("Location"))
	}
	cs := a.Cookies()
	if len(cs) != 1 || cs[0].Name != web.SessionCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Secure {
		t.Fatalf("session cookie %+v, want one HttpOnly, SameSite=Strict (not Secure without TLS)", cs)
	}
	if a := b.get("/"); a.StatusCode != http.StatusOK || !strings.Contains(a.body, `id="overview"`) {
		t.Fatalf("GET / logged in: %d\n%s", a.StatusCode, a.body)
	}
	// The login form, logged in, leads on.
	if a := b.get("/ui/login?next=/ui/tree"); a.StatusCode != http.StatusSeeOther || a.Header.Get("Location") != "/ui/tree" {
		t.Errorf("GET /ui/login logged in: %d to %q, want 303 to /ui/tree", a.StatusCode, a.Header.Get("Location"))
	}
	// A login never sends the browser to another site, nor back to itself.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "/admin/agents", "/ui/login", "/ui/logout"} {
		a := s.browser().post(web.Prefix+"login", url.Values{"token": {s.token}, "next": {next}}, nil)
		if a.Header.Get("Location") != "/" {
			t.Errorf("login with next %q goes to %q, want /", next, a.Header.Get("Location"))
		}
	}
}

// TestFormsRefuseCrossSiteRequests: a form posted without the session's
// CSRF token, with another session's, or from another origin is refused
// (403) and does nothing; a login from another origin too.
func TestFormsRefuseCrossSiteRequests(t *testing.T) {
	s := serve(t)
	b, other := s.loggedIn(), s.loggedIn()
	token := csrf(t, b.get("/").body)
	foreign := csrf(t, other.get("/").body)
	if token == foreign {
		t.Fatal("two sessions have one CSRF token")
	}
	for name, try := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"no token":            {url.Values{}, nil},
		"another session's":   {url.Values{"csrf": {foreign}}, nil},
		"another origin":      {url.Values{"csrf": {token}}, http.Header{"Origin": {"https://evil.example"}}},
		"a cross-site fetch":  {url.Values{"csrf": {token}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		"a null origin":       {url.Values{"csrf": {token}}, http.Header{"Origin": {"null"}}},
		"a token one too far": {url.Values{"csrf": {token + "A"}}, nil},
	} {
		if a := b.post(web.Prefix+"logout", try.form, try.header); a.StatusCode != http.StatusForbidden {
			t.Errorf("logout with %s: %d, want 403", name, a.StatusCode)
		}
	}
	if a := b.get("/"); a.StatusCode != http.StatusOK {
		t.Fatalf("a refused logout ended the session: GET / %d", a.StatusCode)
	}
	a := s.browser().post(web.Prefix+"login", url.Values{"token": {s.token}}, http.Header{"Origin": {"https://evil.example"}})
	if a.StatusCode != http.StatusForbidden || len(a.Cookies()) != 0 {
		t.Errorf("login from another origin: %d, cookies %v, want 403 and none", a.StatusCode, a.Cookies())
	}
	// The right token from the page logs out, and the session is gone.
	if a := b.post(web.Prefix+"logout", url.Values{"csrf": {token}}, nil); a.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d %s", a.StatusCode, a.body)
	}
	if a := b.get("/"); a.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / after logout: %d, want 303", a.StatusCode)
	}
	if a := other.get("/"); a.StatusCode != http.StatusOK {
		t.Fatalf("one session's logout ended another: %d", a.StatusCode)
	}
}
