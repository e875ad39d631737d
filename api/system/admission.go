package system

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// The bound on the calls the service answers at once. Both doors (the
// HTTP handlers and the actor) reach the operations through
// service.answer, which admits every call here first, so the bound is one
// for both.

// admission bounds the calls answered at once.
type admission struct {
	room    chan struct{} // one token per call being answered
	wait    time.Duration // how long a call waits for room
	waiting atomic.Int64  // the calls waiting for room now
}

func newAdmission(inFlight int, wait time.Duration) *admission {
	return &admission{room: make(chan struct{}, inFlight), wait: wait}
}

// enter takes room for one more call, waiting for it at most a.wait and
// within ctx. A burst past the bound is absorbed, since calls end within
// milliseconds when the economy is well; a call that finds no room within
// the wait meets a sustained overload and is refused with ErrBusy at once
// rather than held until its deadline, so that its caller learns it and
// backs off (Retry-After). leave gives the room back.
func (a *admission) enter(ctx context.Context) error {
	select {
	case a.room <- struct{}{}:
		return nil
	default:
	}
	a.waiting.Add(1)
	defer a.waiting.Add(-1)
	timer := time.NewTimer(a.wait)
	defer timer.Stop()
	select {
	case a.room <- struct{}{}:
		return nil
	case <-timer.C:
		return fmt.Errorf("%w: %d calls in flight, and none ended within %s", ErrBusy, cap(a.room), a.wait)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *admission) leave() { <-a.room }

// serve is how an HTTP handler makes its call: service.answer, as the
// actor's, typed as T, or the problem that tells the caller why not.
func serve[T any](ctx context.Context, s *service, call Call) (T, error) {
	v, err := valueOf[T](call, s.answer(ctx, call))
	if err != nil {
		return v, s.problem(err)
	}
	return v, nil
}

// retryAfterBusy is the Retry-After header of a call refused with ErrBusy.
var retryAfterBusy = strconv.Itoa(int(BusyRetryAfter / time.Second))

// problem is the problem+json answer of err; a call refused for want of
// room also says when to come back (Retry-After).
func (s *service) problem(err error) error {
	p := s.Problem(err)
	if errors.Is(err, ErrBusy) {
		return huma.ErrorWithHeaders(p, http.Header{"Retry-After": {retryAfterBusy}})
	}
	return p
}
