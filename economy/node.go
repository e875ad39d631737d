package economy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/actors/executor/work"
	"github.com/agora-econ/agora/api/relay"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/economy/lease"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/groupcommit"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/projections/markets"
)

// Node is the connection to the event log: an embedded nats-server in the
// data directory, or an existing server given by nats.url.
type Node struct {
	cfg    config.Config
	srv    *server.Server // nil when the server is external
	url    string
	nc     *nats.Conn
	log    *natslog.Log
	store  *natslog.Store
	lock   *os.File // the data directory's lock, held while the embedded server runs
	logger *slog.Logger
	// given is the configuration as the operator gave it, before the node
	// filled in its own NATS user: what GET /admin/config shows.
	given config.Config

	// grouped commits the actors' appends in groups (groupCommit); nil
	// when they go to log one by one.
	grouped *groupcommit.Log
}

// ErrDataInUse is returned when another agora process holds the data
// directory: two embedded servers on one store would corrupt it.
var ErrDataInUse = errors.New("the data directory is in use by another agora process")

// NodeOptions say how a command wants the log.
type NodeOptions struct {
	// RandomPort starts the embedded server on a free port, for commands
	// (audit, replay, bench) that must not take the economy's client port.
	RandomPort bool
	// ReadOnly opens an existing economy without creating anything: the
	// stream must exist and the state bucket is not opened.
	ReadOnly bool
	// Publish are subjects beyond the log's that Agora's user may publish
	// on, on an embedded server (the benchmarks' raw stream).
	Publish []string
}

// URLFile is where a running economy writes its NATS client URL, so that
// one-shot commands can read through it whatever port it was given.
const URLFile = "nats.url"

// OpenNode connects to the log as the configuration says.
func OpenNode(ctx context.Context, cfg config.Config, o NodeOptions, logger *slog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, logger: logger, given: cfg.Clone()}
	if cfg.Nats.Embedded() {
		if o.ReadOnly {
			if _, err := os.Stat(filepath.Join(cfg.Data.Dir, "nats")); err != nil {
				return nil, fmt.Errorf("no economy in %s (no nats directory); give --data or --nats-url", cfg.Data.Dir)
			}
		}
		if err := n.startEmbedded(o); err != nil {
			return nil, err
		}
	} else {
		n.url = cfg.Nats.URL
	}
	nc, js, err := natslog.Connect(n.url, n.connectOptions()...)
	if err != nil {
		n.Close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", n.url, err)
	}
	n.nc = nc
	opts := natslog.StreamOptions{Name: cfg.Nats.Stream, Replicas: cfg.Nats.Replicas}
	if o.ReadOnly {
		if n.log, err = natslog.New(ctx, js, opts.Name); err != nil {
			n.Close()
			return nil, fmt.Errorf("no economy at %s: %w", n.url, err)
		}
		return n, nil
	}
	if n.log, err = natslog.Open(ctx, js, opts); err != nil {
		n.Close()
		return nil, fmt.Errorf("open the event stream %s: %w", opts.Name, err)
	}
	if n.store, err = natslog.NewStore(ctx, js, natslog.StoreOptions{Replicas: cfg.Nats.Replicas}); err != nil {
		n.Close()
		return nil, fmt.Errorf("open the state bucket: %w", err)
	}
	if groupCommit(cfg) {
		n.grouped = groupcommit.New(n.log)
	}
	return n, nil
}

func (n *Node) startEmbedded(o NodeOptions) error {
	dir := n.cfg.Data.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return err
	}
	n.lock = lock
	port := n.cfg.Nats.Port
	if o.RandomPort {
		port = natslog.RandomPort
	}
	// The economy's server is shared with one-shot commands, which read
	// its password from the data directory; a server on a random port is
	// this process's alone and needs no password anyone else knows.
	var password string
	if o.RandomPort {
		password, err = natslog.NewPassword()
	} else {
		password, err = natslog.LoadOrCreatePassword(dir)
	}
	if err != nil {
		n.Close()
		return fmt.Errorf("the embedded NATS server's password: %w", err)
	}
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{
		StoreDir:   filepath.Join(dir, "nats"),
		Host:       n.cfg.Nats.Host,
		Port:       port,
		SyncAlways: n.cfg.Nats.Sync == config.SyncAlways,
		Password:   password,
		Access:     NatsAccess(n.cfg, o.Publish...),
	})
	if err != nil {
		n.Close()
		return fmt.Errorf("start embedded NATS: %w", err)
	}
	n.srv, n.url = srv, url
	n.cfg.Nats.User, n.cfg.Nats.Password = natslog.AgoraUser, password
	return nil
}

// NatsAccess names the stream and buckets of cfg, any other subjects
// Agora publishes on, and the subject it serves the System Service on to
// execution workers (relay.SubjectDefault, ServeRelay) with the inboxes
// it answers on (relay.InboxPrefix), for the users' permissions.
func NatsAccess(cfg config.Config, publish ...string) natslog.Access {
	// Agora's user is also the execution workers' (execution.workers):
	// orders, results and cancellations, the workspaces' bucket, the acks
	// and heartbeats of the orders, the System Service's relay, and the
	// answers one Agora connection gives another's requests (a relayed
	// call, a result), on inboxes no observer may read.
	publish = append(slices.Clone(publish), work.SubjectPrefix+".>", "$O."+work.BucketDefault+".>",
		"$JS.ACK."+work.StreamDefault+".>", relay.SubjectDefault, natslog.AgoraInboxPrefix+".>")
	return natslog.Access{
		Stream:  cfg.Nats.Stream,
		Private: []string{natslog.DefaultBucket, lease.Bucket(cfg.Nats.Stream)},
		Watched: []string{markets.BucketName},
		Publish: publish,
		Serve:   []string{relay.SubjectDefault},
		Answer:  []string{relay.InboxPrefix + ".>"},
		// The workers' side of the relay: their calls' answers.
		Subscribe: []string{work.SubjectPrefix + ".>", relay.InboxPrefix + ".>"},
	}
}

// connectOptions are the options of Agora's connection: its user and
// inbox, and a loud log line for every error the server reports
// asynchronously (a permission violation would otherwise pass unseen but
// for a timeout).
func (n *Node) connectOptions() []nats.Option {
	opts := []nats.Option{
		nats.Name("agora"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			n.logger.Error("NATS", "err", err)
		}),
	}
	// Agora's user receives its answers where observers cannot
	// (natslog.AgoraInboxPrefix); without credentials a one-shot command
	// is an observer and uses theirs.
	switch {
	case n.cfg.Nats.User != "":
		opts = append(opts, nats.UserInfo(n.cfg.Nats.User, n.cfg.Nats.Password),
			nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	case n.cfg.Nats.Credentials != "":
		opts = append(opts, nats.UserCredentials(n.cfg.Nats.Credentials),
			nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	}
	return opts
}

// lockDir takes an exclusive advisory lock on <dir>/agora.lock. The kernel
// drops it when the process dies, even by kill -9.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "agora.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s); stop it, or read its log through its NATS server with --nats-url", ErrDataInUse, dir)
	}
	return f, nil
}

// Close closes the connection and stops the embedded server, if any.
func (n *Node) Close() {
	if n.grouped != nil {
		// Answers the appends still in flight, then closes n.log.
		n.grouped.Close()
	}
	if n.log != nil {
		n.log.Close()
	}
	if n.nc != nil {
		_ = n.nc.Drain()
		deadline := time.Now().Add(5 * time.Second)
		for !n.nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
	if n.lock != nil {
		n.lock.Close()
	}
}

// Config is the node's configuration; on an embedded server it names
// Agora's user and the password this start gave it.
func (n *Node) Config() config.Config { return n.cfg }

// Log is the event log.
func (n *Node) Log() *natslog.Log { return n.log }

// appendLog is the log the actors and managers append to: the group
// committer over the event log where the fsync policy calls for it
// (groupCommit), the event log itself otherwise.
func (n *Node) appendLog() events.Log {
	if n.grouped != nil {
		return n.grouped
	}
	return n.log
}

// Store is the state bucket (snapshots, cursors); nil for a read-only node.
func (n *Node) Store() *natslog.Store { return n.store }

// Conn is the node's NATS connection.
func (n *Node) Conn() *nats.Conn { return n.nc }

// URL is the NATS client URL: the embedded server's, or nats.url.
func (n *Node) URL() string { return n.url }

// Embedded reports whether the node runs the embedded server.
func (n *Node) Embedded() bool { return n.srv != nil }

// Logger is the node's logger.
func (n *Node) Logger() *slog.Logger { return n.logger }
