package natslog

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/events"
)

// DefaultBucket is the key-value bucket of the Store when none is configured.
const DefaultBucket = "agora_state"

// StoreOptions configures the key-value bucket of the Store.
type StoreOptions struct {
	Bucket   string // default DefaultBucket
	Replicas int    // default 1
}

// Store is the JetStream events.Store: a key-value bucket keeping only the
// latest value of each key (snapshots and cursors need no history; the
// event log is the history).
type Store struct {
	kv jetstream.KeyValue
}

var _ events.Store = (*Store)(nil)

// NewStore creates the bucket, or updates it to these options, and returns
// the store. Like EnsureStream it is meant to run on every start.
func NewStore(ctx context.Context, js jetstream.JetStream, o StoreOptions) (*Store, error) {
	if o.Bucket == "" {
		o.Bucket = DefaultBucket
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      o.Bucket,
		Description: "Agora snapshots and cursors (derived from the event log)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: ensure bucket %s: %w", o.Bucket, err)
	}
	return &Store{kv: kv}, nil
}

// Get implements events.Store. A missing or deleted key is (nil, false,
// nil).
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("natslog: get %s: %w", key, err)
	}
	return e.Value(), true, nil
}

// Put implements events.Store; it returns once the value is stored.
func (s *Store) Put(ctx context.Context, key string, value []byte) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if _, err := s.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("natslog: put %s: %w", key, err)
	}
	return nil
}
