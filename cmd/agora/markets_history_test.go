package main

import (
	"strings"
	"testing"
)

// TestMarketsHistoryRefusesBadFlags: each bad flag of `agora markets
// --history` is a usage error (exit 2) naming it, found before any log is
// opened, so it needs no economy.
func TestMarketsHistoryRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		word string
	}{
		{[]string{"--market", "cpu_seconds"}, "--market goes with --history"},
		{[]string{"--limit", "5"}, "--limit goes with --history"},
		{[]string{"--since-cycle", "5"}, "--since-cycle goes with --history"},
		{[]string{"--history", "--limit", "0"}, "--limit must be between 1 and 5000"},
		{[]string{"--history", "--limit", "5001"}, "--limit must be between 1 and 5000"},
		{[]string{"--history", "--market", "Not one"}, "--market"},
		{[]string{"--history", "--resource", "cpu_seconds"}, "use --market"},
		{[]string{"--history", "--since-cycle", "-1"}, "since-cycle"},
	} {
		r := runAgora(t, append(append([]string{"markets"}, c.args...), "--data", dir)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.word) || r.stdout != "" {
			t.Errorf("agora markets %s: %s; want exit 2 naming %q", strings.Join(c.args, " "), r, c.word)
		}
	}
}
