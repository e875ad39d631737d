package system

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The service's actor: it answers the calls of messages.go. A call waits
// on an account, the log or the inference upstream, so each one is
// answered in a goroutine of its own, at most CallsInFlightMax at once;
// the actor itself only admits calls, and one slow call never holds the
// others.

// serviceActor is the actor; its state is the admission of calls.
type serviceActor struct {
	s        *service
	inFlight chan struct{}
	calls    *sync.WaitGroup
}

// request is a call with the context of its caller (Ask): the caller's
// deadline and cancellation reach the operation. A Call sent as it is gets
// CallTimeoutDefault.
type request struct {
	ctx  context.Context
	call Call
}

// callIn is the call a message carries, if it is one somebody waits an
// answer to. A message that is not a call is answered ErrUnknownCall, not
// dropped; lifecycle messages, and calls sent rather than requested
// (nobody would read the answer), are ignored.
func callIn(ctx actor.Context) (request, bool) {
	var req request
	switch m := ctx.Message().(type) {
	case request:
		req = m
	case Call:
		req = request{ctx: context.Background(), call: m}
	default:
		_, system := m.(actor.SystemMessage)
		_, auto := m.(actor.AutoReceiveMessage)
		if !system && !auto && ctx.Sender() != nil {
			ctx.Respond(Reply{Err: fmt.Errorf("%w: %T", ErrUnknownCall, m)})
		}
		return req, false
	}
	return req, ctx.Sender() != nil
}

func (a *serviceActor) Receive(ctx actor.Context) {
	req, ok := callIn(ctx)
	if !ok {
		return
	}
	sender := ctx.Sender()
	select {
	case a.inFlight <- struct{}{}:
	default:
		ctx.Respond(Reply{Err: ErrBusy})
		return
	}
	root := ctx.ActorSystem().Root
	a.calls.Add(1)
	go func() {
		defer a.calls.Done()
		defer func() { <-a.inFlight }()
		cctx, cancel := context.WithTimeout(req.ctx, CallTimeoutDefault)
		defer cancel()
		root.Send(sender, a.s.answer(cctx, req.call))
	}()
}

// Ask sends call to the service at pid (Service.PID) from root and waits
// for its answer, typed: T is the Value type the call documents
// (messages.go). ctx bounds the wait and the operation; without a deadline
// CallTimeoutDefault does. It is how Go agents and the HTTP handlers call
// the service.
func Ask[T any](ctx context.Context, root *actor.RootContext, pid *actor.PID, call Call) (T, error) {
	var zero T
	timeout := CallTimeoutDefault
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
		if timeout <= 0 {
			return zero, context.DeadlineExceeded
		}
	}
	answer, err := root.RequestFuture(pid, request{ctx: ctx, call: call}, timeout).Result()
	if err != nil {
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		return zero, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	reply, ok := answer.(Reply)
	if !ok {
		return zero, fmt.Errorf("%w: answered %T", ErrNoAnswer, answer)
	}
	if reply.Err != nil {
		return zero, reply.Err
	}
	v, ok := reply.Value.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %T answers %T, not %T", ErrNoAnswer, call, reply.Value, zero)
	}
	return v, nil
}

// ask is Ask from the HTTP handlers: the answer, or the problem that
// tells the caller why not.
func ask[T any](ctx context.Context, s *service, call Call) (T, error) {
	v, err := Ask[T](ctx, s.root, s.pid, call)
	if err != nil {
		return v, s.Problem(err)
	}
	return v, nil
}
