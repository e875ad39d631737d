package web_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// The economy the dashboard's benchmark reads: issue 14 asks the overview
// to answer in under 200 ms with 1000 agents and 100k events in the log.
// AGORA_BENCH_DASHBOARD_EVENTS sets the events (the setup appends them
// through the agents' actors: a minute or more on a busy machine).
const benchAgents = 1000

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("AGORA_BENCH_DASHBOARD_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// BenchmarkPages measures each page of the dashboard whole, over HTTP,
// logged in, with benchAgents agents (a family tree four children wide)
// and benchEvents() events in the log. The static page beside them
// (htmx.min.js, 50 kB) is the server's own cost, the yardstick. Run it
// with
//
//	go test ./front/web -run '^$' -bench Pages -benchtime 100x
func BenchmarkPages(b *testing.B) {
	s := serve(b)
	if err := populateBig(s, benchAgents, benchEvents()); err != nil {
		b.Fatal(err)
	}
	last, err := s.eco.Log().LastSeq(s.ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d agents, %d events in the log", s.eco.Directory().Count(), last)
	br := s.loggedIn()
	for _, p := range []string{"/ui/static/htmx.min.js", "/", "/ui/agents", "/ui/agents?sort=balance&order=desc", "/ui/agents/a0001",
		"/ui/tree", "/ui/charts", "/ui/bids", "/ui/transactions", "/ui/attention", "/ui/data/history/economy", "/ui/data/distribution"} {
		b.Run(p, func(b *testing.B) {
			bytes := 0
			for b.Loop() {
				a := br.get(p)
				if a.StatusCode != http.StatusOK {
					b.Fatalf("GET %s: %d", p, a.StatusCode)
				}
				bytes = len(a.body)
			}
			b.SetBytes(int64(bytes))
		})
	}
}

// populateBig creates agents agents (a0000, then each the child of the
// one a quarter its number), then grants them a credit each in turn until
// the log holds total events, 32 commands at a time.
func populateBig(s *server, agents, total int) error {
	work := func(n int, do func(i int) error) error {
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for failed.Load() == nil {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := do(i); err != nil {
						failed.Store(&err)
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			return *err
		}
		return nil
	}
	id := func(i int) string { return fmt.Sprintf("a%04d", i) }
	if err := work(agents, func(i int) error {
		c := agent.Create{GrantMicros: events.Credits(int64(100 + i%900)), Reason: "operator"}
		if i > 0 {
			c.ParentID = id((i - 1) / 4)
			c.Lineage = []string{c.ParentID}
		}
		_, err := s.eco.Accounts().Do(s.ctx, id(i), "", c)
		return err
	}); err != nil {
		return err
	}
	last, err := s.eco.Log().LastSeq(s.ctx)
	if err != nil {
		return err
	}
	if err := work(max(0, total-int(last)), func(i int) error {
		_, err := s.eco.Accounts().Do(s.ctx, id(i%agents), "", agent.Grant{AmountMicros: events.Credits(1), Reason: "bench"})
		return err
	}); err != nil {
		return err
	}
	return s.eco.Sync(s.ctx)
}
