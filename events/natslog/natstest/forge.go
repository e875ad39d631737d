package natstest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Forge publishes data on subject as any client of the NATS port can (no
// envelope check, no expected sequence): a stray or forged record, as
// `nats pub events.test.x.y '{"a":1}'` writes one. url is the server's
// client URL. It waits for the stream to store the record and returns its
// sequence. Every test that forges records goes through here. On a port
// that lets only Agora publish on events.> (the embedded server of agora
// run), opts carry its credential (nats.UserInfo(natslog.AgoraUser,
// the password in <data>/nats.password)): a forgery then stands for a
// writer that has it, or a server without the split.
func Forge(t testing.TB, url, subject string, data []byte, opts ...nats.Option) uint64 {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("natstest: forge: %v", err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		t.Fatalf("natstest: forge %s: %v", subject, err)
	}
	ack, err := parseAck(m.Data)
	if err != nil {
		t.Fatalf("natstest: forge %s: %v: %s", subject, err, m.Data)
	}
	return ack
}

// parseAck reads a JetStream publish acknowledgement.
func parseAck(b []byte) (uint64, error) {
	var ack struct {
		Seq   uint64 `json:"seq"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &ack); err != nil {
		return 0, err
	}
	if ack.Error != nil {
		return 0, errors.New(ack.Error.Description)
	}
	if ack.Seq == 0 {
		return 0, errors.New("no sequence in the acknowledgement")
	}
	return ack.Seq, nil
}
