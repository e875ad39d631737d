package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/events"
)

// TestKillNineLosesNoAcknowledgedTransfer is SPEC.md section 5: kill -9 at
// any moment loses no acknowledged command and applies none twice. A real
// `agora load` process is killed (SIGKILL) three times in the middle of its
// transfers; a third run recovers and settles what was in flight. Every
// transfer the killed processes acknowledged must then be in the log once,
// settled once, and the audit must hold.
func TestKillNineLosesNoAcknowledgedTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills real processes")
	}
	dir := t.TempDir()
	acked := map[string]string{}
	for round, killAfter := range []int{300, 1, 1000} {
		ids := loadUntilKilled(t, dir, killAfter)
		t.Logf("round %d: killed after %d acknowledged transfers", round+1, len(ids))
		for _, id := range ids {
			if _, ok := acked[id]; ok {
				t.Fatalf("transfer %s acknowledged by two runs", id)
			}
			acked[id] = id
		}
	}

	// A short run restarts the economy: it recovers the agents, and its
	// transfer manager settles whatever the killed runs left in flight.
	r := mustRun(t, "load", "--data", dir, "--agents", "50", "--transfers", "10", "--concurrency", "4", "--seed", "1")
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if id, ok := strings.CutPrefix(line, "ack "); ok {
			acked[id] = id
		}
	}

	var rep auditReport
	decodeJSON(t, mustRun(t, "audit", "--data", dir, "--json"), &rep)
	if !rep.OK || rep.Violation != nil {
		t.Fatalf("audit failed: %+v", rep)
	}
	if rep.Summary.OpenTransfers != 0 || rep.Summary.InFlightMicros != 0 {
		t.Fatalf("transfers left in flight after recovery: %+v", rep.Summary)
	}
	if want := events.Credits(50 * 1000); rep.Summary.MintedMicros != want || rep.Summary.BalanceMicros != want {
		t.Fatalf("minted %s, balances %s; want %s each", rep.Summary.MintedMicros, rep.Summary.BalanceMicros, want)
	}

	checkTransfersInLog(t, dir, acked)
}

// loadUntilKilled starts a long load on dir, reads its output until at
// least killAfter transfers were acknowledged, kills it with SIGKILL and
// returns every transfer it acknowledged (including those printed between
// the count and the kill).
func loadUntilKilled(t *testing.T, dir string, killAfter int) []string {
	t.Helper()
	p := startAgora(t, "load", "--data", dir, "--agents", "50", "--transfers", "200000", "--concurrency", "32")
	var ids []string
	killed := false
	timeout := time.After(commandTimeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.waited
				if !killed {
					t.Fatalf("agora load ended (%v) after %d acks, before it was killed; stderr:\n%s", p.err, len(ids), p.stderr)
				}
				return ids
			}
			if id, ok := strings.CutPrefix(line, "ack "); ok {
				ids = append(ids, id)
			}
			if !killed && len(ids) >= killAfter {
				if err := p.cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		case <-timeout:
			t.Fatalf("agora load acknowledged %d transfers in %s, waiting for %d; stderr:\n%s", len(ids), commandTimeout, killAfter, p.stderr)
		}
	}
}

// transferFacts counts what the log says about one transfer.
type transferFacts struct {
	sent, received, bounced, returned int
	key                               string // of the transfer_sent
}

// checkTransfersInLog reads the whole log of dir and requires that every
// transfer id was sent at most once, that every sent transfer settled
// exactly once (received, or bounced and returned), and that every
// acknowledged transfer (id -> the idempotency key it was sent with) was
// sent, with that key.
func checkTransfersInLog(t *testing.T, dir string, acked map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	_, log, closeLog := openStoreDir(t, ctx, dir)
	defer closeLog()

	facts := map[string]*transferFacts{}
	of := func(id string) *transferFacts {
		f := facts[id]
		if f == nil {
			f = &transferFacts{}
			facts[id] = f
		}
		return f
	}
	err := log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
		e, err := events.Decode(r.Envelope)
		if err != nil {
			return err
		}
		switch e := e.(type) {
		case events.TransferSent:
			f := of(e.TransferID)
			f.sent++
			f.key = r.Envelope.IdempotencyKey
		case events.TransferReceived:
			of(e.TransferID).received++
		case events.TransferBounced:
			of(e.TransferID).bounced++
		case events.TransferReturned:
			of(e.TransferID).returned++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for id, f := range facts {
		if f.sent != 1 {
			t.Errorf("transfer %s: %d transfer_sent events, want 1", id, f.sent)
			continue
		}
		settled := f.received == 1 && f.bounced == 0 && f.returned == 0 ||
			f.received == 0 && f.bounced == 1 && f.returned == 1
		if !settled {
			t.Errorf("transfer %s: settled %d received, %d bounced, %d returned; want exactly one settlement", id, f.received, f.bounced, f.returned)
		}
	}
	for id, key := range acked {
		switch {
		case facts[id] == nil || facts[id].sent == 0:
			t.Errorf("acknowledged transfer %s is not in the log", id)
		case facts[id].key != key:
			t.Errorf("transfer %s: sent with idempotency key %q, want %q", id, facts[id].key, key)
		}
	}
	t.Logf("%d transfers in the log, %d of them acknowledged to the killed and final runs", len(facts), len(acked))
}
