package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// economyWithBadTail makes an economy in a fresh data directory with
// `agora load` (real events, written by the actors), then appends one
// record that is not an event, as anyone with access to the stream could.
// It returns the directory and the sequence of the last good record.
func economyWithBadTail(t *testing.T) (dir string, good uint64) {
	t.Helper()
	dir = t.TempDir()
	mustRun(t, "load", "--data", dir, "--agents", "2", "--transfers", "2", "--concurrency", "1", "--seed", "1")
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	js, _, closeLog := openStoreDir(t, ctx, dir)
	defer closeLog()
	ack, err := js.Publish(ctx, "events.agent.load-0000.garbage", []byte("not an event"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, ack.Sequence - 1
}

// TestUntilReadsNoFurtherThanTheBound: `audit --until N` and `replay
// --until N` read records 1..N and not one more, so a bad record just
// after the bound does not fail the audit of the prefix before it.
func TestUntilReadsNoFurtherThanTheBound(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir, good := economyWithBadTail(t)
	until := strconv.FormatUint(good, 10)

	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--until", until, "--json"), &rep)
	if !rep.OK || rep.Summary.LastSeq != good {
		t.Fatalf("audit --until %s: %+v", until, rep)
	}
	var v economyView
	decodeJSON(t, mustRun(t, "replay", "--data", dir, "--until", until, "--json"), &v)
	if v.Summary.LastSeq != good || len(v.Accounts) != 2 {
		t.Fatalf("replay --until %s: %+v", until, v)
	}
	// The bad record itself is read when the bound includes it.
	if r := runAgora(t, "audit", "--data", dir, "--until", strconv.FormatUint(good+1, 10)); r.code == 0 {
		t.Fatalf("audit including the bad record passed: %s", r)
	}
}

// TestUntilPastTheEnd: a bound beyond the log's last record is refused
// (exit 2), naming where the log ends, rather than answering with the
// state at the end as if it were the state asked for.
func TestUntilPastTheEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	mustRun(t, "load", "--data", dir, "--agents", "2", "--transfers", "1", "--concurrency", "1", "--seed", "1")
	var s struct {
		LastSeq  uint64    `json:"last_seq"`
		LastTime time.Time `json:"last_time"`
	}
	decodeJSON(t, mustRun(t, "replay", "--data", dir, "--json"), &struct {
		Summary any `json:"summary"`
	}{&s})
	if s.LastSeq == 0 {
		t.Fatal("an empty log")
	}
	end := fmt.Sprintf("the log ends at sequence %d (%s)", s.LastSeq, s.LastTime.UTC().Format(time.RFC3339Nano))
	for _, cmd := range []string{"replay", "audit"} {
		for _, until := range []string{
			strconv.FormatUint(s.LastSeq+1, 10),
			s.LastTime.Add(time.Hour).UTC().Format(time.RFC3339),
		} {
			t.Run(cmd+" "+until, func(t *testing.T) {
				r := runAgora(t, cmd, "--data", dir, "--until", until, "--json")
				if r.code != 2 || !strings.Contains(r.stderr, end) || !strings.Contains(r.stderr, "--until "+until) || r.stdout != "" {
					t.Fatalf("want exit 2 naming %q: %s", end, r)
				}
			})
		}
		// The last record itself is within the log.
		mustRun(t, cmd, "--data", dir, "--until", strconv.FormatUint(s.LastSeq, 10))
		mustRun(t, cmd, "--data", dir, "--until", s.LastTime.UTC().Format(time.RFC3339Nano))
	}
}
