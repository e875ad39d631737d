package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/chain"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/events/natslog/natstest"
	"github.com/agora-econ/agora/projections/economy"
)

// TestMain checks that no test leaves a goroutine behind: every host,
// manager, NATS connection and embedded server is stopped by its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quiet is the logger of the code under test: the failure tests provoke
// errors on purpose.
var quiet = slog.New(slog.DiscardHandler)

// ctxT is a generous bound against hangs, never an assertion on time.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// jetStream starts a real embedded JetStream server (natstest) and opens
// the event log and the snapshot store on it.
func jetStream(t testing.TB) (*natslog.Log, *natslog.Store) {
	t.Helper()
	_, js, _ := natstest.Start(t)
	return openLog(t, js)
}

func openLog(t testing.TB, js jetstream.JetStream) (*natslog.Log, *natslog.Store) {
	t.Helper()
	ctx := ctxT(t)
	log, err := natslog.Open(ctx, js, natslog.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(log.Close)
	store, err := natslog.NewStore(ctx, js, natslog.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return log, store
}

// restartable is an embedded server that a test can stop and start again
// on the same port and store directory, with a client that reconnects.
type restartable struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
	nc   *nats.Conn
	js   jetstream.JetStream
}

// startRestartable starts the server and connects with natslog.Connect
// (which reconnects for ever) plus opts.
func startRestartable(t testing.TB, opts ...nats.Option) *restartable {
	t.Helper()
	r := &restartable{t: t, dir: t.TempDir(), port: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	var err error
	opts = append([]nats.Option{nats.ReconnectWait(50 * time.Millisecond), nats.ReconnectJitter(0, 0)}, opts...)
	r.nc, r.js, err = natslog.Connect(r.srv.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close) // runs before r.stop
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	srv, _, err := natslog.StartEmbedded(natslog.EmbeddedOptions{StoreDir: r.dir, Port: r.port})
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = srv
}

func (r *restartable) stop() {
	if r.srv == nil {
		return
	}
	r.srv.Shutdown()
	r.srv.WaitForShutdown()
	r.srv = nil
}

// waitConnected waits until the client has reconnected to the restarted
// server.
func (r *restartable) waitConnected(ctx context.Context) {
	r.t.Helper()
	for !r.nc.IsConnected() {
		select {
		case <-ctx.Done():
			r.t.Fatalf("client did not reconnect: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// newHost starts a host with the account actor registered; it is stopped
// by t.Cleanup unless the test stops it first (Stop is idempotent).
func newHost(t testing.TB, log events.Log, store events.Store, opts runtime.Options) (*runtime.Host, *agent.Accounts) {
	t.Helper()
	h, err := runtime.NewHost(log, store, opts, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h, agent.NewAccounts(h)
}

// runner is a transfer manager running over a host until stopped.
type runner struct {
	mr     *runtime.ManagerRunner
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

func startManager(t testing.TB, h *runtime.Host, log events.Log, store events.Store) *runner {
	t.Helper()
	mr, err := runtime.NewManagerRunner(agent.TransferManager(), h, log, store, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{mr: mr, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mr.Run(ctx) }()
	t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels the runner and waits for Run to return.
func (r *runner) stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// settle waits until the manager has delivered every reaction to the log,
// including the reactions to its own reactions (a bounce obliges a
// return): it waits again until a wait adds nothing to the log.
func (r *runner) settle(t testing.TB, log events.Log) {
	t.Helper()
	ctx := ctxT(t)
	last, err := log.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if err := r.mr.WaitFloor(ctx, last); err != nil {
			t.Fatalf("settle to %d: %v (floor %d)", last, err, r.mr.Floor())
		}
		now, err := log.LastSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if now == last {
			return
		}
		last = now
	}
}

// records reads every record matching filter.
func records(t testing.TB, log events.Log, filter string) []events.Record {
	t.Helper()
	var out []events.Record
	if err := log.Read(ctxT(t), filter, 1, func(r events.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func lastSeq(t testing.TB, log events.Log) uint64 {
	t.Helper()
	s, err := log.LastSeq(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// audit folds the whole log through the economy, which checks every
// invariant after every event, and checks every actor's hash chain.
func audit(t testing.TB, log events.Log) *economy.Economy {
	t.Helper()
	eco := economy.New()
	var links chain.Verifier
	if err := log.Read(ctxT(t), events.SubjectRoot+".>", 1, func(r events.Record) error {
		// As agora audit: a record the fold skips is in no chain.
		skipped := len(eco.Skipped)
		verr := eco.Apply(r)
		if len(eco.Skipped) > skipped {
			return nil
		}
		if err := links.Check(r); err != nil {
			return err
		}
		return verr
	}); err != nil {
		t.Fatalf("audit: %v", err)
	}
	if links.Unlinked != 0 {
		t.Fatalf("audit: %+v: every event but an actor's first names its predecessor", links)
	}
	return eco
}

// settledAudit is audit plus: no transfer is still in flight.
func settledAudit(t testing.TB, log events.Log) *economy.Economy {
	t.Helper()
	eco := audit(t, log)
	if s := eco.Summary(); s.OpenTransfers != 0 || s.InFlightMicros != 0 {
		t.Fatalf("after settling, %d transfers (%s) are still in flight", s.OpenTransfers, s.InFlightMicros)
	}
	return eco
}

// replayed is the account as the log says it is.
func replayed(eco *economy.Economy, id string) agent.Account {
	a, ok := eco.Accounts[id]
	if !ok {
		return agent.New(id)
	}
	return a
}

// normalize makes empty and nil collections compare equal: a snapshot
// round trip turns one into the other without changing the state.
func normalize(a agent.Account) agent.Account {
	if len(a.Holds) == 0 {
		a.Holds = nil
	}
	if len(a.Lineage) == 0 {
		a.Lineage = nil
	}
	return a
}

// sameAccount fails unless live equals the account folded from the log.
func sameAccount(t testing.TB, live, want agent.Account) {
	t.Helper()
	if !reflect.DeepEqual(normalize(live), normalize(want)) {
		t.Fatalf("account %s:\n live     %+v\n replayed %+v", want.ID, live, want)
	}
}

// freshEqualsReplayed starts a new host over the log and store and checks
// that every account it recovers equals the audit's fold.
func freshEqualsReplayed(t testing.TB, log events.Log, store events.Store, opts runtime.Options, eco *economy.Economy, ids ...string) {
	t.Helper()
	h, acc := newHost(t, log, store, opts)
	defer h.Stop()
	for _, id := range ids {
		live, err := acc.Get(ctxT(t), id)
		if err != nil {
			t.Fatal(err)
		}
		sameAccount(t, live, replayed(eco, id))
	}
}

func get(t testing.TB, acc *agent.Accounts, id string) agent.Account {
	t.Helper()
	a, err := acc.Get(ctxT(t), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func create(t testing.TB, acc *agent.Accounts, id string, credits int64) runtime.Result {
	t.Helper()
	res, err := acc.Do(ctxT(t), id, "", agent.Create{GrantMicros: events.Credits(credits), Reason: "test"})
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return res
}

// byKey counts the records written for each idempotency key.
func byKey(rs []events.Record) map[string]int {
	n := map[string]int{}
	for _, r := range rs {
		if k := r.Envelope.IdempotencyKey; k != "" {
			n[k]++
		}
	}
	return n
}

// countTypes counts the records of each event type.
func countTypes(rs []events.Record) map[string]int {
	n := map[string]int{}
	for _, r := range rs {
		n[r.Envelope.Type]++
	}
	return n
}

// transferIDs maps each transfer id to how many events of type typ carry
// it.
func transferIDs(t testing.TB, rs []events.Record, typ string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range rs {
		if r.Envelope.Type != typ {
			continue
		}
		e, err := events.Decode(r.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case events.TransferSent:
			n[e.TransferID]++
		case events.TransferReceived:
			n[e.TransferID]++
		case events.TransferBounced:
			n[e.TransferID]++
		case events.TransferReturned:
			n[e.TransferID]++
		default:
			t.Fatalf("%s is not a transfer event", typ)
		}
	}
	return n
}

// isRetryable reports the shell's two "try again" answers.
func isRetryable(err error) bool {
	return errors.Is(err, runtime.ErrConflict) || errors.Is(err, runtime.ErrUnavailable)
}

func snapshotKey(id string) string { return fmt.Sprintf("snapshot.agent.%s", id) }
