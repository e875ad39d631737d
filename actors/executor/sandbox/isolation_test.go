package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// probeProgram tries, from inside the sandbox, everything an agent must
// not do and the one thing it must: each check prints "ok" or the error.
const probeProgram = `
import json, os, socket, sys, http.client
checks = {}
def check(name, f):
    try:
        checks[name] = "ok: " + str(f())
    except Exception as e:
        checks[name] = "error: " + type(e).__name__ + ": " + str(e)

args = json.loads(sys.argv[1])
check("read_other_workspace", lambda: open(args["other_secret"]).read())
check("read_other_workspace_relative", lambda: open("../" + args["other_name"] + "/secret.txt").read())
check("read_operator_token", lambda: open(args["token"]).read())
check("list_data_dir", lambda: os.listdir(args["data"]))
def write(path):
    with open(path, "w") as f:
        f.write("escaped")
    return path
check("write_data_dir", lambda: write(os.path.join(args["data"], "escape")))
check("write_parent", lambda: write("../escape"))
check("write_usr", lambda: write("/usr/escape"))
check("write_etc", lambda: write("/etc/escape"))
check("write_root", lambda: write("/escape"))
check("write_dev", lambda: write("/dev/escape"))
check("write_host_tmp", lambda: write(args["host_tmp_file"]))
check("write_workspace", lambda: write("mine.txt"))
def tcp():
    s = socket.create_connection(("127.0.0.1", args["tcp_port"]), timeout=3)
    s.close()
    return "connected"
check("tcp_loopback", tcp)
def unix_http():
    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(os.environ["AGORA_URL"][len("unix://"):])
    c = Conn("agora")
    c.request("GET", "/ping", headers={"Authorization": "Bearer " + os.environ["AGORA_TOKEN"]})
    r = c.getresponse()
    return str(r.status) + " " + r.read().decode()
check("service_over_socket", unix_http)
check("root_entries", lambda: sorted(os.listdir("/")))
print("CHECKS " + json.dumps(checks), flush=True)
`

// An agent's program sees its workspace and the service, and nothing
// else of the host: not another workspace, not the data directory and its
// operator token, no host directory to write, no TCP.
func TestIsolation(t *testing.T) {
	eachLayout(t, func(t *testing.T, s *Sandbox) {
		needPython(t)

		data := t.TempDir()
		mustWrite(t, filepath.Join(data, "operator.token"), "operator-secret")
		ws := filepath.Join(data, "workspaces", "agent-a")
		other := filepath.Join(data, "workspaces", "agent-b")
		for _, dir := range []string{ws, other} {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		mustWrite(t, filepath.Join(other, "secret.txt"), "other-agent-secret")
		hostTmp := filepath.Join(os.TempDir(), marker(t))
		t.Cleanup(func() { _ = os.Remove(hostTmp) })

		var tcpAccepted atomic.Int64
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				tcpAccepted.Add(1)
				_ = c.Close()
			}
		}()

		sock := serveUnixHTTP(t, filepath.Join(data, "agora.sock"))
		if err := s.GrantSocket(sock); err != nil {
			t.Fatal(err)
		}

		args, _ := json.Marshal(map[string]any{
			"other_secret": filepath.Join(other, "secret.txt"), "other_name": filepath.Base(other),
			"token": filepath.Join(data, "operator.token"), "data": data, "host_tmp_file": hostTmp,
			"tcp_port": ln.Addr().(*net.TCPAddr).Port,
		})
		sp := spec(t, "python3", "-c", probeProgram, string(args))
		sp.Workspace, sp.Socket = ws, sock
		sp.Env = map[string]string{"AGORA_URL": "unix://" + s.SocketPath(sock), "AGORA_TOKEN": "agent-a-token"}
		res, log := run(t, s, sp)
		if res.Cause != CauseExited || res.ExitCode != 0 {
			t.Fatalf("result %s\n%s", res, log)
		}
		checks := parseChecks(t, log)

		for _, name := range []string{"read_other_workspace", "read_other_workspace_relative", "read_operator_token",
			"list_data_dir", "write_data_dir", "write_parent", "write_usr", "write_etc", "write_root", "write_dev", "tcp_loopback"} {
			if !strings.HasPrefix(checks[name], "error: ") {
				t.Errorf("%s succeeded inside the sandbox: %s", name, checks[name])
			}
		}
		for name, want := range map[string]string{
			"write_workspace":     "ok: mine.txt",
			"service_over_socket": "ok: 200 pong agent-a-token",
		} {
			if checks[name] != want {
				t.Errorf("%s = %q; want %q", name, checks[name], want)
			}
		}
		// A private /tmp: writing the host's path succeeds inside, and lands
		// nowhere on the host.
		if _, err := os.Stat(hostTmp); err == nil {
			t.Errorf("the program wrote %s on the host", hostTmp)
		}
		var root []string
		if err := json.Unmarshal([]byte(strings.TrimPrefix(checks["root_entries"], "ok: ")), &root); err != nil {
			// Python prints a list with single quotes.
			root = strings.Split(strings.NewReplacer("ok: ", "", "[", "", "]", "", "'", "", " ", "").Replace(checks["root_entries"]), ",")
		}
		allowed := []string{"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr", "workspace"}
		for _, entry := range root {
			if !slices.Contains(allowed, entry) {
				t.Errorf("the sandbox's / shows %q of the host (all: %v)", entry, root)
			}
		}
		if n := tcpAccepted.Load(); n > 0 {
			t.Errorf("the listener on 127.0.0.1 accepted %d connections from the sandbox", n)
		}
		if _, err := os.Stat(filepath.Join(data, "escape")); err == nil {
			t.Errorf("the program wrote into the data directory")
		}
		if b, err := os.ReadFile(filepath.Join(ws, "mine.txt")); err != nil || string(b) != "escaped" {
			t.Errorf("the program's own file: %q, %v", b, err)
		}
	})
}

// devicesProgram uses each device, writes /dev/shm and reads it back in
// /tmp, and tries to add an entry to /dev.
const devicesProgram = `
import os
print("entries", sorted(os.listdir("/dev")))
for d in ("null", "zero", "full", "random", "urandom"):
    with open("/dev/" + d, "rb") as f:
        assert len(f.read(8)) == (0 if d == "null" else 8), d
with open("/dev/null", "wb") as f:
    f.write(b"x")
with open("/dev/shm/x", "w") as f:
    f.write("shared")
print("shm in tmp", open("/tmp/x").read())
try:
    open("/dev/mine", "w")
    print("wrote /dev")
except OSError as e:
    print("dev read-only", e.errno)
`

// The program's /dev: the usual devices and links, /dev/shm in its own
// /tmp, nothing it can add.
func TestDevices(t *testing.T) {
	needPython(t)
	eachLayout(t, func(t *testing.T, s *Sandbox) {
		res, log := run(t, s, spec(t, "python3", "-c", devicesProgram))
		if res.Cause != CauseExited || res.ExitCode != 0 {
			t.Fatalf("result %s\n%s", res, log)
		}
		for _, want := range []string{
			"entries ['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']",
			"shm in tmp shared", "dev read-only",
		} {
			if !strings.Contains(log, want) {
				t.Errorf("the log lacks %q:\n%s", want, log)
			}
		}
	})
}

// listenerProgram connects to its own loopback, listens on TCP and on the
// abstract Unix socket named by its argument, writes the TCP port to the
// file "port" and waits for a file "done".
const listenerProgram = `
import os, socket, sys, time
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
socket.create_connection(tcp.getsockname()).close()
abstract = socket.socket(socket.AF_UNIX); abstract.bind("\0" + sys.argv[1]); abstract.listen()
print("net", os.readlink("/proc/self/ns/net"), flush=True)
with open("port.tmp", "w") as f:
    f.write(str(tcp.getsockname()[1]))
os.rename("port.tmp", "port")
while not os.path.exists("done"):
    time.sleep(0.02)
`

// connectProgram tries the listener's TCP port and abstract socket.
const connectProgram = `
import os, socket, sys
print("net", os.readlink("/proc/self/ns/net"))
for name, family, addr in (("tcp", socket.AF_INET, ("127.0.0.1", int(sys.argv[1]))), ("abstract", socket.AF_UNIX, "\0" + sys.argv[2])):
    try:
        socket.socket(family).connect(addr)
        print(name, "connected")
    except OSError as e:
        print(name, "refused", e.errno)
`

// Each workspace has a network of its own: a program's loopback works,
// and what it listens on, TCP or abstract Unix socket, is out of reach of
// another agent's program running meanwhile. As root the executor keeps a
// workspace's namespace between its executions (netns.go).
func TestNetworkPerWorkspace(t *testing.T) {
	needPython(t)
	eachLayout(t, func(t *testing.T, s *Sandbox) {
		name := marker(t)
		listener := spec(t, "python3", "-c", listenerProgram, name)
		done := make(chan Result, 1)
		go func() {
			res, err := s.Run(context.Background(), listener)
			if err != nil {
				t.Errorf("listener: %v", err)
			}
			done <- res
		}()
		var listenerRes *Result
		stop := func() Result {
			if listenerRes == nil {
				mustWrite(t, filepath.Join(listener.Workspace, "done"), "")
				r := <-done
				listenerRes = &r
			}
			return *listenerRes
		}
		t.Cleanup(func() { stop() })
		var port []byte
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			var err error
			if port, err = os.ReadFile(filepath.Join(listener.Workspace, "port")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the listener never listened")
			}
		}
		res, connectLog := run(t, s, spec(t, "python3", "-c", connectProgram, string(port), name))
		if r := stop(); r.Cause != CauseExited || r.ExitCode != 0 {
			t.Fatalf("listener %s\n%s", r, readLog(t, listener.Workspace))
		}
		if res.Cause != CauseExited || res.ExitCode != 0 || strings.Contains(connectLog, "connected") {
			t.Errorf("another agent's program reached the listener: %s\n%s", res, connectLog)
		}
		listenerNet := namespaceIn(t, readLog(t, listener.Workspace))
		if namespaceIn(t, connectLog) == listenerNet {
			t.Errorf("two workspaces share the network namespace %s", listenerNet)
		}
		// The listener's workspace again: its namespace is kept if the
		// executor keeps them.
		again := spec(t, "python3", "-c", "import os; print('net', os.readlink('/proc/self/ns/net'))")
		again.Workspace = listener.Workspace
		_, log := run(t, s, again)
		if kept := namespaceIn(t, log) == listenerNet; kept != (s.networks != nil) {
			t.Errorf("the workspace's namespace kept: %v; the executor keeps them: %v", kept, s.networks != nil)
		}
	})
}

// namespaceIn is what a program printed after "net ".
func namespaceIn(t *testing.T, log string) string {
	t.Helper()
	for line := range strings.Lines(log) {
		if rest, ok := strings.CutPrefix(line, "net "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no namespace in:\n%s", log)
	return ""
}

// eachLayout runs f with the isolated sandbox as New made it and, when the
// executor keeps network namespaces or /dev itself (as root), again with
// bwrap making them for each execution, as where the executor cannot.
func eachLayout(t *testing.T, f func(t *testing.T, s *Sandbox)) {
	t.Helper()
	s := withBwrap(t)
	t.Run("as-new-made-it", func(t *testing.T) { f(t, s) })
	if s.networks == nil && slices.Equal(s.dev, devMounts("")) {
		return
	}
	bwrapMakesAll := *s
	bwrapMakesAll.networks, bwrapMakesAll.dev = nil, devMounts("")
	t.Run("bwrap-makes-all", func(t *testing.T) { f(t, &bwrapMakesAll) })
}

// Without GrantSocket, the sandbox users (when the executor is root)
// could not connect: Run says so before starting anything.
func TestSocketNeedsGrant(t *testing.T) {
	s := withBwrap(t)
	if s.users == nil {
		t.Skip("programs run as the executor's own user, who owns the socket")
	}
	sock := serveUnixHTTP(t, filepath.Join(t.TempDir(), "agora.sock"))
	if err := os.Chmod(sock, 0o600); err != nil {
		t.Fatal(err)
	}
	sp := spec(t, "true")
	sp.Socket = sock
	if _, err := s.Run(t.Context(), sp); err == nil || !strings.Contains(err.Error(), "GrantSocket") {
		t.Fatalf("Run = %v; want ErrSocketAccess naming GrantSocket", err)
	}
	if err := s.GrantSocket(sock); err != nil {
		t.Fatal(err)
	}
	if res, _ := run(t, s, sp); res.Cause != CauseExited || res.ExitCode != 0 {
		t.Fatalf("after GrantSocket: %s", res)
	}
}

// serveUnixHTTP serves "pong <token>" on /ping over a Unix socket at path.
func serveUnixHTTP(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ping" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "pong %s", strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return path
}

func parseChecks(t *testing.T, log string) map[string]string {
	t.Helper()
	for line := range strings.Lines(log) {
		if rest, ok := strings.CutPrefix(line, "CHECKS "); ok {
			checks := map[string]string{}
			if err := json.Unmarshal([]byte(rest), &checks); err != nil {
				t.Fatalf("checks: %v\n%s", err, log)
			}
			return checks
		}
	}
	t.Fatalf("the probe printed no checks:\n%s", log)
	return nil
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
