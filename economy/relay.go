package economy

import (
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/api/relay"
)

// ErrNotServing is ServeRelay's answer before Serve has built the System
// Service.
var ErrNotServing = errors.New("the economy serves no System Service yet: call Serve first")

// relays are the relay subscriptions ServeRelay started, stopped by Stop
// before the actors they call.
type relays struct {
	mu    sync.Mutex
	stops []func()
}

// stopAll drains every relay subscription and waits for its calls.
func (r *relays) stopAll() {
	r.mu.Lock()
	stops := r.stops
	r.stops = nil
	r.mu.Unlock()
	for _, stop := range stops {
		stop()
	}
}

// ServeRelay serves the System Service that Serve built (the same
// handler as on the sandboxes' socket, checking the same execution
// tokens) to calls relayed over NATS on subject (relay.SubjectDefault
// when empty), received through nc: how execution workers on other
// machines reach it (api/relay). It returns once the server has accepted
// the subscription (relay.ErrNotPermitted when the user may not subscribe
// to subject). stop drains the subscription and waits for the calls in
// flight; Stop does it too, before the actors stop.
func (e *Economy) ServeRelay(nc *nats.Conn, subject string) (stop func(), err error) {
	if e.system == nil {
		return nil, ErrNotServing
	}
	if subject == "" {
		subject = relay.SubjectDefault
	}
	stop, err = relay.Serve(nc, subject, e.system, relay.WithLogger(e.node.logger))
	if err != nil {
		return nil, fmt.Errorf("serve the System Service on %s: %w", subject, err)
	}
	e.relays.add(stop)
	return stop, nil
}

// add keeps stop for stopAll.
func (r *relays) add(stop func()) {
	r.mu.Lock()
	r.stops = append(r.stops, stop)
	r.mu.Unlock()
}
