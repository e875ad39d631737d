package natslog

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the embedded server: the NATS CLI's defaults, so that
// `nats sub 'events.>'` works with no flags.
const (
	DefaultHost = "127.0.0.1"
	DefaultPort = 4222
	// RandomPort asks the embedded server for any free port (tests).
	RandomPort = -1
)

// readyTimeout bounds the wait for the embedded server to listen. JetStream
// recovers its store before the server accepts clients, so a large store
// takes a while; a port that is taken is detected at once (see below).
const readyTimeout = 2 * time.Minute

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	StoreDir string // JetStream's directory; required
	Host     string // default DefaultHost
	Port     int    // default DefaultPort; RandomPort for any free port
	// SyncAlways fsyncs every write before it is acknowledged. A single node
	// has no replica to recover a lost write from, so the product's default
	// is true; false uses the server's periodic sync (2 minutes), faster
	// and weaker: an OS crash can lose acknowledged events.
	SyncAlways bool
	// Password, when set, closes the server to all but two users (auth.go):
	// AgoraUser with this password, who writes the log, and ObserverUser,
	// who any client without credentials is and who may only read. Empty
	// leaves the server open to every client, for the tests of this
	// package's adapter; agora's commands always set it.
	Password string
	// Access names the stream and buckets the users' permissions are
	// about; used with Password.
	Access Access
}

// StartEmbedded starts a nats-server with JetStream inside this process and
// returns it with the URL clients use. The caller shuts it down
// (Shutdown, then WaitForShutdown).
func StartEmbedded(o EmbeddedOptions) (*server.Server, string, error) {
	if o.StoreDir == "" {
		return nil, "", errors.New("natslog: embedded server needs a store directory")
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	hp := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	// The server reports a taken port only through its logger and then
	// never becomes ready; try the port first to say so plainly. A port
	// taken between this check and the server's own listen is still caught
	// by the logger below.
	if o.Port != RandomPort {
		ln, err := net.Listen("tcp", hp)
		if err != nil {
			return nil, "", fmt.Errorf("natslog: cannot listen on %s (is another agora or nats-server running? choose another port): %w", hp, err)
		}
		_ = ln.Close()
	}
	opts := &server.Options{
		ServerName: "agora",
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		SyncAlways: o.SyncAlways,
		// The process that embeds the server owns the signals.
		NoSigs: true,
	}
	if o.Password != "" {
		opts.Users = Users(o.Password, o.Access)
		opts.NoAuthUser = ObserverUser
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, "", fmt.Errorf("natslog: embedded server: %w", err)
	}
	fatal := &fatalLogger{ch: make(chan string, 1)}
	s.SetLogger(fatal, false, false)
	s.Start()

	ready := make(chan bool, 1)
	go func() { ready <- s.ReadyForConnections(readyTimeout) }()
	select {
	case ok := <-ready:
		if !ok {
			s.Shutdown()
			return nil, "", fmt.Errorf("natslog: embedded server on %s not ready after %s", hp, readyTimeout)
		}
	case msg := <-fatal.ch:
		s.Shutdown()
		return nil, "", fmt.Errorf("natslog: embedded server on %s: %s", hp, msg)
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, "", fmt.Errorf("natslog: embedded server on %s started without JetStream (store %s)", hp, o.StoreDir)
	}
	return s, s.ClientURL(), nil
}

// fatalLogger keeps the embedded server quiet and turns its fatal errors
// (port taken, JetStream store unusable) into a start-up error: the server
// itself only logs them.
type fatalLogger struct {
	once sync.Once
	ch   chan string
}

func (l *fatalLogger) Fatalf(format string, v ...any) {
	l.once.Do(func() { l.ch <- fmt.Sprintf(format, v...) })
}
func (l *fatalLogger) Noticef(string, ...any) {}
func (l *fatalLogger) Warnf(string, ...any)   {}
func (l *fatalLogger) Errorf(string, ...any)  {}
func (l *fatalLogger) Debugf(string, ...any)  {}
func (l *fatalLogger) Tracef(string, ...any)  {}

// Connect connects to url and returns the connection with its JetStream
// context. It reconnects for ever: a restarted server comes back on the same
// URL, and callers bound their operations with contexts. The caller closes
// the connection.
func Connect(url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	base := []nats.Option{
		nats.Name("agora"),
		nats.MaxReconnects(-1),
		// No reconnect buffer: a publish made while disconnected must fail
		// now, not be written when the server returns, after its caller was
		// told it failed.
		nats.ReconnectBufSize(-1),
	}
	nc, err := nats.Connect(url, append(base, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("natslog: connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("natslog: jetstream on %s: %w", url, err)
	}
	return nc, js, nil
}
