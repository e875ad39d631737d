package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/events"
)

// The service for Go programs in a sandbox. A program there has no network
// but the service's socket (AGORA_URL), so it cannot reach the service's
// actor in the economy's process. SpawnClient gives it a local actor that
// answers the same calls with the same Replies by calling the HTTP API:
// a Go agent written with actor messages runs unchanged inside or outside
// the sandbox.

// ClientAnswerBytesMax bounds an answer the client reads: the largest is an
// inference answer (InferenceResponseBytesMax) or a page of the book.
const ClientAnswerBytesMax = InferenceResponseBytesMax + 64<<10

// SpawnClient spawns, under root, an actor that answers the calls of
// messages.go by calling the System Service at serviceURL: AGORA_URL
// (unix:///run/agora.sock in the sandbox) or an http:// URL. Ask it as
// you would ask Service.PID.
func SpawnClient(root *actor.RootContext, serviceURL string) (*actor.PID, error) {
	c, err := newClient(serviceURL)
	if err != nil {
		return nil, err
	}
	return root.Spawn(actor.PropsFromProducer(func() actor.Actor { return c })), nil
}

// client is the actor SpawnClient spawns.
type client struct {
	base  string // scheme://host, with the socket's path dialled underneath
	http  *http.Client
	calls sync.WaitGroup
}

func newClient(serviceURL string) (*client, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, fmt.Errorf("%w: service URL %q: %w", ErrInvalidOptions, serviceURL, err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	c := &client{http: &http.Client{Transport: transport}}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("%w: service URL %q names no socket", ErrInvalidOptions, serviceURL)
		}
		socket := u.Path
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}
		c.base = "http://agora"
	case "http", "https":
		if u.Host == "" {
			return nil, fmt.Errorf("%w: service URL %q names no host", ErrInvalidOptions, serviceURL)
		}
		c.base = strings.TrimRight(u.String(), "/")
	default:
		return nil, fmt.Errorf("%w: service URL %q: want unix:///path or http(s)://host", ErrInvalidOptions, serviceURL)
	}
	return c, nil
}

func (c *client) Receive(ctx actor.Context) {
	if _, stopping := ctx.Message().(*actor.Stopping); stopping {
		c.calls.Wait()
		c.http.CloseIdleConnections()
		return
	}
	req, ok := callIn(ctx)
	if !ok {
		return
	}
	sender := ctx.Sender()
	root := ctx.ActorSystem().Root
	c.calls.Add(1)
	go func() {
		defer c.calls.Done()
		cctx, cancel := context.WithTimeout(req.ctx, CallTimeoutDefault)
		defer cancel()
		if err := validate(req.call); err != nil {
			root.Send(sender, Reply{Err: err})
			return
		}
		v, err := c.do(cctx, req.call)
		root.Send(sender, Reply{Value: v, Err: err})
	}()
}

// route is how a call is made over HTTP.
type route struct {
	method, path string
	query        url.Values
	body         any    // JSON-encoded, or raw when []byte
	key          string // Idempotency-Key
}

// do makes call over HTTP and decodes the answer into the value the
// service's actor would have answered.
func (c *client) do(ctx context.Context, call Call) (any, error) {
	if v, err, ok := c.doAttention(ctx, call); ok {
		return v, err
	}
	switch m := call.(type) {
	case GetBalance:
		return fetch[Balance](ctx, c, m, route{method: http.MethodGet, path: "/economic/balance"})
	case Transfer:
		return fetch[TransferReceipt](ctx, c, m, route{method: http.MethodPost, path: "/economic/transfer", key: m.Key,
			body: map[string]any{"to_agent_id": m.ToAgentID, "amount": events.CreditsJSON(m.AmountMicros), "memo": m.Memo}})
	case GetHistory:
		return fetch[History](ctx, c, m, route{method: http.MethodGet, path: "/economic/history", query: limitQuery(m.Limit)})
	case GetMarketState:
		return fetch[MarketState](ctx, c, m, route{method: http.MethodGet, path: "/market/state"})
	case ListBids:
		q := limitQuery(m.Limit)
		setIf(q, "resource", m.Resource)
		setIf(q, "cursor", m.Cursor)
		return fetch[BidPage](ctx, c, m, route{method: http.MethodGet, path: "/market/bids", query: q})
	case PlaceBid:
		return fetch[BidStatus](ctx, c, m, route{method: http.MethodPost, path: "/market/bid", key: m.Key, body: bidBody(m)})
	case RaiseBid:
		return fetch[BidStatus](ctx, c, m, route{method: http.MethodPatch, path: "/market/bid/" + url.PathEscape(m.BidID), key: m.Key,
			body: map[string]any{"amount": events.CreditsJSON(m.AmountMicros)}})
	case WithdrawBid:
		return fetch[BidStatus](ctx, c, m, route{method: http.MethodDelete, path: "/market/bid/" + url.PathEscape(m.BidID), key: m.Key})
	case ListAgents:
		q := limitQuery(m.Limit)
		setIf(q, "after", m.After)
		return fetch[AgentPage](ctx, c, m, route{method: http.MethodGet, path: "/social/agents", query: q})
	case GetExecution:
		return fetch[Execution](ctx, c, m, route{method: http.MethodGet, path: "/system/execution"})
	case GetConfig:
		return fetch[PublicConfig](ctx, c, m, route{method: http.MethodGet, path: "/system/config"})
	case GetTime:
		return fetch[Time](ctx, c, m, route{method: http.MethodGet, path: "/system/time"})
	case Infer:
		return c.infer(ctx, m)
	case SendMessage:
		return fetch[MessageReceipt](ctx, c, m, route{method: http.MethodPost, path: "/social/message", key: m.Key,
			body: map[string]any{"to_agent_id": m.ToAgentID, "content": m.Content}})
	case ReadInbox:
		q := limitQuery(m.Limit)
		setIf(q, "cursor", m.Cursor)
		return fetch[InboxPage](ctx, c, m, route{method: http.MethodGet, path: "/social/inbox", query: q})
	case Spawn:
		return fetch[SpawnReceipt](ctx, c, m, route{method: http.MethodPost, path: "/social/spawn", key: m.Key, body: spawnBody(m)})
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCall, call)
}

func bidBody(m PlaceBid) map[string]any {
	resources := make(map[string]any, len(m.Terms.Resources))
	for name, u := range m.Terms.Resources {
		resources[name] = events.CreditsJSON(u)
	}
	body := map[string]any{"resources": resources, "amount": events.CreditsJSON(m.AmountMicros)}
	if m.Terms.Payload != "" {
		body["payload"] = m.Terms.Payload
	}
	if m.Terms.BeneficiaryID != "" {
		body["beneficiary_id"] = m.Terms.BeneficiaryID
	}
	return body
}

func spawnBody(m Spawn) map[string]any {
	files := m.Files
	if files == nil {
		files = map[string]string{}
	}
	body := map[string]any{"files": files, "command": m.Command, "initial_credits": events.CreditsJSON(m.InitialCreditsMicros)}
	if b := m.InitialBid; b != nil {
		resources := make(map[string]any, len(b.Resources))
		for name, u := range b.Resources {
			resources[name] = events.CreditsJSON(u)
		}
		bid := map[string]any{"resources": resources, "amount": events.CreditsJSON(b.AmountMicros)}
		if b.Payload != "" {
			bid["payload"] = b.Payload
		}
		body["initial_bid"] = bid
	}
	return body
}

func limitQuery(limit int) url.Values {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

func setIf(q url.Values, name, value string) {
	if value != "" {
		q.Set(name, value)
	}
}

// fetch makes the call and decodes its answer as T.
func fetch[T any](ctx context.Context, c *client, call Call, r route) (T, error) {
	var v T
	resp, body, err := c.send(ctx, call, r)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("%w: %s %s answered %d with a body that is not its answer: %w", ErrNoAnswer, r.method, r.path, resp.StatusCode, err)
	}
	return v, nil
}

func (c *client) infer(ctx context.Context, m Infer) (Completion, error) {
	resp, body, err := c.send(ctx, m, route{method: http.MethodPost, path: "/intelligence/inference", body: m.Request})
	if err != nil {
		return Completion{}, err
	}
	left, _ := strconv.ParseInt(resp.Header.Get("X-Agora-Tokens-Remaining"), 10, 64)
	return Completion{Answer: body, TokensRemaining: left}, nil
}

// send makes the request and reads the answer; a problem+json answer
// becomes a *Problem.
func (c *client) send(ctx context.Context, call Call, r route) (*http.Response, []byte, error) {
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInvalidCall, err)
		}
		body = bytes.NewReader(encoded)
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidCall, err)
	}
	req.Header.Set("Authorization", "Bearer "+call.bearer())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrNoAnswer, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, ClientAnswerBytesMax+1))
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("%w: reading the answer: %w", ErrNoAnswer, err)
	case len(answer) > ClientAnswerBytesMax:
		return nil, nil, fmt.Errorf("%w: the answer exceeds %d bytes", ErrNoAnswer, ClientAnswerBytesMax)
	case resp.StatusCode/100 != 2:
		return nil, nil, problemOf(resp.StatusCode, answer)
	}
	return resp, answer, nil
}

// Problem is an error the service answered over HTTP (RFC 9457). errors.Is
// finds in it the typed rejection its status and detail name, so that a
// client's caller tests errors as the service's actor's caller does:
// errors.Is(err, agent.ErrInsufficientCredits).
type Problem struct {
	Status int
	Detail string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%d %s: %s", p.Status, http.StatusText(p.Status), p.Detail)
}

// Is matches the rejections of the status table (problem.go) with p's
// status whose words p's detail carries (a detail is err.Error() of the
// rejection, which starts with or wraps them). A problem that names none
// of them is, if a 401, ticket.ErrUnknownToken (its detail does not echo
// the token) and, if a 400 or 422, ErrInvalidCall (huma's validation
// words the field, not a rejection).
func (p *Problem) Is(target error) bool {
	named := false
	for _, s := range statuses {
		if s.Code != p.Status || !strings.Contains(p.Detail, s.Err.Error()) {
			continue
		}
		if errors.Is(s.Err, target) {
			return true
		}
		named = true
	}
	switch {
	case named:
		return false
	case p.Status == http.StatusUnauthorized:
		return target == ticket.ErrUnknownToken
	case p.Status == http.StatusBadRequest || p.Status == http.StatusUnprocessableEntity:
		return target == ErrInvalidCall
	}
	return false
}

func problemOf(status int, answer []byte) error {
	p := &Problem{Status: status}
	var body struct {
		Detail string `json:"detail"`
		Title  string `json:"title"`
	}
	if json.Unmarshal(answer, &body) == nil {
		p.Detail = body.Detail
		if p.Detail == "" {
			p.Detail = body.Title
		}
	}
	if p.Detail == "" {
		p.Detail = strings.TrimSpace(string(answer))
	}
	return p
}
