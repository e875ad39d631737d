package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/front/web"
	"github.com/agora-econ/agora/projections/markets"
)

// testTimeout bounds each test's work with the economy: a bound on a
// hang, not a timed assertion.
const testTimeout = 2 * time.Minute

// server is an economy served in this process as `agora run` serves it:
// embedded NATS in a temporary directory, the APIs and the dashboard on a
// random port, no genesis and no clearing schedule to speak of (cycles are
// run by the test), so that nothing moves unless the test moves it.
type server struct {
	t     testing.TB
	ctx   context.Context
	eco   *economy.Economy
	base  string
	token string
	// stop stops the economy and its node (once; the cleanup does it
	// otherwise).
	stop func()
}

func serve(t testing.TB) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("runs an economy")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	cfg := config.Default()
	cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), config.SyncInterval
	cfg.Economy.Genesis, cfg.Server.Listen = false, "127.0.0.1:0"
	cfg.Allocation.ScheduleSeconds = 3600
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := economy.OpenNode(ctx, cfg, economy.NodeOptions{RandomPort: true}, logger)
	if err != nil {
		t.Fatal(err)
	}
	eco, err := economy.Open(n)
	if err != nil {
		n.Close()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			eco.Stop()
			n.Close()
		})
	}
	t.Cleanup(stop)
	eco.Start()
	serving, err := eco.Serve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(serving.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	return &server{t: t, ctx: ctx, eco: eco, base: "http://" + serving.Addr.String(), token: strings.TrimSpace(string(token)), stop: stop}
}

// populate gives the economy two agents, their bids, one clearing cycle
// that allocates (both executions then fail, having no workspace, and
// release their units) and a bid left open.
func (s *server) populate() {
	t, ctx := s.t, s.ctx
	t.Helper()
	for id, grant := range map[string]int64{"alice": 100, "bob": 50} {
		if _, err := s.eco.Accounts().Do(ctx, id, "", agent.Create{GrantMicros: events.Credits(grant), Reason: "operator"}); err != nil {
			t.Fatal(err)
		}
	}
	s.bid("alice", 1, 12)
	s.bid("bob", 2, 20)
	if err := s.eco.Scheduler().Cycle(ctx); err != nil {
		t.Fatal(err)
	}
	// Both winners' executions fail (no workspace) and release their
	// units: wait for both, so that nothing moves the economy between a
	// test's reads.
	for released := 0; released < 2; {
		if err := ctx.Err(); err != nil {
			t.Fatalf("the two executions did not end: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
		released = 0
		if m, ok := s.eco.MarketView().Market("cpu_seconds"); ok {
			for _, tx := range m.RecentTransactions {
				if tx.Kind == markets.KindRelease {
					released++
				}
			}
		}
	}
	s.bid("alice", 1, 7)
	if err := s.eco.Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func (s *server) bid(id string, cpu, amount int64) {
	s.t.Helper()
	terms := events.BidTerms{Pool: s.eco.Clearing().Pool(),
		Resources: map[string]events.Units{"cpu_seconds": events.WholeUnits(cpu), "memory_mb": events.WholeUnits(64)}}
	if _, _, err := s.eco.Clearing().Place(s.ctx, id, fmt.Sprintf("%s-%d-%d", id, cpu, amount), terms, events.Credits(amount)); err != nil {
		s.t.Fatalf("%s bids %d: %v", id, amount, err)
	}
}

// browser is a client with a cookie jar that does not follow redirects,
// so that a test sees each answer.
type browser struct {
	s    *server
	http *http.Client
}

func (s *server) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		s.t.Fatal(err)
	}
	return &browser{s: s, http: &http.Client{Jar: jar, Timeout: time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// loggedIn is a browser logged in with the operator token.
func (s *server) loggedIn() *browser {
	b := s.browser()
	res := b.post(web.Prefix+"login", url.Values{"token": {s.token}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		s.t.Fatalf("login: %d, want 303", res.StatusCode)
	}
	return b
}

// answer is an answer read whole.
type answer struct {
	*http.Response
	body string
}

func (b *browser) do(req *http.Request) answer {
	b.s.t.Helper()
	res, err := b.http.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return answer{res, string(body)}
}

func (b *browser) get(path string) answer {
	b.s.t.Helper()
	req, err := http.NewRequestWithContext(b.s.ctx, http.MethodGet, b.s.base+path, nil)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as a browser on the dashboard's page would (its
// Origin), with header's fields on top.
func (b *browser) post(path string, form url.Values, header http.Header) answer {
	b.s.t.Helper()
	req, err := http.NewRequestWithContext(b.s.ctx, http.MethodPost, b.s.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.s.base)
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

// csrf is the CSRF token in a page's forms.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// byID is the text of the element with id in page (its first text node),
// trimmed; ok is false when no element has it.
func byID(page, id string) (string, bool) {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>\s*([^<]*)<`).FindStringSubmatch(page)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

// attr is the attribute name of the element with id in page.
func attr(page, id, name string) (string, bool) {
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// operator calls the operator API with the token and decodes its JSON
// answer into out.
func (s *server) operator(method, path string, body any, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.ctx, method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		s.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}
