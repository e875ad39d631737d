package natslog

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParsePubAck(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		header  nats.Header
		seq     uint64
		errCode jetstream.ErrorCode
		err     bool
	}{
		{name: "ack", data: `{"stream":"events","seq":42}`, seq: 42},
		{name: "ack with domain", data: `{"stream":"events","seq":7,"domain":"hub"}`, seq: 7},
		{name: "duplicate", data: `{"stream":"events","seq":9,"duplicate":true}`, seq: 9},
		{name: "fields in another order", data: `{"seq":5,"stream":"events"}`, seq: 5},
		{name: "another stream", data: `{"stream":"other","seq":5}`, err: true},
		{name: "stream name prefix", data: `{"stream":"events2","seq":5}`, err: true},
		{name: "no sequence", data: `{"stream":"events"}`, err: true},
		{name: "garbage", data: `{"stream":"events","seq":12x`, err: true},
		{name: "wrong last sequence", data: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}`,
			errCode: jetstream.JSErrCodeStreamWrongLastSequence, err: true},
		{name: "no responders", header: nats.Header{"Status": []string{"503"}}, err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seq, err := parsePubAck(&nats.Msg{Data: []byte(c.data), Header: c.header}, "events")
			if c.err {
				if err == nil {
					t.Fatalf("parsePubAck(%s) = %d, want an error", c.data, seq)
				}
				if c.errCode != 0 {
					var apiErr *jetstream.APIError
					if !errors.As(err, &apiErr) || apiErr.ErrorCode != c.errCode {
						t.Fatalf("error %v, want API error %d", err, c.errCode)
					}
					if !isWrongLastSequence(err) {
						t.Fatalf("%v is not recognised as a wrong last sequence", err)
					}
				}
				return
			}
			if err != nil || seq != c.seq {
				t.Fatalf("parsePubAck(%s) = %d, %v; want %d", c.data, seq, err, c.seq)
			}
		})
	}
}
