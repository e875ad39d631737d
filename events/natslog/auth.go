package natslog

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/agora-econ/agora/events/secretfile"
	"github.com/nats-io/nats-server/v2/server"
)

// The users of the embedded server. Only AgoraUser writes the log;
// ObserverUser is who a client that gives no credentials is (the server's
// no_auth_user), so that `nats sub 'events.>'` works with no flags and
// can do nothing else.
const (
	AgoraUser    = "agora"
	ObserverUser = "observer"
)

// AgoraInboxPrefix is the inbox prefix of Agora's connections (give it
// with nats.CustomInboxPrefix). Observers receive their answers on
// _INBOX.>, which they may all subscribe to; were Agora's answers there
// too, an observer would see the names of Agora's consumers in them, and
// could edit or delete those consumers (the JetStream API allows both by
// name). Agora's answers come on subjects no observer may subscribe to.
const AgoraInboxPrefix = "_AGORA_INBOX"

// Access names what the users' permissions are about: the event stream,
// the buckets only Agora uses, and the buckets Agora writes for observers
// to watch.
type Access struct {
	Stream string // default DefaultStream
	// Private are buckets only Agora reads and writes (agora_state: its
	// snapshots and cursors).
	Private []string
	// Watched are buckets Agora writes and observers read (market_state).
	Watched []string
	// Publish are subjects beyond events.> that Agora's user may publish on
	// (the benchmarks' raw stream, on a server of their own; the work
	// queue of the execution workers).
	Publish []string
	// Serve are subjects on which Agora's user answers calls (the System
	// Service relayed to execution workers, api/relay): it subscribes to
	// them. Answer are the subjects it answers on (the relay's inboxes):
	// it publishes there. Named, not the server's allow_responses, which
	// would track every message with a reply subject delivered to Agora's
	// connections (each event a consumer delivers) for as long as it
	// lets them be answered.
	Serve  []string
	Answer []string
	// Subscribe are subjects beyond its inboxes that Agora's user may
	// subscribe to (the work queue's results and cancellations, the System
	// Service's relay).
	Subscribe []string
}

func (a Access) withDefaults() Access {
	if a.Stream == "" {
		a.Stream = DefaultStream
	}
	return a
}

// AgoraPermissions are what Agora's own connections need: publish events,
// manage its stream and buckets through the JetStream API, write its
// buckets, and receive the answers (on inboxes). It needs no other
// subject: a violation is a bug, which the tests of every command would
// show. Its answers come on AgoraInboxPrefix, not _INBOX.
func AgoraPermissions(a Access) *server.Permissions {
	a = a.withDefaults()
	publish := []string{
		"events.>",
		// Streams, buckets, consumers, direct gets. The API checks the
		// request itself; on a server shared with other applications, give
		// Agora an account of its own (docs/operations.md).
		"$JS.API.>",
	}
	for _, b := range append(append([]string{}, a.Private...), a.Watched...) {
		publish = append(publish, "$KV."+b+".>")
	}
	publish = append(publish, a.Publish...)
	publish = append(publish, a.Answer...)
	return &server.Permissions{
		Publish: &server.SubjectPermission{Allow: publish},
		// Its own connections answer on AgoraInboxPrefix; _INBOX is for
		// tools run with its credentials (the NATS CLI with --user agora).
		Subscribe: &server.SubjectPermission{Allow: append(append([]string{AgoraInboxPrefix + ".>", "_INBOX.>"}, a.Serve...), a.Subscribe...)},
	}
}

// ObserverPermissions are what a client with no credentials may do:
// subscribe to the events as they are written, read the stream (its
// info, direct gets and stored-message gets, consumers with their pulls,
// flow control, acknowledgements and deletion), and the same on the
// watched buckets (`nats kv watch`, `nats kv get`). Everything else is
// denied: publishing on events.> or any bucket's subjects, deleting,
// purging or editing a stream, listing its consumers, the private
// buckets, and the legacy API that creates durable consumers. (The
// current consumer-create subject names the consumer, not whether it is
// durable; ConsumerIdleMax bounds how long one can stay.)
//
// Inboxes: an observer may subscribe to _INBOX.> for its answers but not
// publish there, so it cannot forge an answer to anyone's request, nor
// subscribe to AgoraInboxPrefix.
func ObserverPermissions(a Access) *server.Permissions {
	a = a.withDefaults()
	publish := []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.NAMES",
		"$JS.API.STREAM.LIST",
	}
	streams := []string{a.Stream}
	for _, b := range a.Watched {
		streams = append(streams, "KV_"+b)
	}
	for _, s := range streams {
		publish = append(publish,
			"$JS.API.STREAM.INFO."+s,
			"$JS.API.STREAM.MSG.GET."+s,
			"$JS.API.DIRECT.GET."+s,
			"$JS.API.DIRECT.GET."+s+".>",
			"$JS.API.CONSUMER.CREATE."+s,
			"$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.MSG.NEXT."+s+".*",
			// `nats stream view` deletes the consumer it made when it is
			// done. Deleting one needs its name, and an observer never
			// sees the names of Agora's (see AgoraInboxPrefix).
			"$JS.API.CONSUMER.DELETE."+s+".*",
			"$JS.FC."+s+".>",
			// Acknowledgements, on the observer's own consumers: Agora's
			// are ordered consumers, which take none.
			"$JS.ACK."+s+".>",
		)
	}
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: publish,
			// Already outside the allow list; denied by name so that a
			// later widening of it cannot let these through.
			Deny: []string{"events.>", "$KV.>", "$JS.API.CONSUMER.DURABLE.>"},
		},
		Subscribe: &server.SubjectPermission{Allow: []string{"events.>", "_INBOX.>"}},
	}
}

// Users returns the embedded server's users: Agora's, with password, and
// the observer, who has none and is who a client without credentials
// becomes.
func Users(password string, a Access) []*server.User {
	return []*server.User{
		{Username: AgoraUser, Password: password, Permissions: AgoraPermissions(a)},
		{Username: ObserverUser, Permissions: ObserverPermissions(a)},
	}
}

// PasswordFile is the name, in the data directory, of the file holding the
// password of the embedded server's AgoraUser.
const PasswordFile = "nats.password"

// passwordBytes is the randomness of a generated password (256 bits).
const passwordBytes = 32

// passwordFileMode is the only access the password's file may grant.
const passwordFileMode fs.FileMode = 0o600

// ErrPasswordFile is returned when the password file cannot be used. A
// file others could read is refused rather than repaired: the password
// may be theirs already, so its owner must decide.
var ErrPasswordFile = errors.New("natslog: the NATS password file cannot be used")

// NewPassword returns a random password, for an embedded server whose
// password no other process needs (a one-shot command's, a benchmark's).
func NewPassword() (string, error) {
	raw := make([]byte, passwordBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// ReadPassword reads the password of dir's PasswordFile, refusing a file
// whose mode grants more than 0600. A missing file is fs.ErrNotExist.
func ReadPassword(dir string) (string, error) {
	path := filepath.Join(dir, PasswordFile)
	info, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPasswordFile, err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file (%s)", ErrPasswordFile, path, info.Mode().Type())
	}
	if perm := info.Mode().Perm(); perm&^passwordFileMode != 0 {
		return "", fmt.Errorf("%w: %s has mode %#o, wider than %#o: others may have read it; "+
			"delete the file to have a new password made at the next start, or chmod 600 it to keep this one",
			ErrPasswordFile, path, perm, passwordFileMode)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPasswordFile, err)
	}
	pw := strings.TrimSpace(string(b))
	if len(pw) < 16 || strings.ContainsFunc(pw, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "", fmt.Errorf("%w: %s does not hold a password (16 or more printable characters); delete it to have one made at the next start", ErrPasswordFile, path)
	}
	return pw, nil
}

// LoadOrCreatePassword returns the password in dir's PasswordFile, made
// at the first start (random, mode 0600). The file is written under a
// temporary name and linked into place, so it is never seen half-written
// and two starts cannot end with two passwords.
func LoadOrCreatePassword(dir string) (string, error) {
	pw, err := ReadPassword(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		return pw, err
	}
	if pw, err = NewPassword(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrPasswordFile, err)
	}
	created, err := secretfile.WriteOnce(dir, PasswordFile, pw+"\n", passwordFileMode)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPasswordFile, err)
	}
	if !created {
		return ReadPassword(dir)
	}
	return pw, nil
}
