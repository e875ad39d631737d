package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/cmd/agora/config"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/projections/markets"
)

// node is the connection to the event log: an embedded nats-server in the
// data directory, or an existing server given by nats.url.
type node struct {
	cfg    config.Config
	srv    *server.Server // nil when the server is external
	url    string
	nc     *nats.Conn
	log    *natslog.Log
	store  *natslog.Store
	lock   *os.File // the data directory's lock, held while the embedded server runs
	logger *slog.Logger
}

// errDataInUse is returned when another agora process holds the data
// directory: two embedded servers on one store would corrupt it.
var errDataInUse = errors.New("the data directory is in use by another agora process")

// nodeOptions say how a command wants the log.
type nodeOptions struct {
	// randomPort starts the embedded server on a free port, for commands
	// (audit, replay, bench) that must not take the economy's client port.
	randomPort bool
	// readOnly opens an existing economy without creating anything: the
	// stream must exist and the state bucket is not opened.
	readOnly bool
	// publish are subjects beyond the log's that Agora's user may publish
	// on, on an embedded server (the benchmarks' raw stream).
	publish []string
}

// urlFile is where a running economy writes its NATS client URL, so that
// one-shot commands can read through it whatever port it was given.
const urlFile = "nats.url"

// openNode connects to the log as the configuration says.
func openNode(ctx context.Context, cfg config.Config, o nodeOptions, logger *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, logger: logger}
	if cfg.Nats.Embedded() {
		if o.readOnly {
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
		n.close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", n.url, err)
	}
	n.nc = nc
	opts := natslog.StreamOptions{Name: cfg.Nats.Stream, Replicas: cfg.Nats.Replicas}
	if o.readOnly {
		if n.log, err = natslog.New(ctx, js, opts.Name); err != nil {
			n.close()
			return nil, fmt.Errorf("no economy at %s: %w", n.url, err)
		}
		return n, nil
	}
	if n.log, err = natslog.Open(ctx, js, opts); err != nil {
		n.close()
		return nil, fmt.Errorf("open the event stream %s: %w", opts.Name, err)
	}
	if n.store, err = natslog.NewStore(ctx, js, natslog.StoreOptions{Replicas: cfg.Nats.Replicas}); err != nil {
		n.close()
		return nil, fmt.Errorf("open the state bucket: %w", err)
	}
	return n, nil
}

func (n *node) startEmbedded(o nodeOptions) error {
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
	if o.randomPort {
		port = natslog.RandomPort
	}
	// The economy's server is shared with one-shot commands, which read
	// its password from the data directory; a server on a random port is
	// this process's alone and needs no password anyone else knows.
	var password string
	if o.randomPort {
		password, err = natslog.NewPassword()
	} else {
		password, err = natslog.LoadOrCreatePassword(dir)
	}
	if err != nil {
		n.close()
		return fmt.Errorf("the embedded NATS server's password: %w", err)
	}
	srv, url, err := natslog.StartEmbedded(natslog.EmbeddedOptions{
		StoreDir:   filepath.Join(dir, "nats"),
		Host:       n.cfg.Nats.Host,
		Port:       port,
		SyncAlways: n.cfg.Nats.Sync == config.SyncAlways,
		Password:   password,
		Access:     natsAccess(n.cfg, o.publish...),
	})
	if err != nil {
		n.close()
		return fmt.Errorf("start embedded NATS: %w", err)
	}
	n.srv, n.url = srv, url
	n.cfg.Nats.User, n.cfg.Nats.Password = natslog.AgoraUser, password
	return nil
}

// natsAccess names the stream and buckets of cfg, and any other subjects
// Agora publishes on, for the users' permissions.
func natsAccess(cfg config.Config, publish ...string) natslog.Access {
	return natslog.Access{
		Stream:  cfg.Nats.Stream,
		Private: []string{natslog.DefaultBucket},
		Watched: []string{markets.BucketName},
		Publish: publish,
	}
}

// connectOptions are the options of Agora's connection: its user and
// inbox, and a loud log line for every error the server reports
// asynchronously (a permission violation would otherwise pass unseen but
// for a timeout).
func (n *node) connectOptions() []nats.Option {
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
		return nil, fmt.Errorf("%w (%s); stop it, or read its log through its NATS server with --nats-url", errDataInUse, dir)
	}
	return f, nil
}

func (n *node) close() {
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
