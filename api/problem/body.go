package problem

import (
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// UnreadableBodyDetail is the detail of the 400 that answers a request
// whose body could not be read. The reader's own words (a chunked
// encoding's "invalid byte in chunk length") speak of the server's
// parser, not of what the caller should do.
const UnreadableBodyDetail = "the request body could not be read: its chunked transfer encoding is broken, or it ended early; nothing was done"

// unreadableBody marks an error reading a request body that is the
// caller's doing: anything but the server's read timeout.
type unreadableBody struct{ err error }

func (e *unreadableBody) Error() string { return e.err.Error() }
func (e *unreadableBody) Unwrap() error { return e.err }

// bodyReader marks the errors of the request body it reads.
type bodyReader struct{ io.ReadCloser }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == nil || errors.Is(err, io.EOF) {
		return n, err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, err // huma answers the read timeout itself (408)
	}
	return n, &unreadableBody{err}
}

// Bodies serves h with request bodies whose read errors are the caller's:
// huma answers any error reading a body as a 500 (with the reader's
// message as its detail), where a malformed or truncated body is a bad
// request. With Bodies in front, such a request is a 400 whose detail is
// UnreadableBodyDetail. huma reads the body before it calls the handler,
// so such a request has done nothing.
func Bodies(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = bodyReader{r.Body}
		}
		h.ServeHTTP(w, r)
	})
}

// huma makes every error answer through NewErrorWithContext, and lets it
// change the status (huma.WriteErr): a body read error marked by Bodies
// becomes a 400. Nothing else is changed.
func init() {
	next := huma.NewErrorWithContext
	huma.NewErrorWithContext = func(ctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		for _, err := range errs {
			var u *unreadableBody
			if errors.As(err, &u) {
				return next(ctx, http.StatusBadRequest, UnreadableBodyDetail)
			}
		}
		return next(ctx, status, msg, errs...)
	}
}

// badHeader is a bad request header as a huma validation error: 400 (not
// huma's default 422, which says the request was understood), with the
// header as its location.
type badHeader struct{ *huma.ErrorDetail }

func (badHeader) GetStatus() int { return http.StatusBadRequest }

// EmptyHeader refuses a header that is present with an empty value: huma
// binds it as it binds an absent one, where a caller who sends the header
// means something by it. It is meant for a Resolver of the input that
// holds the header.
func EmptyHeader(ctx huma.Context, name, value string) []error {
	if value != "" {
		return nil
	}
	present := false
	ctx.EachHeader(func(n, _ string) {
		if http.CanonicalHeaderKey(n) == http.CanonicalHeaderKey(name) {
			present = true
		}
	})
	if !present {
		return nil
	}
	return []error{badHeader{&huma.ErrorDetail{Location: "header " + name, Message: "is empty; leave the header out, or give it a value"}}}
}
