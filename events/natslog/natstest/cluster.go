package natstest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events/natslog"
)

// ClusterSize is the number of nodes of the documented deployment.
const ClusterSize = 3

// clusterReadyTimeout bounds the waits of a cluster's start and restarts:
// routes, the JetStream meta leader, a stream leader. Generous, since
// the machine may be busy; a healthy cluster on loopback takes a second
// or two.
const clusterReadyTimeout = time.Minute

// ClusterFiles is the directory of the deployment's nats-server
// configuration files (docs/cluster in the repository): the cluster
// tests start their servers from those very files, so that what the
// documentation says to run is what the tests run.
func ClusterFiles() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("natstest: cannot locate the repository")
	}
	// This file is events/natslog/natstest/cluster.go.
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "docs", "cluster")
}

// Cluster is a three-node JetStream cluster of servers inside the test
// process, on loopback, each with its own store directory, started from
// the configuration files of ClusterFiles. A node may be killed and
// restarted on the same ports and store.
type Cluster struct {
	t     testing.TB
	nodes [ClusterSize]*ClusterNode
	// Password is the agora user's (users.conf).
	Password string
}

// ClusterNode is one server of a Cluster.
type ClusterNode struct {
	Name string // n1, n2, n3: the server name of its file
	URL  string // its client URL
	file string
	srv  *server.Server // nil while killed
}

// Server is the node's running server, nil while it is killed.
func (n *ClusterNode) Server() *server.Server { return n.srv }

// StartCluster starts the three nodes of ClusterFiles: it gives each node
// free ports on 127.0.0.1 and a store in t.TempDir() through the
// environment variables the files read, and a random password to Agora's
// user and to the routes. It returns once the routes are up and the
// JetStream cluster has a meta leader; t.Cleanup stops the nodes. The
// environment is the test's (t.Setenv), so cluster tests cannot run in
// parallel.
func StartCluster(t *testing.T) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Password: password(t)}
	routePassword := password(t)
	t.Setenv("AGORA_NATS_PASSWORD", c.Password)
	t.Setenv("AGORA_ROUTE_PASSWORD", routePassword)
	for i := range c.nodes {
		name := "n" + strconv.Itoa(i+1)
		env := "AGORA_" + strings.ToUpper(name) + "_"
		port, clusterPort := freePort(t), freePort(t)
		t.Setenv(env+"HOST", "127.0.0.1")
		t.Setenv(env+"PORT", strconv.Itoa(port))
		t.Setenv(env+"CLUSTER_PORT", strconv.Itoa(clusterPort))
		t.Setenv(env+"STORE", t.TempDir())
		t.Setenv(env+"ROUTE", fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", routePassword, clusterPort))
		c.nodes[i] = &ClusterNode{
			Name: name,
			URL:  fmt.Sprintf("nats://127.0.0.1:%d", port),
			file: filepath.Join(ClusterFiles(), name+".conf"),
		}
	}
	t.Cleanup(c.stop)
	for i := range c.nodes {
		c.start(i)
	}
	c.waitReady()
	return c
}

// waitReady waits until every running node has its routes and the
// JetStream meta leader counts every node as a peer, each of them current:
// a stream of three replicas can be placed only then.
func (c *Cluster) waitReady() {
	c.t.Helper()
	c.waitFor("JetStream cluster of "+strconv.Itoa(ClusterSize)+" nodes", func() bool {
		var leader *server.Server
		for _, n := range c.nodes {
			if n.srv == nil {
				continue
			}
			if n.srv.NumRoutes() < ClusterSize-1 || !n.srv.JetStreamIsCurrent() {
				return false
			}
			if n.srv.JetStreamIsLeader() {
				leader = n.srv
			}
		}
		return leader != nil && len(leader.JetStreamClusterPeers()) == ClusterSize
	})
}

// freePort is a port nothing listens on now. Another process may take it
// before the node does; the node's start then fails loudly.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// password is a random password that the configuration parser reads as
// a string whatever its characters (a leading digit would make it a
// number).
func password(t testing.TB) string {
	t.Helper()
	pw, err := natslog.NewPassword()
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return "pw" + pw
}

// start runs node i from its file.
func (c *Cluster) start(i int) {
	c.t.Helper()
	n := c.nodes[i]
	opts := c.Options(i)
	// The test process owns the signals.
	opts.NoSigs = true
	srv, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatalf("natstest: %s: %v", n.file, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(clusterReadyTimeout) {
		srv.Shutdown()
		c.t.Fatalf("natstest: %s not ready after %s", n.Name, clusterReadyTimeout)
	}
	n.srv = srv
}

// URLs is the client URLs of the three nodes, separated by commas, as
// --nats-url takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		urls[i] = n.URL
	}
	return strings.Join(urls, ",")
}

// Connect connects to the cluster (any node, the others on failure) as
// user, with the options of Agora's own connections; t.Cleanup closes the
// connection.
func (c *Cluster) Connect(user, password string) jetstream.JetStream {
	c.t.Helper()
	nc, js, err := natslog.Connect(c.URLs(), nats.UserInfo(user, password), nats.CustomInboxPrefix(natslog.AgoraInboxPrefix))
	if err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
	c.t.Cleanup(nc.Close)
	return js
}

// Options is node i's configuration as its file gives it, with the
// environment of this cluster.
func (c *Cluster) Options(i int) *server.Options {
	c.t.Helper()
	opts, err := server.ProcessConfigFile(c.nodes[i].file)
	if err != nil {
		c.t.Fatalf("natstest: %s: %v", c.nodes[i].file, err)
	}
	return opts
}

// Node is node i (0, 1 or 2).
func (c *Cluster) Node(i int) *ClusterNode { return c.nodes[i] }

// NodeNamed is the node of that server name, or nil.
func (c *Cluster) NodeNamed(name string) (int, *ClusterNode) {
	for i, n := range c.nodes {
		if n.Name == name {
			return i, n
		}
	}
	return -1, nil
}

// Kill stops node i: its clients are cut off, its routes drop, and the
// others elect new leaders for what it led.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	n := c.nodes[i]
	if n.srv == nil {
		c.t.Fatalf("natstest: %s is not running", n.Name)
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Restart starts node i again, on its ports and its store, and waits until
// the cluster counts it again.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.start(i)
	c.waitReady()
}

// StreamLeader asks the cluster, through js, which node leads stream
// and waits until one does; it returns that node's index.
func (c *Cluster) StreamLeader(ctx context.Context, js jetstream.JetStream, stream string) int {
	c.t.Helper()
	leader := -1
	var last string
	c.waitFor("a leader of stream "+stream, func() bool {
		// No answer comes while nothing leads the stream: ask again.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := js.Stream(actx, stream)
		if err != nil {
			last = err.Error()
			return false
		}
		info := s.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == "" {
			last = fmt.Sprintf("%+v", info.Cluster)
			return false
		}
		i, n := c.NodeNamed(info.Cluster.Leader)
		if n == nil || n.srv == nil {
			last = "led by " + info.Cluster.Leader
			return false // a dead node's name, from a stale answer
		}
		leader = i
		return true
	}, &last)
	return leader
}

// LeadStream makes node i the leader of stream: the leader steps down
// with node i as the preferred successor (nats-server 2.11's stepdown
// placement), again until node i leads. A test moves the leadership to
// the node its client is connected to, so that killing the leader also
// cuts the client off.
func (c *Cluster) LeadStream(ctx context.Context, js jetstream.JetStream, stream string, i int) {
	c.t.Helper()
	req, err := json.Marshal(map[string]any{"placement": map[string]string{"preferred": c.nodes[i].Name}})
	if err != nil {
		c.t.Fatal(err)
	}
	subject := "$JS.API.STREAM.LEADER.STEPDOWN." + stream
	for c.StreamLeader(ctx, js, stream) != i {
		if ctx.Err() != nil {
			c.t.Fatalf("natstest: %s does not lead stream %s: %v", c.nodes[i].Name, stream, ctx.Err())
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// The answer says little; the loop asks who leads.
		_, _ = js.Conn().RequestWithContext(actx, subject, req)
		cancel()
	}
}

// waitFor polls ok until it holds, failing the test after
// clusterReadyTimeout.
// why, when given, says what the last poll saw.
func (c *Cluster) waitFor(what string, ok func() bool, why ...*string) {
	c.t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			saw := ""
			for _, w := range why {
				saw = " (the last answer: " + *w + ")"
			}
			c.t.Fatalf("natstest: no %s after %s%s", what, clusterReadyTimeout, saw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) stop() {
	for _, n := range c.nodes {
		if n != nil && n.srv != nil {
			n.srv.Shutdown()
		}
	}
	for _, n := range c.nodes {
		if n != nil && n.srv != nil {
			n.srv.WaitForShutdown()
			n.srv = nil
		}
	}
}
