package ticket_test

import (
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/events"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func bundle(tokens int64) map[string]events.Units {
	return map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(128),
		ticket.ResourceTokens: events.WholeUnits(tokens)}
}

func issue(t *testing.T, r *ticket.Registry, tokens int64) string {
	t.Helper()
	token, err := r.Issue("genesis", "x-1", bundle(tokens), t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestIssueAndLookup(t *testing.T) {
	r := ticket.New(ticket.WithClock(func() time.Time { return t0 }))
	alloc := bundle(500)
	token, err := r.Issue("genesis", "x-1", alloc, t0.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != ticket.SecretBytes {
		t.Fatalf("token %q is not %d url-safe base64 bytes: %v", token, ticket.SecretBytes, err)
	}
	alloc["tokens"] = 0 // the registry keeps its own copy
	got, err := r.Lookup(token, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.AgentID != "genesis" || got.ExecutionID != "x-1" || !got.Deadline.Equal(t0.Add(30*time.Second)) ||
		!got.IssuedAt.Equal(t0) {
		t.Fatalf("ticket %+v", got)
	}
	if got.TokensAllocated() != 500 || got.TokensRemaining() != 500 || got.TokensUsed != 0 {
		t.Fatalf("tokens: allocated %d remaining %d used %d", got.TokensAllocated(), got.TokensRemaining(), got.TokensUsed)
	}
	got.Allocation["cpu_seconds"] = 0 // a caller's copy
	again, _ := r.Lookup(token, t0)
	if again.Allocation["cpu_seconds"] != events.WholeUnits(2) {
		t.Fatal("Lookup returned the registry's own map")
	}
	other := issue(t, r, 1)
	if other == token {
		t.Fatal("two issues gave the same token")
	}
}

func TestIssueRefusesBadTickets(t *testing.T) {
	r := ticket.New()
	deadline := time.Now().Add(time.Minute)
	cases := map[string]func() (string, error){
		"agent id":      func() (string, error) { return r.Issue("Bad Agent", "x-1", bundle(1), deadline) },
		"execution id":  func() (string, error) { return r.Issue("a", "", bundle(1), deadline) },
		"negative unit": func() (string, error) { return r.Issue("a", "x", map[string]events.Units{"tokens": -1}, deadline) },
		"no deadline":   func() (string, error) { return r.Issue("a", "x", bundle(1), time.Time{}) },
	}
	for name, f := range cases {
		if token, err := f(); !errors.Is(err, ticket.ErrInvalidTicket) || token != "" {
			t.Errorf("%s: got %q, %v; want ErrInvalidTicket", name, token, err)
		}
	}
}

func TestLookupUnknownExpiredRevoked(t *testing.T) {
	r := ticket.New(ticket.WithClock(func() time.Time { return t0 }))
	token := issue(t, r, 10)
	if _, err := r.Lookup("nope", t0); !errors.Is(err, ticket.ErrUnknownToken) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := r.Lookup(token, t0.Add(29*time.Second)); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	if _, err := r.Lookup(token, t0.Add(30*time.Second)); !errors.Is(err, ticket.ErrExpired) {
		t.Fatalf("at the deadline: %v", err)
	}
	if err := r.Revoke(token); err != nil {
		t.Fatal(err)
	}
	if err := r.Revoke(token); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := r.Lookup(token, t0); !errors.Is(err, ticket.ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if err := r.Meter(token, 1); !errors.Is(err, ticket.ErrRevoked) {
		t.Fatalf("meter after revoke: %v", err)
	}
	if err := r.Revoke("nope"); !errors.Is(err, ticket.ErrUnknownToken) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestOldTicketsAreForgotten(t *testing.T) {
	now := t0
	r := ticket.New(ticket.WithClock(func() time.Time { return now }))
	old := issue(t, r, 10)
	now = t0.Add(30*time.Second + ticket.RetentionAfterDeadline + time.Minute)
	issue(t, r, 10) // issuing sweeps
	if _, err := r.Lookup(old, now); !errors.Is(err, ticket.ErrUnknownToken) {
		t.Fatalf("a ticket long past its deadline: %v, want ErrUnknownToken", err)
	}
}

func TestMeter(t *testing.T) {
	r := ticket.New(ticket.WithClock(func() time.Time { return t0 }))
	token := issue(t, r, 100)
	if err := r.Meter(token, -1); !errors.Is(err, ticket.ErrInvalidTokens) {
		t.Fatalf("negative: %v", err)
	}
	if err := r.Meter(token, 60); err != nil {
		t.Fatal(err)
	}
	if err := r.Meter(token, 0); err != nil {
		t.Fatal(err)
	}
	// An answer that used more than remained spends the quota to its end.
	if err := r.Meter(token, 70); !errors.Is(err, ticket.ErrQuotaExhausted) {
		t.Fatalf("overspend: %v", err)
	}
	got, _ := r.Lookup(token, t0)
	if got.TokensUsed != 100 || got.TokensRemaining() != 0 {
		t.Fatalf("used %d remaining %d, want 100 and 0", got.TokensUsed, got.TokensRemaining())
	}
	if err := r.Meter(token, 1); !errors.Is(err, ticket.ErrQuotaExhausted) {
		t.Fatalf("after exhaustion: %v", err)
	}
	if err := r.Meter("nope", 1); !errors.Is(err, ticket.ErrUnknownToken) {
		t.Fatalf("unknown: %v", err)
	}
	none := issue(t, r, 0)
	if err := r.Meter(none, 1); !errors.Is(err, ticket.ErrQuotaExhausted) {
		t.Fatalf("no tokens in the bundle: %v", err)
	}
}

func TestFractionalTokensBuyNothing(t *testing.T) {
	r := ticket.New()
	token, err := r.Issue("a", "x", map[string]events.Units{"tokens": events.WholeUnits(3) + 500_000}, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := r.Lookup(token, time.Now())
	if got.TokensAllocated() != 3 {
		t.Fatalf("3.5 tokens allocate %d whole tokens, want 3", got.TokensAllocated())
	}
}

// TestConcurrentMeteringNeverOverspends races many metering calls (and
// lookups) on one ticket: exactly the quota is spent, never more.
func TestConcurrentMeteringNeverOverspends(t *testing.T) {
	const quota, callers, per = 1000, 64, 50
	r := ticket.New()
	token, err := r.Issue("a", "x", bundle(quota), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var spent, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			for range per {
				n := int64(1 + i%3)
				switch err := r.Meter(token, n); {
				case err == nil:
					spent.Add(n)
				case errors.Is(err, ticket.ErrQuotaExhausted):
					refused.Add(1)
				default:
					t.Error(err)
				}
				if _, err := r.Lookup(token, time.Now()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, _ := r.Lookup(token, time.Now())
	if got.TokensUsed != quota {
		t.Fatalf("used %d, want exactly the quota %d", got.TokensUsed, quota)
	}
	if spent.Load() > quota {
		t.Fatalf("calls that succeeded spent %d > quota %d", spent.Load(), quota)
	}
	if refused.Load() == 0 {
		t.Fatal("no call was refused although the callers asked for more than the quota")
	}
}

// TestEndCountsTheTokensUsed: End revokes the ticket and gives what was
// metered, all of it and no more, whatever calls come after it.
func TestEndCountsTheTokensUsed(t *testing.T) {
	r := ticket.New(ticket.WithClock(func() time.Time { return t0 }))
	token := issue(t, r, 100)
	for _, n := range []int64{30, 12} {
		if err := r.Meter(token, n); err != nil {
			t.Fatal(err)
		}
	}
	used, err := r.End(token)
	if err != nil || used != 42 {
		t.Fatalf("End = %d, %v; want 42", used, err)
	}
	if err := r.Meter(token, 5); !errors.Is(err, ticket.ErrRevoked) {
		t.Fatalf("metered after the end: %v", err)
	}
	if again, err := r.End(token); err != nil || again != 42 {
		t.Fatalf("second End = %d, %v", again, err)
	}
	// A quota spent past its end counts the allocation, not the excess.
	spent := issue(t, r, 10)
	if err := r.Meter(spent, 25); !errors.Is(err, ticket.ErrQuotaExhausted) {
		t.Fatal(err)
	}
	if used, _ := r.End(spent); used != 10 {
		t.Fatalf("End of an exhausted quota = %d, want 10", used)
	}
	if _, err := r.End("nope"); !errors.Is(err, ticket.ErrUnknownToken) {
		t.Fatalf("End of an unknown token: %v", err)
	}
}
