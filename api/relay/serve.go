package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/api/problem"
)

// Serve answers HTTP requests that arrive on subject (a queue
// subscription, queue group QueueGroup) with h, until the returned stop
// is called. stop drains the subscription (the calls already received are
// answered, no new one arrives) and waits for the handlers in flight; it
// may be called more than once.
//
// Each call runs in a goroutine of its own, at most CallsInFlightMax (or
// WithCallsInFlight) at once, with a deadline: what its caller waits, at
// most WithTimeout. The handler sees RemoteAddr as RemoteAddr, the call's
// Host, method, path, query, headers and body as they were sent. Serve
// returns ErrNotPermitted when the server refuses the subscription.
func Serve(nc *nats.Conn, subject string, h http.Handler, opts ...Option) (stop func(), err error) {
	if nc == nil || h == nil {
		return nil, fmt.Errorf("%w: a NATS connection and a handler are required", ErrNilDependency)
	}
	if err := CheckSubject(subject); err != nil {
		return nil, err
	}
	s := &server{nc: nc, h: h, o: newOptions(opts)}
	s.room = make(chan struct{}, s.o.inFlight)
	sub, err := nc.QueueSubscribe(subject, QueueGroup, s.receive)
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe to %s: %w", subject, err)
	}
	// A refused subscription is reported asynchronously, before the
	// answer to the flush's ping.
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("relay: subscribe to %s: %w", subject, err)
	}
	if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) &&
		strings.Contains(err.Error(), "Subscription to "+strconv.Quote(subject)) {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("%w: %s (%v)", ErrNotPermitted, subject, err)
	}
	return sync.OnceFunc(func() { s.stop(sub) }), nil
}

// server answers the calls of one subscription.
type server struct {
	nc   *nats.Conn
	h    http.Handler
	o    options
	room chan struct{} // one token per call in flight
	wg   sync.WaitGroup
}

// receive starts answering m. NATS calls it for one message at a time,
// so a call waiting for room holds the next ones in the subscription's
// buffer.
func (s *server) receive(m *nats.Msg) {
	s.room <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer func() {
			<-s.room
			s.wg.Done()
		}()
		s.answer(m)
	}()
}

// stop drains sub and waits for the calls in flight.
func (s *server) stop(sub *nats.Subscription) {
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := sub.Drain(); err == nil {
		select {
		case <-closed:
		case <-time.After(drainTimeout):
			s.o.logger.Warn("relay: the subscription's drain did not end in time", "subject", sub.Subject, "timeout", drainTimeout)
		}
	}
	s.wg.Wait()
}

// answer serves the call m carries and sends the answer to its reply
// subject.
func (s *server) answer(m *nats.Msg) {
	if m.Reply == "" {
		// A call nobody waits for: not the relay's Handler, which always
		// waits. Serving it would do what no caller asked.
		s.o.logger.Warn("relay: a message without a reply subject was ignored", "subject", m.Subject)
		return
	}
	rec := &recorder{header: http.Header{}}
	r, wait, err := request(m)
	if err != nil {
		problem.Write(rec, http.StatusBadRequest, fmt.Sprintf("the relay could not read the call: %v; nothing was done", err))
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), min(wait, s.o.timeout))
		s.serve(rec, r.WithContext(ctx))
		cancel()
	}
	if rec.overflow {
		rec = &recorder{header: http.Header{}}
		problem.Write(rec, http.StatusBadGateway, fmt.Sprintf("the answer is larger than the relay carries (%d bytes)", AnswerBytesMax))
	}
	msgs, err := answerMsgs(m.Reply, rec.statusOr200(), rec.header, rec.body.Bytes(), s.nc.MaxPayload())
	if err != nil {
		s.o.logger.Error("relay: the answer cannot be sent", "subject", m.Subject, "err", err)
		return
	}
	for _, msg := range msgs {
		if err := s.nc.PublishMsg(msg); err != nil {
			s.o.logger.Error("relay: the answer could not be sent", "subject", m.Subject, "err", err)
			return
		}
	}
}

// serve runs the handler; a panic in it is answered with a 500, as
// net/http's server would end the connection, and logged.
func (s *server) serve(rec *recorder, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.o.logger.Error("relay: the handler panicked", "method", r.Method, "path", r.URL.Path, "panic", p)
			*rec = recorder{header: http.Header{}}
			problem.Write(rec, http.StatusInternalServerError, "the call failed inside the economy; it may have been done: "+
				"retry with the same Idempotency-Key to learn its outcome")
		}
	}()
	s.h.ServeHTTP(rec, r)
}

// recorder keeps a handler's answer, at most AnswerBytesMax of body.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len()+len(b) > AnswerBytesMax {
		r.overflow = true
		return 0, errAnswerTooLarge
	}
	return r.body.Write(b)
}

// errAnswerTooLarge tells a handler that its answer is past
// AnswerBytesMax.
var errAnswerTooLarge = errors.New("relay: the answer is too large")

func (r *recorder) statusOr200() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}
