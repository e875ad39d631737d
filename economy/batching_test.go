package economy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
)

// TestGroupCommitWithSyncAlways: with fsync on every write the accounts and
// the transfer manager append through the group committer, and concurrent
// transfers between many agents, appended in groups, are each recorded
// once and settle with every credit accounted for; on the interval sync the
// appends go direct.
func TestGroupCommitWithSyncAlways(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, policy := range []string{config.SyncInterval, config.SyncAlways} {
		cfg := config.Default()
		cfg.Data.Dir, cfg.Nats.Sync = filepath.Join(t.TempDir(), "data"), policy
		n, err := OpenNode(ctx, cfg, NodeOptions{RandomPort: true}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Close)
		if grouped := n.appendLog() != events.Log(n.log); grouped != (policy == config.SyncAlways) {
			t.Fatalf("sync %s: appends grouped %v", policy, grouped)
		}
		if policy != config.SyncAlways {
			continue
		}
		e, err := Open(n, WithLedgerOnly())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Stop)
		e.Start()
		const agents, transfers = 40, 400
		var wg sync.WaitGroup
		errs := make(chan error, agents+transfers)
		for i := range agents {
			wg.Go(func() {
				_, err := e.Accounts().Do(ctx, fmt.Sprintf("a%d", i), "", agent.Create{GrantMicros: events.Credits(100), Reason: "test"})
				errs <- err
			})
		}
		wg.Wait()
		var last uint64
		var mu sync.Mutex
		for i := range transfers {
			wg.Go(func() {
				id := fmt.Sprintf("t%d", i)
				res, err := e.Accounts().Transfer(ctx, fmt.Sprintf("a%d", i%agents), "key-"+id,
					agent.Transfer{TransferID: id, To: fmt.Sprintf("a%d", (i*7+1)%agents), AmountMicros: events.Credits(1)})
				mu.Lock()
				last = max(last, res.Seq)
				mu.Unlock()
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Transfers().WaitFloor(ctx, last); err != nil {
			t.Fatal(err)
		}
		sent, received := map[string]int{}, map[string]int{}
		if err := n.log.Read(ctx, events.SubjectRoot+".>", 1, func(r events.Record) error {
			ev, err := events.Decode(r.Envelope)
			if err != nil {
				return err
			}
			switch ev := ev.(type) {
			case events.TransferSent:
				sent[ev.TransferID]++
			case events.TransferReceived:
				received[ev.TransferID]++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var total events.Micros
		for i := range agents {
			a, err := e.Accounts().Get(ctx, fmt.Sprintf("a%d", i))
			if err != nil {
				t.Fatal(err)
			}
			total += a.BalanceMicros
		}
		if total != events.Credits(100*agents) {
			t.Errorf("the agents hold %s; want %d credits", total, 100*agents)
		}
		for i := range transfers {
			id := fmt.Sprintf("t%d", i)
			if sent[id] != 1 || received[id] != 1 {
				t.Errorf("transfer %s: sent %d times, received %d times; want once each", id, sent[id], received[id])
			}
		}
	}
}
