package work

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Queue names the work queue's stream and workspaces' bucket, and how they
// are kept.
type Queue struct {
	// Stream and Bucket default to StreamDefault and BucketDefault.
	Stream string
	Bucket string
	// Replicas is the copies of each (nats.replicas; 0 is 1).
	Replicas int
	// AckWait is how long an order may go without a heartbeat before it is
	// delivered again (0: AckWaitDefault).
	AckWait time.Duration
}

func (q Queue) withDefaults() Queue {
	if q.Stream == "" {
		q.Stream = StreamDefault
	}
	if q.Bucket == "" {
		q.Bucket = BucketDefault
	}
	if q.Replicas <= 0 {
		q.Replicas = 1
	}
	if q.AckWait <= 0 {
		q.AckWait = AckWaitDefault
	}
	return q
}

// Setup creates, or updates to q, the queue's stream, its one consumer and
// the workspaces' bucket. The economy does it at its start; workers only
// bind to them (Bind).
//
// The stream keeps at most one order per agent and refuses another while
// one is there (discard new, per subject): that is what keeps two runs of
// one agent from overlapping across the queue. It keeps an order until a
// worker acknowledges it (work-queue retention).
func Setup(ctx context.Context, js jetstream.JetStream, q Queue) error {
	q = q.withDefaults()
	if q.AckWait < AckWaitMin {
		return fmt.Errorf("work: ack wait %s is below %s", q.AckWait, AckWaitMin)
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:                 q.Stream,
		Description:          "Agora's execution orders, one per agent at most, until a worker has run it",
		Subjects:             []string{OrderSubject("*")},
		Retention:            jetstream.WorkQueuePolicy,
		Storage:              jetstream.FileStorage,
		Replicas:             q.Replicas,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		AllowDirect:          true,
	})
	if err != nil {
		return fmt.Errorf("work: stream %s: %w", q.Stream, err)
	}
	_, err = js.CreateOrUpdateConsumer(ctx, q.Stream, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "every worker pulls from this one consumer, so that each order goes to one",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.AckWait,
		MaxAckPending: -1,
		// A pull waiting for the next order must not be counted against
		// the workers: many wait at once.
		MaxWaiting: 4096,
	})
	if err != nil {
		return fmt.Errorf("work: consumer %s: %w", ConsumerName, err)
	}
	_, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      q.Bucket,
		Description: "Agora's workspaces: one tar per agent",
		Storage:     jetstream.FileStorage,
		Replicas:    q.Replicas,
	})
	if err != nil {
		return fmt.Errorf("work: bucket %s: %w", q.Bucket, err)
	}
	return nil
}

// bound is the queue as a worker or a Runner uses it.
type bound struct {
	queue    Queue
	consumer jetstream.Consumer
	stream   jetstream.Stream
	store    jetstream.ObjectStore
	ackWait  time.Duration
}

// Bind finds the queue's stream, consumer and bucket, which Setup made;
// ErrNoQueue when one is missing.
func bind(ctx context.Context, js jetstream.JetStream, q Queue) (bound, error) {
	q = q.withDefaults()
	b := bound{queue: q}
	var err error
	if b.stream, err = js.Stream(ctx, q.Stream); err != nil {
		return bound{}, missing(err, "stream "+q.Stream)
	}
	if b.consumer, err = b.stream.Consumer(ctx, ConsumerName); err != nil {
		return bound{}, missing(err, "consumer "+ConsumerName)
	}
	b.ackWait = b.consumer.CachedInfo().Config.AckWait
	if b.store, err = js.ObjectStore(ctx, q.Bucket); err != nil {
		return bound{}, missing(err, "bucket "+q.Bucket)
	}
	return b, nil
}

func missing(err error, what string) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%w: %s", ErrNoQueue, what)
	}
	return fmt.Errorf("work: %s: %w", what, err)
}
