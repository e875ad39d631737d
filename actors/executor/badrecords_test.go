package executor_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/executor"
	"github.com/agora-econ/agora/actors/executor/sandbox"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog/natstest"
)

// TestForgedRecordsStartNothing: a record that does not decode, a forged
// cycle allocating a bid that is not open and a forged payment of it are
// skipped: the executor starts nothing for them and goes on with the
// sound cycle after them.
func TestForgedRecordsStartNothing(t *testing.T) {
	log, store := backend(t)
	e := boot(t, log, store, t.TempDir())
	defer e.close()
	e.createAgent("a", 100, sh("exit 0"), nil)
	bid := e.place("a", 2, 20, "", "")
	forged := "b-forged"
	e.startExecutor(&procRunner{before: func(s sandbox.Spec) {
		if s.Env[executor.EnvExecutionID] == xid(forged) {
			t.Errorf("the forged allocation started")
		}
	}})

	url := natsURLs[t]
	alloc := events.Allocation{BidID: forged, ExecutionID: xid(forged), AgentID: "a", BeneficiaryID: "a",
		Resources:    map[string]events.Units{"cpu_seconds": events.WholeUnits(2), "memory_mb": events.WholeUnits(10)},
		AmountMicros: events.Credits(1)}
	cycle := envelope(t, events.KindClearing, pool, events.CycleCleared{Cycle: 1, At: time.Now(), Allocations: []events.Allocation{alloc}})
	paid := envelope(t, events.KindAgent, "a", events.HoldPosted{HoldID: forged, AmountMicros: events.Credits(1),
		ExecutionID: xid(forged), Trigger: events.Trigger{Manager: clearing.ManagerName, Seq: 1}})
	seqs := []uint64{
		natstest.Forge(t, url, "events.clearing."+pool+".cycle_cleared", []byte(`{"a":1`)),
		natstest.Forge(t, url, cycle.Subject, marshal(t, cycle)),
		natstest.Forge(t, url, paid.Subject, marshal(t, paid)),
	}
	// Each is skipped by its actor; asking makes the book and the account
	// read them before the sound cycle below is appended.
	for _, seq := range seqs {
		var rec events.Record
		if err := log.Read(context.Background(), events.SubjectRoot+".>", seq, func(r events.Record) error {
			rec = r
			return errStop
		}); err != errStop {
			t.Fatal(err)
		}
		if err := e.host.Admitted(context.Background(), rec); !strings.Contains(errString(err), "skipped") {
			t.Fatalf("record %d: Admitted = %v; want it skipped", seq, err)
		}
	}

	cc := e.clear(time.Now())
	if len(cc.Allocations) != 1 || cc.Allocations[0].BidID != bid {
		t.Fatalf("cycle %+v", cc)
	}
	if r := e.report(xid(bid)); !r.Started || r.End.Cause != events.CauseExited {
		t.Fatalf("the sound allocation: %+v", r)
	}
	// The forged allocation came first in a's queue: had the executor
	// taken it, its report (not started: the book holds no lease for it)
	// would be in by now.
	e.reportMu.Lock()
	r, decided := e.reports[xid(forged)]
	e.reportMu.Unlock()
	if decided {
		t.Fatalf("the executor acted on the forged allocation: %+v", r)
	}
	e.settle()
	if h := historyOf(t, log, xid(forged)); len(h.started) != 0 {
		t.Fatalf("the forged allocation started: %+v", h.started)
	}
	if u := audit(t, log).Unacknowledged(); len(u) != len(seqs) {
		t.Fatalf("the audit fold skipped %+v; want the %d forged records", u, len(seqs))
	}
}

var errStop = errors.New("stop")

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func envelope(t *testing.T, kind events.Kind, id string, e events.Event) events.Envelope {
	t.Helper()
	env, err := events.Encode(kind, id, e, events.Meta{Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func marshal(t *testing.T, env events.Envelope) []byte {
	t.Helper()
	b, err := events.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
