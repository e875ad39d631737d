package terminal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/agora-econ/agora/api/operator/opclient"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/projections/economy"
)

// Client calls the operator API of a running economy: the routes the
// dashboard reads and the human's answer to the active prompt. It is the
// terminal's own, small and strict about statuses, because the terminal
// must tell an economy that does not answer (retry) from a route that is
// not there (say so) from a refusal (show it); `agora human` finds the
// address and the token the way the one-shot commands do.
type Client struct {
	mu    sync.Mutex
	base  string
	token string
	http  *http.Client
	// locate, when set, finds the economy's address again (see Locate).
	locate func() string
}

// NewClient returns a client of the operator API at base (http or https)
// calling with token.
func NewClient(base, token string) (*Client, error) {
	b, err := opclient.ParseBase(base)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not an http(s) URL", ErrInvalidClient, base)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: no operator token", ErrInvalidClient)
	}
	return &Client{base: b, token: token, http: &http.Client{Timeout: RequestTimeout}}, nil
}

// Base is the address the client calls.
func (c *Client) Base() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base
}

// Locate sets how the economy is found again when it does not answer:
// an economy restarted on another port (`--listen 127.0.0.1:0`) writes
// its new address where locate reads it. locate returns "" when it knows
// none; an address that is not an http(s) URL is ignored.
func (c *Client) Locate(locate func() string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.locate = locate
}

// relocate asks locate for the economy's address and takes it when it is
// a good one; it reports whether the address changed.
func (c *Client) relocate() bool {
	c.mu.Lock()
	locate := c.locate
	c.mu.Unlock()
	if locate == nil {
		return false
	}
	base, err := opclient.ParseBase(locate())
	if err != nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := base != c.base
	c.base = base
	return changed
}

// Status is GET /admin/status.
func (c *Client) Status(ctx context.Context) (economy.Summary, error) {
	var s economy.Summary
	err := c.do(ctx, http.MethodGet, "/admin/status", "", nil, &s)
	return s, err
}

// AgentsPage is the part of GET /admin/agents the dashboard shows.
type AgentsPage struct {
	Agents []AgentLine `json:"agents"`
	Total  int         `json:"total"`
	Alive  int         `json:"alive"`
}

// AgentLine is one agent of the listing.
type AgentLine struct {
	AgentID        string         `json:"agent_id"`
	Status         string         `json:"status"`
	Balance        system.Credits `json:"balance"`
	ExecutionCount int64          `json:"execution_count"`
}

// Agents is the first page of GET /admin/agents.
func (c *Client) Agents(ctx context.Context, limit int) (AgentsPage, error) {
	var p AgentsPage
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/admin/agents?limit=%d", limit), "", nil, &p)
	return p, err
}

// Transaction is one line of GET /admin/history.
type Transaction struct {
	AgentID        string         `json:"agent_id"`
	Seq            uint64         `json:"seq"`
	Time           time.Time      `json:"time"`
	Kind           string         `json:"kind"`
	CounterpartyID string         `json:"counterparty_id,omitempty"`
	Amount         system.Credits `json:"amount"`
	Memo           string         `json:"memo,omitempty"`
}

// History is the newest limit lines of GET /admin/history.
func (c *Client) History(ctx context.Context, limit int) ([]Transaction, error) {
	var h struct {
		Transactions []Transaction `json:"transactions"`
	}
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/admin/history?limit=%d", limit), "", nil, &h)
	return h.Transactions, err
}

// Prompt is a prompt as the operator sees it: the active one (GET
// /attention/active) or one of the queue (GET /admin/attention/queue).
type Prompt struct {
	PromptID string         `json:"prompt_id"`
	AgentID  string         `json:"agent_id"`
	Amount   system.Credits `json:"bid_amount"`
	Content  string         `json:"content"`
	Position int            `json:"position,omitempty"`
}

// Active is GET /attention/active: the prompt in front of the human, or
// nil when the slot is free.
func (c *Client) Active(ctx context.Context) (*Prompt, error) {
	var a struct {
		Active *Prompt `json:"active"`
	}
	err := c.do(ctx, http.MethodGet, "/attention/active", "", nil, &a)
	return a.Active, err
}

// Queue is GET /admin/attention/queue, the operator's view of the slot:
// the waiting prompts in the order the slot takes them, with their
// content, and the attention market's posted price.
func (c *Client) Queue(ctx context.Context) (Queue, error) {
	var q Queue
	err := c.do(ctx, http.MethodGet, "/admin/attention/queue", "", nil, &q)
	return q, err
}

// Queue is the slot's queue.
type Queue struct {
	Prompts []Prompt       `json:"queue"`
	Length  int            `json:"length"`
	Price   system.Credits `json:"price"`
}

// Response is a past answer of the human (GET /attention/responses).
type Response struct {
	PromptID       string         `json:"prompt_id"`
	AgentID        string         `json:"agent_id"`
	Interesting    int            `json:"interesting"`
	Useful         int            `json:"useful"`
	Understandable int            `json:"understandable"`
	Skipped        bool           `json:"skipped"`
	Reward         system.Credits `json:"reward"`
	Minted         bool           `json:"minted"`
	AnsweredAt     time.Time      `json:"answered_at"`
}

// Responses is the newest limit answers of GET /attention/responses.
func (c *Client) Responses(ctx context.Context, limit int) ([]Response, error) {
	var r struct {
		Responses []Response `json:"responses"`
	}
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/attention/responses?limit=%d", limit), "", nil, &r)
	return r.Responses, err
}

// Rating is the human's answer to a prompt: three scores from 0 to 10
// and an optional reason.
type Rating struct {
	Interesting    int    `json:"interesting"`
	Useful         int    `json:"useful"`
	Understandable int    `json:"understandable"`
	Reason         string `json:"reason,omitempty"`
}

// Reward is the answer to a rating: what was minted to the agent
// (nothing when Minted is false: its agent died after the prompt was
// shown).
type Reward struct {
	PromptID string         `json:"prompt_id"`
	AgentID  string         `json:"agent_id"`
	Reward   system.Credits `json:"reward"`
	Minted   bool           `json:"minted"`
}

// Respond is POST /attention/prompt/{id}/response. Its Idempotency-Key is
// made of the prompt and the rating, so that the same rating sent again
// (after the economy did not answer) applies once.
func (c *Client) Respond(ctx context.Context, promptID string, r Rating) (Reward, error) {
	var out Reward
	body, err := json.Marshal(r)
	if err != nil {
		return out, err
	}
	err = c.do(ctx, http.MethodPost, "/attention/prompt/"+url.PathEscape(promptID)+"/response",
		keyOf("response", promptID, string(body)), r, &out)
	return out, err
}

// Skip is POST /attention/prompt/{id}/skip: the human passes on the
// active prompt without rating it.
func (c *Client) Skip(ctx context.Context, promptID string) error {
	var out json.RawMessage
	return c.do(ctx, http.MethodPost, "/attention/prompt/"+url.PathEscape(promptID)+"/skip",
		keyOf("skip", promptID), nil, &out)
}

// keyOf is an Idempotency-Key derived from parts.
func keyOf(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "human-" + hex.EncodeToString(h[:16])
}

// do makes one call through opclient, at the address the client calls
// now, and decodes a 200 into out; see opclient.Client.Do for its errors.
func (c *Client) do(ctx context.Context, method, path, key string, in, out any) error {
	api := opclient.Client{Base: c.Base(), Token: c.token, HTTP: c.http, AnswerMax: AnswerBytesMax}
	return api.Do(ctx, method, path, key, in, out)
}

// Problem is a refusal of the API (RFC 9457).
type Problem = opclient.Problem

// errorsAs is errors.As for a *Problem.
func problemOf(err error) (*Problem, bool) {
	var p *Problem
	ok := errors.As(err, &p)
	return p, ok
}
