// Package natslog is the JetStream adapter of the event log and store ports
// (events.Log, events.Store): the production implementation. The log is one
// stream capturing events.>, written with a per-actor expected last subject
// sequence (one event with a message id, several as an atomic batch) and
// read with batched direct gets; the store is a key-value bucket.
package natslog

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// DefaultStream is the name of the event stream when none is configured.
const DefaultStream = "AGORA_EVENTS"

// DuplicateWindow is how long the server remembers message ids: a command
// retried within it with the same event id is acknowledged with the first
// sequence instead of being stored twice.
const DuplicateWindow = 2 * time.Minute

// ConsumerIdleMax is the longest a consumer of the stream may go unused
// before the server removes it, durable or not. Observers may create
// consumers (the NATS CLI's `nats stream view` makes a durable one and
// deletes it when done, which observers may not do), and the
// consumer-create subject cannot tell a durable from an ephemeral: this
// limit keeps any of them from staying for ever. It is the NATS CLI's
// threshold (one hour); nats.go's ordered consumers ask for 5 minutes.
const ConsumerIdleMax = time.Hour

// StreamOptions configures the event stream.
type StreamOptions struct {
	Name     string // default DefaultStream
	Replicas int    // default 1; 3 on a JetStream cluster
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Name == "" {
		o.Name = DefaultStream
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return o
}

// StreamConfig is the configuration EnsureStream applies; exported so that
// operators and tests can see exactly what the log relies on.
func StreamConfig(o StreamOptions) jetstream.StreamConfig {
	o = o.withDefaults()
	return jetstream.StreamConfig{
		Name:        o.Name,
		Description: "Agora event log (append-only; the source of truth)",
		Subjects:    []string{events.SubjectRoot + ".>"},
		// The log is the economy's memory: nothing is ever discarded.
		Retention:         jetstream.LimitsPolicy,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxAge:            0,
		MaxMsgsPerSubject: -1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          o.Replicas,
		Duplicates:        DuplicateWindow,
		// Reads are batched direct gets: no consumer per read, so any
		// number of actors can recover at once (the server allows 1000
		// consumers a stream), and a read never sees part of an atomic
		// batch. On a cluster any synchronised replica answers them, and
		// may be a few writes behind the leader: a Read therefore reads
		// on to the leader's last record of its filter (replicas.go).
		AllowDirect: true,
		// Atomic batches are where durable throughput comes from (group
		// commit under SyncAlways); see DESIGN.md.
		AllowAtomicPublish: true,
		// An append-only log: refuse `nats stream rmm` and `nats stream
		// purge`, which would silently erase money. The server does not let
		// an update turn these off again, which is the point. Deleting the
		// whole stream stays possible for an operator who means it.
		DenyDelete: true,
		DenyPurge:  true,
		ConsumerLimits: jetstream.StreamConsumerLimits{
			InactiveThreshold: ConsumerIdleMax,
		},
	}
}

// EnsureStream creates the event stream, or updates an existing one to the
// configuration above. It is idempotent: calling it on every start is the
// intended use, and it never removes messages.
func EnsureStream(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.Stream, error) {
	cfg := StreamConfig(o)
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("natslog: ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}
