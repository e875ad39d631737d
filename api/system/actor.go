package system

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The service's actor: the door of Go agents (SPEC.md 3.2, "Go agents may
// also send actor messages"). It answers the calls of messages.go with
// service.answer, the function the HTTP handlers call too, so a rule
// holds the same for both doors. A call waits on an account, the log or
// the inference upstream, so each one is answered in a goroutine of its
// own and one slow call never holds the others; answer bounds how many
// run at once.

// serviceActor is the actor; it holds no state of its own.
type serviceActor struct {
	s     *service
	calls *sync.WaitGroup
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
	root := ctx.ActorSystem().Root
	a.calls.Add(1)
	go func() {
		defer a.calls.Done()
		root.Send(sender, a.s.answer(req.ctx, req.call))
	}()
}

// Ask sends call to the service's actor at pid (Service.PID), or to a
// client's (SpawnClient), from root and waits for its answer, typed: T is
// the Value type the call documents (messages.go). ctx bounds the wait and
// the operation; without a deadline CallTimeoutDefault does. It is how Go
// agents call the service.
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
	return valueOf[T](call, reply)
}

// valueOf is the value of a reply to call, as the type T the call
// documents, or the error that rejected it.
func valueOf[T any](call Call, reply Reply) (T, error) {
	var zero T
	if reply.Err != nil {
		return zero, reply.Err
	}
	v, ok := reply.Value.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %T answers %T, not %T", ErrNoAnswer, call, reply.Value, zero)
	}
	return v, nil
}
