package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agora-econ/agora/api/problem"
)

// Handler forwards every HTTP request it gets to subject over NATS
// request/reply and writes the answer back: the status, the end-to-end
// headers and the body, as the handler Serve runs gave them. Its own
// answers are problem+json (RFC 9457), and none of them follows a call
// the economy did:
//   - 413 for a body that does not fit in one NATS message beside the
//     headers (the server's max_payload, nc.MaxPayload()): nothing is sent;
//   - 503 when no economy node answers on subject (NATS has no responder
//     for it): nothing was done;
//   - 504 when no answer came within the timeout (WithTimeout,
//     TimeoutDefault): the call may have been done, and a retry with the
//     same Idempotency-Key learns its outcome without doing it twice;
//   - 502 for an answer the relay cannot read.
//
// Authorization passes untouched: the economy checks the token, as it does
// for a call on its own socket. A subject CheckSubject refuses, or a nil
// connection, makes every call a 500 that says so: check the subject
// first.
func Handler(nc *nats.Conn, subject string, opts ...Option) http.Handler {
	h := &handler{nc: nc, subject: subject, o: newOptions(opts), err: CheckSubject(subject)}
	if h.err == nil {
		h.err = checkInboxPrefix(h.o.inbox)
	}
	if nc == nil {
		h.err = fmt.Errorf("%w: no NATS connection", ErrNilDependency)
	}
	return h
}

type handler struct {
	nc      *nats.Conn
	subject string
	o       options
	err     error // why the handler cannot relay anything
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.err != nil {
		problem.Write(w, http.StatusInternalServerError, fmt.Sprintf("the relay to the economy is misconfigured: %v; nothing was sent", h.err))
		return
	}
	maxPayload := h.nc.MaxPayload()
	if h.nc.IsClosed() || maxPayload <= 0 {
		// Closed, or never connected yet: no limit is known, and nothing
		// could be sent.
		problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("the relay is not connected to NATS (%s); nothing was sent", h.nc.Status()))
		return
	}
	body, err := readBody(r, maxPayload)
	if errors.Is(err, errTooLarge) {
		problem.Write(w, http.StatusRequestEntityTooLarge, h.tooLarge(r.ContentLength, maxPayload))
		return
	}
	if err != nil {
		problem.Write(w, http.StatusBadRequest, problem.UnreadableBodyDetail)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.timeout)
	defer cancel()
	wait := h.o.timeout
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	// A unique token under the relay's prefix (nats.go's own inboxes are
	// "_INBOX." and a unique token).
	inbox := h.o.inbox + "." + strings.TrimPrefix(nats.NewInbox(), nats.InboxPrefix)
	msg := requestMsg(r, body, h.subject, inbox, wait)
	// The server counts the headers and the body against max_payload.
	if size := int64(msg.Size() - len(msg.Subject) - len(msg.Reply)); size > maxPayload {
		problem.Write(w, http.StatusRequestEntityTooLarge, h.tooLarge(int64(len(body)), maxPayload))
		return
	}
	// A subscription of the call's own, made before the call is sent (the
	// server sees the two in that order), so that its answer, in one
	// message or many, cannot be missed. It is asynchronous: a synchronous
	// one allocates a channel of the connection's SubChanLen (64 Ki
	// messages) for every call.
	in := newMailbox()
	sub, err := h.nc.Subscribe(inbox, in.put)
	if err != nil {
		problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("the relay cannot reach NATS: %v; nothing was sent", err))
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := h.nc.PublishMsg(msg); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			problem.Write(w, http.StatusRequestEntityTooLarge, h.tooLarge(int64(len(body)), maxPayload))
			return
		}
		if errors.Is(err, nats.ErrBadHeaderMsg) {
			problem.Write(w, http.StatusBadRequest, "a request header's name cannot be carried over NATS (printable ASCII "+
				"but for \"()/,:;<=>?@[\\]{}); nothing was sent")
			return
		}
		problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("the relay cannot reach NATS: %v; nothing was sent", err))
		return
	}
	a, err := readAnswer(ctx, in.next)
	switch {
	case err == nil:
		writeAnswer(w, a)
	case r.Context().Err() != nil:
		// The caller is gone: there is no one to answer.
	case errors.Is(err, errNoResponders):
		problem.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("no economy node answers on %s; nothing was done", h.subject))
	case errors.Is(err, context.DeadlineExceeded):
		problem.Write(w, http.StatusGatewayTimeout, fmt.Sprintf("the economy did not answer on %s within %s; "+
			"the call may have been done: retry with the same Idempotency-Key to learn its outcome", h.subject, h.o.timeout))
	case errors.Is(err, errEnvelope):
		h.o.logger.Error("relay: unreadable answer", "subject", h.subject, "err", err)
		problem.Write(w, http.StatusBadGateway, fmt.Sprintf("the economy's answer on %s could not be read (%v); "+
			"the call may have been done: retry with the same Idempotency-Key to learn its outcome", h.subject, err))
	default:
		problem.Write(w, http.StatusBadGateway, fmt.Sprintf("the relay lost the call on %s: %v; "+
			"the call may have been done: retry with the same Idempotency-Key to learn its outcome", h.subject, err))
	}
}

// tooLarge words the detail of a 413; n < 0 when the body's length is not
// known (the relay stopped reading it past the limit).
func (h *handler) tooLarge(n, maxPayload int64) string {
	size := fmt.Sprintf("longer than %d bytes", maxPayload)
	if n >= 0 {
		size = fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("the request body is %s: a call relayed to the economy over NATS (%s) carries its body and headers "+
		"in one message of at most the NATS server's max_payload (%d bytes); nothing was sent", size, h.subject, maxPayload)
}

// errTooLarge is a body longer than the relay can carry.
var errTooLarge = errors.New("request body too large")

// readBody reads r's body, at most limit bytes: a longer one is
// errTooLarge, and is not read further.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// mailbox keeps the messages of one call's answer until they are read:
// the subscription's callback never waits for the reader.
type mailbox struct {
	mu    sync.Mutex
	msgs  []*nats.Msg
	ready chan struct{} // holds a token while msgs may be non-empty
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

func (b *mailbox) put(m *nats.Msg) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// next is the next message, waiting for it until ctx ends.
func (b *mailbox) next(ctx context.Context) (*nats.Msg, error) {
	for {
		b.mu.Lock()
		if len(b.msgs) > 0 {
			m := b.msgs[0]
			b.msgs[0], b.msgs = nil, b.msgs[1:]
			b.mu.Unlock()
			return m, nil
		}
		b.mu.Unlock()
		select {
		case <-b.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// writeAnswer writes the economy's answer as the handler there gave it.
func writeAnswer(w http.ResponseWriter, a answer) {
	for k, vs := range a.header {
		w.Header()[k] = vs
	}
	if a.status < 200 || a.status == http.StatusNoContent || a.status == http.StatusNotModified {
		w.WriteHeader(a.status) // an answer that has no body
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}
