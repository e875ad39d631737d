package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/agora-econ/agora/economy"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
)

// observerConn connects to url with no credentials, as `nats -s url`
// does, and collects the errors the server reports asynchronously.
func observerConn(t *testing.T, url string) (*nats.Conn, jetstream.JetStream, <-chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatalf("an observer without credentials: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, errs
}

// mustBeRefused publishes body on subject (with a reply inbox, as a
// request would) and waits for the server's permission violation.
func mustBeRefused(t *testing.T, nc *nats.Conn, errs <-chan error, subject, body string) {
	t.Helper()
	if err := nc.PublishRequest(subject, nc.NewRespInbox(), []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(commandTimeout)
	for {
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				continue // a consumer's heartbeat missed, say
			}
			if want := `Permissions Violation for Publish to "` + subject + `"`; !strings.Contains(err.Error(), want) {
				t.Fatalf("publish to %s: server said %v; want %s", subject, err, want)
			}
			return
		case <-timeout:
			t.Fatalf("publish to %s: the server reported no permission violation", subject)
		}
	}
}

// forgedTransfer is a well-formed event that would move genesis's money.
func forgedTransfer(t *testing.T) (subject, body string) {
	t.Helper()
	env, err := events.Encode(events.KindAgent, economy.GenesisID, events.TransferSent{
		TransferID: "t-forged", ToAgentID: "thief", AmountMicros: 1_000_000,
	}, events.Meta{Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := events.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return env.Subject, string(b)
}

// observerChecks: an observer reads the live events, the stream (direct
// gets and an ordered consumer) and market_state, and every write it
// tries is refused and leaves no trace in the log.
func observerChecks(t *testing.T, url, stream string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	nc, js, errs := observerConn(t, url)

	sub, err := nc.SubscribeSync("events.>")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(commandTimeout); err != nil {
		t.Fatalf("observer's nats sub 'events.>': %v", err)
	}
	log, err := natslog.New(ctx, js, stream)
	if err != nil {
		t.Fatalf("observer opens the stream: %v", err)
	}
	defer log.Close()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.GetMsg(ctx, 1); err != nil || !strings.Contains(string(m.Data), "agent_created") {
		t.Fatalf("observer's direct get of event 1: %v", err)
	}
	oc, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("observer's ordered consumer: %v", err)
	}
	if _, err := oc.Next(); err != nil {
		t.Fatalf("observer's ordered consumer: %v", err)
	}
	kv, err := js.KeyValue(ctx, "market_state")
	if err != nil {
		t.Fatalf("observer binds market_state: %v", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		t.Fatalf("observer's kv watch market_state: %v", err)
	}
	defer w.Stop()
	if e := <-w.Updates(); e == nil {
		t.Fatal("observer's kv watch market_state: no value")
	}

	subject, forged := forgedTransfer(t)
	mustBeRefused(t, nc, errs, "events.test.x.y", `{"a":1}`)
	mustBeRefused(t, nc, errs, subject, forged)
	mustBeRefused(t, nc, errs, "$JS.API.STREAM.PURGE."+stream, "{}")
	mustBeRefused(t, nc, errs, "$JS.API.STREAM.DELETE."+stream, "")
	mustBeRefused(t, nc, errs, "$KV.market_state.cpu_seconds", `{"price":0}`)
	mustBeRefused(t, nc, errs, "$KV.agora_state.cursor.executor-main", "0")

	// No trace: every record of the log is Agora's.
	err = log.Read(ctx, "events.>", 1, func(r events.Record) error {
		if r.Envelope.Subject == "events.test.x.y" || strings.Contains(string(r.Envelope.Data), "t-forged") {
			return fmt.Errorf("record %d is the observer's: %s", r.Seq, r.Envelope.Subject)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedServerOnlyAgoraWrites: `agora run` keeps its NATS password
// in the data directory, mode 0600; an observer on its port reads and
// cannot write; one-shot commands read through the port, with the
// password or, without it, as observers; the audit passes.
func TestEmbeddedServerOnlyAgoraWrites(t *testing.T) {
	run, dir, port, _ := startFastCycles(t)
	info, err := os.Stat(filepath.Join(dir, natslog.PasswordFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", natslog.PasswordFile, info, err)
	}
	observerChecks(t, fmt.Sprintf("nats://127.0.0.1:%d", port), natslog.DefaultStream)
	mustRun(t, "audit", "--data", dir)
	// Without the password file a one-shot command reads as an observer.
	hidden := filepath.Join(t.TempDir(), "pw")
	if err := os.Rename(filepath.Join(dir, natslog.PasswordFile), hidden); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "audit", "--data", dir)
	mustRun(t, "markets", "--data", dir)
	if err := os.Rename(hidden, filepath.Join(dir, natslog.PasswordFile)); err != nil {
		t.Fatal(err)
	}
	if code := run.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("agora run exited %d; stderr:\n%s", code, run.stderr)
	}
	if strings.Contains(run.stderr.String(), "Permissions Violation") {
		t.Fatalf("Agora's own connection was refused something:\n%s", run.stderr)
	}
}

// TestExternalServerWithTheDocumentedConfiguration runs the economy on a
// nats-server configured by the file docs/operations.md shows, then checks
// that an observer reads and cannot write, that a wrong password is
// refused with a clear error, and that the file grants exactly the
// permissions the embedded server gives.
func TestExternalServerWithTheDocumentedConfiguration(t *testing.T) {
	const confFile = "testdata/nats-server.conf"
	conf, err := os.ReadFile(confFile)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	if indented := "    " + strings.ReplaceAll(strings.TrimRight(string(conf), "\n"), "\n", "\n    "); !strings.Contains(string(ops), indented) {
		t.Fatalf("docs/operations.md does not show %s verbatim (indented four spaces)", confFile)
	}

	password, err := natslog.NewPassword()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGORA_NATS_PASSWORD", password)
	opts, err := server.ProcessConfigFile(confFile)
	if err != nil {
		t.Fatalf("%s: %v", confFile, err)
	}
	if got, want := permissionsOf(opts.Users), permissionsOf(natslog.Users(password, economy.NatsAccess(config.Default()))); !slices.Equal(got, want) {
		t.Fatalf("%s grants other permissions than the embedded server:\n got %q\nwant %q", confFile, got, want)
	}
	if opts.Users[0].Password != password {
		t.Fatal("the documented configuration does not take the password from AGORA_NATS_PASSWORD")
	}
	// Only where it listens and stores differs from the file.
	opts.Port, opts.StoreDir, opts.NoSigs = server.RANDOM_PORT, t.TempDir(), true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(commandTimeout) {
		t.Fatal("nats-server not ready")
	}
	url := srv.ClientURL()

	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	writeConfig := func(path, pw string) {
		t.Helper()
		c := fmt.Sprintf("allocation:\n  schedule_seconds: 0.5\nnats:\n  url: %s\n  user: agora\n  password: %q\n", url, pw)
		if err := os.WriteFile(path, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(cfgFile, password)
	dir := filepath.Join(t.TempDir(), "data")
	run := startAgora(t, "run", "--config", cfgFile, "--data", dir, "--listen", "127.0.0.1:0", "--headless")
	run.waitLine("running")

	observerChecks(t, url, natslog.DefaultStream)
	mustRun(t, "audit", "--config", cfgFile, "--data", dir)

	wrong := filepath.Join(t.TempDir(), "wrong.yaml")
	writeConfig(wrong, "not-the-password")
	r := runAgora(t, "audit", "--config", wrong, "--data", dir)
	if r.code == 0 || !strings.Contains(r.stderr, "Authorization Violation") {
		t.Fatalf("audit with a wrong password: %s", r)
	}
	if code := run.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("agora run exited %d; stderr:\n%s", code, run.stderr)
	}
	if strings.Contains(run.stderr.String(), "Permissions Violation") {
		t.Fatalf("Agora's own connection was refused something:\n%s", run.stderr)
	}
}

// permissionsOf lists users' permissions as sorted lines, the order of a
// configuration file's lists being free.
func permissionsOf(users []*server.User) []string {
	var lines []string
	add := func(user, what string, p *server.SubjectPermission) {
		if p == nil {
			return
		}
		for _, s := range p.Allow {
			lines = append(lines, user+" "+what+" allow "+s)
		}
		for _, s := range p.Deny {
			lines = append(lines, user+" "+what+" deny "+s)
		}
	}
	for _, u := range users {
		if u.Permissions == nil {
			lines = append(lines, u.Username+" everything")
			continue
		}
		add(u.Username, "publish", u.Permissions.Publish)
		add(u.Username, "subscribe", u.Permissions.Subscribe)
		if r := u.Permissions.Response; r != nil {
			lines = append(lines, fmt.Sprintf("%s responses max %d expires %s", u.Username, r.MaxMsgs, r.Expires))
		}
	}
	slices.Sort(lines)
	return lines
}

// TestExternalServerWithACredentialsFile runs the economy on a server in
// operator mode, as Agora's user given by a credentials file
// (nats.credentials) whose JWT carries exactly AgoraPermissions.
func TestExternalServerWithACredentialsFile(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	operator, err := nkeys.CreateOperator()
	must(err)
	operatorPub, err := operator.PublicKey()
	must(err)
	accountJWT := func(kp nkeys.KeyPair, jetStream bool) (string, string) {
		pub, err := kp.PublicKey()
		must(err)
		claims := jwt.NewAccountClaims(pub)
		if jetStream {
			claims.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		token, err := claims.Encode(operator)
		must(err)
		return pub, token
	}
	system, err := nkeys.CreateAccount()
	must(err)
	systemPub, systemJWT := accountJWT(system, false)
	account, err := nkeys.CreateAccount()
	must(err)
	accountPub, accountToken := accountJWT(account, true)

	user, err := nkeys.CreateUser()
	must(err)
	userPub, err := user.PublicKey()
	must(err)
	uc := jwt.NewUserClaims(userPub)
	perms := natslog.AgoraPermissions(economy.NatsAccess(config.Default()))
	uc.Pub.Allow.Add(perms.Publish.Allow...)
	uc.Sub.Allow.Add(perms.Subscribe.Allow...)
	userJWT, err := uc.Encode(account)
	must(err)
	seed, err := user.Seed()
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	credsFile := filepath.Join(t.TempDir(), "agora.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	opts := &server.Options{
		Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
		TrustedOperators: []*jwt.OperatorClaims{jwt.NewOperatorClaims(operatorPub)},
		SystemAccount:    systemPub,
		AccountResolver:  &server.MemAccResolver{},
	}
	must(opts.AccountResolver.Store(systemPub, systemJWT))
	must(opts.AccountResolver.Store(accountPub, accountToken))
	srv, err := server.NewServer(opts)
	must(err)
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(commandTimeout) {
		t.Fatal("nats-server not ready")
	}

	cfgFile := filepath.Join(t.TempDir(), "agora.yaml")
	c := fmt.Sprintf("allocation:\n  schedule_seconds: 0.5\nnats:\n  url: %s\n  credentials: %s\n", srv.ClientURL(), credsFile)
	must(os.WriteFile(cfgFile, []byte(c), 0o600))
	dir := filepath.Join(t.TempDir(), "data")
	run := startAgora(t, "run", "--config", cfgFile, "--data", dir, "--listen", "127.0.0.1:0", "--headless")
	run.waitLine("running")
	r := mustRun(t, "audit", "--config", cfgFile, "--data", dir)
	if !strings.Contains(r.stdout, "OK") {
		t.Fatalf("audit: %s", r)
	}
	if code := run.stop(syscall.SIGINT); code != 0 {
		t.Fatalf("agora run exited %d; stderr:\n%s", code, run.stderr)
	}
	if strings.Contains(run.stderr.String(), "Permissions Violation") {
		t.Fatalf("Agora's own connection was refused something:\n%s", run.stderr)
	}
}
