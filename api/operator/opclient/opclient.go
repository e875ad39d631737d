// Package opclient makes one call to the operator API of a running
// economy; it sits under api/operator because it is the other side of that
// package's contract, and both the one-shot commands (cmd/agora) and the
// human's terminal (front/terminal) use it without importing each other.
//
// Call is the low-level call (the JSON body, the operator token, the
// Idempotency-Key, a bounded answer); Do is Call with the answer told
// apart: decoded on 200, ErrNotAnswering when no answer came or the
// economy said it is not ready, ErrNotFound on 404, a *Problem otherwise.
package opclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrNotAnswering: no answer came from the economy (the connection was
// refused or broke, or the economy said it is not ready).
var ErrNotAnswering = errors.New("economy not answering")

// ErrNotFound: the route or the thing asked for is not there.
var ErrNotFound = errors.New("not found")

// ErrBadURL: the address given is not an http(s) URL with a host.
var ErrBadURL = errors.New("not an http(s) URL")

// RequestTimeout bounds one call of a client made by New.
const RequestTimeout = 30 * time.Second

// AnswerBytesMax bounds what is read of one answer when the client sets
// no bound of its own.
const AnswerBytesMax = 64 << 20

// Client calls the operator API at Base with Token. Its fields may be set
// directly: callers that move the base (an economy back on another port)
// make a new Client for each call, which costs nothing.
type Client struct {
	// Base is the API's address, without a trailing slash.
	Base  string
	Token string
	HTTP  *http.Client
	// AnswerMax bounds what is read of one answer; zero is AnswerBytesMax.
	AnswerMax int64
}

// New returns a client of the operator API at base, or an error wrapping
// ErrBadURL when base is not an http(s) URL.
func New(base, token string) (*Client, error) {
	b, err := ParseBase(base)
	if err != nil {
		return nil, err
	}
	return &Client{Base: b, Token: token, HTTP: &http.Client{Timeout: RequestTimeout}}, nil
}

// ParseBase checks that base is an http(s) URL with a host and returns it
// without its trailing slash.
func ParseBase(base string) (string, error) {
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %q", ErrBadURL, base)
	}
	return strings.TrimRight(base, "/"), nil
}

// Answer is what the economy answered to one call.
type Answer struct {
	Status int
	// StatusLine is the answer's status as sent ("503 Service
	// Unavailable").
	StatusLine string
	Body       []byte
}

// Problem reads the answer as an RFC 9457 problem. Its fields are as
// sent (a missing title stays empty); ok is false when the body is not
// JSON. Its status is the answer's unless the body names one.
func (a *Answer) Problem() (p *Problem, ok bool) {
	p = &Problem{Status: a.Status}
	ok = json.Unmarshal(a.Body, p) == nil
	return p, ok
}

// notAnswering is a call that got no answer; it unwraps to why, so that
// a caller may still tell a refused connection from a broken one.
type notAnswering struct{ err error }

func (e *notAnswering) Error() string        { return ErrNotAnswering.Error() + ": " + e.err.Error() }
func (e *notAnswering) Is(target error) bool { return target == ErrNotAnswering }
func (e *notAnswering) Unwrap() error        { return e.err }

// Call sends in (when not nil) as JSON to method path, with key (when not
// empty) as its Idempotency-Key, and reads the answer whatever its
// status. An error wrapping ErrNotAnswering, which unwraps to the
// transport's or the read's own error, means no whole answer came.
func (c *Client) Call(ctx context.Context, method, path, key string, in any) (*Answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: RequestTimeout}
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, &notAnswering{err}
	}
	defer res.Body.Close()
	max := c.AnswerMax
	if max <= 0 {
		max = AnswerBytesMax
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, max))
	if err != nil {
		return nil, &notAnswering{err}
	}
	return &Answer{Status: res.StatusCode, StatusLine: res.Status, Body: b}, nil
}

// Do makes one call and decodes a 200 into out. Its errors: the context's
// own when it ended before an answer came; ErrNotAnswering when no answer
// came (refused, reset, timed out) or the economy said it is not ready
// (502, 503, 504); ErrNotFound on a 404; a *Problem for any other refusal.
func (c *Client) Do(ctx context.Context, method, path, key string, in, out any) error {
	a, err := c.Call(ctx, method, path, key, in)
	if err != nil {
		var ue *url.Error
		if errors.Is(err, ErrNotAnswering) && errors.As(err, &ue) && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	switch a.Status {
	case http.StatusOK:
		if err := json.Unmarshal(a.Body, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		return nil
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return fmt.Errorf("%w: %s", ErrNotAnswering, a.StatusLine)
	}
	p, ok := a.Problem()
	if !ok || p.Title == "" {
		p.Title = http.StatusText(a.Status)
	}
	if a.Status == http.StatusNotFound {
		return fmt.Errorf("%w: %s %s: %s", ErrNotFound, method, path, p)
	}
	return p
}

// Problem is a refusal of the API (RFC 9457).
type Problem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string {
	if p.Detail == "" {
		return fmt.Sprintf("%d %s", p.Status, p.Title)
	}
	return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail)
}
