package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/events"
)

// POST /intelligence/inference: an OpenAI-compatible chat completion,
// forwarded to the configured upstream and metered against the execution's
// token quota (SPEC.md 1.4, 3.2).

// tokensResource is the resource whose units are the inference quota.
const tokensResource = ticket.ResourceTokens

func wholeUnits(n int64) Units { return Units(events.WholeUnits(n)) }

// InferenceInput is a chat completion request. The fields below are the
// ones the service reads or checks; every other field is forwarded as is.
type InferenceInput struct {
	Body    ChatRequest
	RawBody []byte
}

// ChatRequest is the part of an OpenAI chat completion request the
// service looks at.
type ChatRequest struct {
	_                   struct{}      `additionalProperties:"true"`
	Model               string        `json:"model,omitempty" doc:"Defaults to the configured model."`
	Messages            []ChatMessage `json:"messages" minItems:"1" nullable:"false"`
	MaxTokens           *int64        `json:"max_tokens,omitempty" minimum:"1" doc:"Capped to the execution's remaining tokens."`
	MaxCompletionTokens *int64        `json:"max_completion_tokens,omitempty" minimum:"1" doc:"Capped to the execution's remaining tokens."`
	Stream              bool          `json:"stream,omitempty" doc:"Must be false: answers are metered from their usage."`
}

// ChatMessage is one message of the conversation.
type ChatMessage struct {
	_       struct{} `additionalProperties:"true"`
	Role    string   `json:"role" minLength:"1"`
	Content any      `json:"content,omitempty"`
}

// InferenceOutput is the upstream's answer, as it sent it.
type InferenceOutput struct {
	ContentType string `header:"Content-Type"`
	Remaining   int64  `header:"X-Agora-Tokens-Remaining" doc:"Inference tokens the execution has left after this call."`
	Body        []byte
}

func (s *service) registerInference(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "inference", Method: http.MethodPost, Path: "/intelligence/inference", Tags: []string{"intelligence"},
		Summary: "An OpenAI-compatible chat completion, metered against the execution's tokens",
		Description: "The request is forwarded to the configured upstream with max_tokens (or max_completion_tokens) " +
			"capped to the tokens the execution has left; the answer's usage.total_tokens is then metered. " +
			"429 once the quota is spent; 503 when no upstream is configured.",
		MaxBodyBytes: InferenceBodyBytesMax,
	}, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout), s.inference)
}

func (s *service) inference(ctx context.Context, in *InferenceInput) (*InferenceOutput, error) {
	inf, err := serve[Completion](ctx, s, Infer{Caller: callerOf(ctx).call(), Request: in.RawBody})
	if err != nil {
		return nil, err
	}
	return &InferenceOutput{ContentType: "application/json", Remaining: inf.TokensRemaining, Body: inf.Answer}, nil
}

// infer forwards a chat completion upstream and meters it.
func (s *service) infer(ctx context.Context, c caller, raw []byte) (Completion, error) {
	up := s.opts.Inference
	if up.URL == "" {
		return Completion{}, ErrNoInference
	}
	remaining := c.ticket.TokensRemaining()
	if remaining <= 0 {
		return Completion{}, fmt.Errorf("%w: %d of %d tokens used; bid for a bundle with more tokens",
			ticket.ErrQuotaExhausted, c.ticket.TokensUsed, c.ticket.TokensAllocated())
	}
	body, capTokens, err := forwarded(raw, up.Model, remaining)
	if err != nil {
		return Completion{}, err
	}
	answer, err := s.callUpstream(ctx, body)
	if err != nil {
		return Completion{}, err
	}
	used, ok := usage(answer)
	if !ok {
		// No usage in the answer: it is metered at the most it could have
		// cost the completion, so that an upstream that omits usage is no
		// way around the quota.
		used = capTokens
	}
	if err := s.deps.Tickets.Meter(c.token, used); err != nil && !errors.Is(err, ticket.ErrQuotaExhausted) {
		s.opts.Logger.Warn("system service: metering inference", "execution", c.ticket.ExecutionID, "err", err)
	}
	// Other calls of the same execution may have been metered meanwhile:
	// the registry, not this call's arithmetic, says what is left.
	left := max(remaining-used, 0)
	if t, err := s.deps.Tickets.Lookup(c.token, s.opts.Now()); err == nil {
		left = t.TokensRemaining()
	}
	return Completion{Answer: answer, TokensRemaining: left}, nil
}

// forwarded is the request sent upstream: the caller's, with the model
// defaulted and the completion capped to the remaining tokens (max_tokens,
// and max_completion_tokens if the caller used it). It returns the cap.
func forwarded(raw []byte, model string, remaining int64) ([]byte, int64, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, 0, fmt.Errorf("%w: body: %w", ErrInvalidCall, err)
	}
	if _, ok := req["model"]; !ok && model != "" {
		req["model"], _ = json.Marshal(model)
	}
	capped, named := remaining, false
	for _, field := range []string{"max_tokens", "max_completion_tokens"} {
		v, ok := req[field]
		if !ok {
			continue
		}
		var asked int64
		if err := json.Unmarshal(v, &asked); err != nil {
			return nil, 0, fmt.Errorf("%w: body.%s: %w", ErrInvalidCall, field, err)
		}
		req[field] = json.RawMessage(strconv.FormatInt(min(asked, remaining), 10))
		capped, named = min(capped, asked), true
	}
	if !named {
		req["max_tokens"] = json.RawMessage(strconv.FormatInt(remaining, 10))
	}
	b, err := json.Marshal(req)
	return b, capped, err
}

// callUpstream posts body to the upstream and returns its answer, or the
// problem that tells the agent what went wrong there.
func (s *service) callUpstream(ctx context.Context, body []byte) ([]byte, error) {
	up := s.opts.Inference
	ctx, cancel := context.WithTimeout(ctx, up.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(up.URL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if up.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+up.APIKey)
	}
	resp, err := up.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, huma.Error504GatewayTimeout(fmt.Sprintf("the inference upstream did not answer within %s", up.Timeout))
		}
		s.opts.Logger.Warn("system service: inference upstream", "err", err)
		return nil, huma.Error502BadGateway("the inference upstream cannot be reached")
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, InferenceResponseBytesMax+1))
	switch {
	case err != nil:
		return nil, huma.Error502BadGateway("reading the inference upstream's answer: " + err.Error())
	case len(answer) > InferenceResponseBytesMax:
		return nil, huma.Error502BadGateway(fmt.Sprintf("the inference upstream's answer exceeds %d bytes", InferenceResponseBytesMax))
	}
	if resp.StatusCode/100 != 2 {
		return nil, upstreamRefusal(resp.StatusCode, answer)
	}
	if !json.Valid(answer) {
		return nil, huma.Error502BadGateway("the inference upstream's answer is not JSON")
	}
	return answer, nil
}

// upstreamRefusal words an upstream error. A request the upstream found
// invalid (400, 404, 422: an unknown model, say) is the agent's to fix;
// anything else (its rate limit, our key) is not, and is never answered
// 401 or 429, which mean the agent's token and quota here.
func upstreamRefusal(status int, answer []byte) error {
	msg := upstreamMessage(answer)
	switch status {
	case http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity:
		return huma.Error422UnprocessableEntity(fmt.Sprintf("the inference upstream refused the request (%d): %s", status, msg))
	case http.StatusTooManyRequests:
		return huma.Error503ServiceUnavailable(fmt.Sprintf("the inference upstream is rate-limiting (429): %s; retry later", msg))
	}
	return huma.Error502BadGateway(fmt.Sprintf("the inference upstream failed (%d): %s", status, msg))
}

// upstreamMessage is the error message of an OpenAI-style error answer
// ({"error": {"message": ...}}), or the start of the answer.
func upstreamMessage(answer []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	}
	if len(msg) > ValueEchoLengthMax {
		msg = msg[:ValueEchoLengthMax] + "..."
	}
	if msg == "" {
		msg = "no message"
	}
	return msg
}

// usage is the answer's usage.total_tokens, if it states one.
func usage(answer []byte) (int64, bool) {
	var a struct {
		Usage *struct {
			TotalTokens *int64 `json:"total_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(answer, &a) != nil || a.Usage == nil || a.Usage.TotalTokens == nil || *a.Usage.TotalTokens < 0 {
		return 0, false
	}
	return *a.Usage.TotalTokens, true
}
