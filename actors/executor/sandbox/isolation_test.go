package sandbox

import (
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
	s := withBwrap(t)
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
		"list_data_dir", "write_data_dir", "write_parent", "write_usr", "write_etc", "tcp_loopback"} {
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
