package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
	attnview "github.com/agora-econ/agora/projections/attention"
)

// The human's routes (SPEC.md 3.3): the active prompt, the response to
// it (or a skip), the past responses and the whole queue. `agora human`
// is built on them; docs/api.md keeps their shapes.

// Attention is the slot's front door for the human. *attention.Service
// satisfies it.
type Attention interface {
	Answer(ctx context.Context, key, promptID string, scores attention.Scores, reason string, skip bool, at time.Time) (events.PromptAnswered, error)
}

// AttentionView is the slot's read model. *attention.View (projections)
// satisfies it.
type AttentionView interface {
	Queue() (*attention.Prompt, []attention.Prompt)
	Response(id string) (attnview.Response, bool)
	Responses(limit int, cursor string) ([]attnview.Response, string, error)
}

// ActivePrompt is the prompt in front of the human.
type ActivePrompt struct {
	PromptID    string         `json:"prompt_id"`
	AgentID     string         `json:"agent_id"`
	Content     string         `json:"content"`
	BidAmount   system.Credits `json:"bid_amount" doc:"What the agent paid to be read."`
	PlacedAt    time.Time      `json:"placed_at"`
	ActivatedAt time.Time      `json:"activated_at"`
}

// ActiveOutput is GET /attention/active.
type ActiveOutput struct {
	Body struct {
		Active  *ActivePrompt  `json:"active" doc:"The prompt in front of the human; null when the slot is free."`
		Waiting int            `json:"waiting" doc:"Prompts in the queue."`
		Price   system.Credits `json:"price" doc:"The attention market's posted price."`
	}
}

// Response is a response of the human, with the prompt it answered.
type Response struct {
	PromptID       string         `json:"prompt_id"`
	AgentID        string         `json:"agent_id"`
	Interesting    int            `json:"interesting"`
	Useful         int            `json:"useful"`
	Understandable int            `json:"understandable"`
	Reason         string         `json:"reason,omitempty"`
	Skipped        bool           `json:"skipped"`
	Reward         system.Credits `json:"reward" doc:"sum(score x rate), economy.attention_conversion_rates."`
	Minted         bool           `json:"minted" doc:"The reward reached the agent; false for a skip, a zero reward, or an agent dead by then (minted nothing)."`
	BidAmount      system.Credits `json:"bid_amount"`
	Content        string         `json:"content"`
	PlacedAt       time.Time      `json:"placed_at"`
	ActivatedAt    time.Time      `json:"activated_at"`
	AnsweredAt     time.Time      `json:"answered_at"`
}

// PromptPath names a prompt.
type PromptPath struct {
	ID string `path:"id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The active prompt's id (GET /attention/active)."`
}

// RespondInput is POST /attention/prompt/{id}/response.
type RespondInput struct {
	PromptPath
	Idempotency
	Body struct {
		Interesting    int    `json:"interesting" required:"true" minimum:"0" maximum:"10" doc:"0 to 10."`
		Useful         int    `json:"useful" required:"true" minimum:"0" maximum:"10" doc:"0 to 10."`
		Understandable int    `json:"understandable" required:"true" minimum:"0" maximum:"10" doc:"0 to 10."`
		Reason         string `json:"reason,omitempty" maxLength:"4096" doc:"Why, in a few words: UTF-8, at most 4096 bytes."`
	}
}

// SkipInput is POST /attention/prompt/{id}/skip.
type SkipInput struct {
	PromptPath
	Idempotency
	Body *struct {
		Reason string `json:"reason,omitempty" maxLength:"4096" doc:"Why it is skipped: UTF-8, at most 4096 bytes."`
	}
}

// ResponseOutput is the answer of a response or a skip.
type ResponseOutput struct{ Body Response }

// ResponsesInput is GET /attention/responses.
type ResponsesInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20"`
	Cursor string `query:"cursor" maxLength:"32" doc:"The next_cursor of the previous page."`
}

// ResponsesOutput is GET /attention/responses.
type ResponsesOutput struct {
	Body struct {
		Responses  []Response `json:"responses" doc:"Newest first."`
		NextCursor string     `json:"next_cursor,omitempty" doc:"Absent on the last page."`
	}
}

// QueueOutput is GET /admin/attention/queue, every prompt's content shown
// (GET /attention/queue is the System Service's, for the agents).
type QueueOutput struct{ Body system.AttentionQueue }

func (s *service) registerAttention(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-active-prompt", Method: http.MethodGet, Path: "/attention/active", Tags: []string{"attention"},
		Summary: "The prompt in front of the human (null when none)",
	}), s.activePrompt)
	answers := []int{http.StatusBadRequest, http.StatusConflict, http.StatusServiceUnavailable}
	huma.Register(api, operation(huma.Operation{
		OperationID: "respond-to-prompt", Method: http.MethodPost, Path: "/attention/prompt/{id}/response", Tags: []string{"attention"},
		Summary: "Rate the active prompt; its reward is minted to its agent and the next prompt is shown",
	}, answers...), s.respond)
	huma.Register(api, operation(huma.Operation{
		OperationID: "skip-prompt", Method: http.MethodPost, Path: "/attention/prompt/{id}/skip", Tags: []string{"attention"},
		Summary: "Answer the active prompt without a rating: no reward, the bid stays paid",
	}, answers...), s.skip)
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-responses", Method: http.MethodGet, Path: "/attention/responses", Tags: []string{"attention"},
		Summary: "The human's past responses, newest first",
	}, http.StatusBadRequest), s.responses)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-operator-queue", Method: http.MethodGet, Path: "/admin/attention/queue", Tags: []string{"attention"},
		Summary: "The active prompt and the waiting ones, with their content",
	}), s.queue)
}

func (s *service) activePrompt(ctx context.Context, _ *struct{}) (*ActiveOutput, error) {
	s.settle(ctx)
	active, waiting := s.deps.AttentionView.Queue()
	out := &ActiveOutput{}
	out.Body.Waiting, out.Body.Price = len(waiting), system.AttentionPrice(s.deps.Markets)
	if active != nil {
		out.Body.Active = &ActivePrompt{PromptID: active.ID, AgentID: active.AgentID, Content: active.Content,
			BidAmount: system.Credits(active.AmountMicros), PlacedAt: active.PlacedAt, ActivatedAt: active.ActivatedAt}
	}
	return out, nil
}

func (s *service) respond(ctx context.Context, in *RespondInput) (*ResponseOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	b := in.Body
	return s.answer(ctx, key, in.ID, attention.Scores{Interesting: b.Interesting, Useful: b.Useful, Understandable: b.Understandable},
		b.Reason, false)
}

func (s *service) skip(ctx context.Context, in *SkipInput) (*ResponseOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	reason := ""
	if in.Body != nil {
		reason = in.Body.Reason
	}
	return s.answer(ctx, key, in.ID, attention.Scores{}, reason, true)
}

// answer records the human's response, which mints the reward before it
// returns, and answers it as the read model shows it once it caught up.
func (s *service) answer(ctx context.Context, key, id string, scores attention.Scores, reason string, skip bool) (*ResponseOutput, error) {
	if !utf8.ValidString(reason) || len(reason) > attention.ReasonBytesMax {
		return nil, s.Problem(fmt.Errorf("%w: the reason must be UTF-8 of at most %d bytes", attention.ErrInvalidResponse, attention.ReasonBytesMax))
	}
	if key != "" {
		key = commandKey("answer/"+id, key)
	}
	answered, err := s.deps.Attention.Answer(ctx, key, id, scores, reason, skip, time.Now().UTC())
	if errors.Is(err, attention.ErrNotActive) {
		if _, done := s.deps.AttentionView.Response(id); done {
			err = fmt.Errorf("%w: prompt %s was answered already; a response is accepted once", attention.ErrNotActive, id)
		}
	}
	if err != nil {
		return nil, s.Problem(err)
	}
	s.settle(ctx)
	if r, ok := s.deps.AttentionView.Response(id); ok {
		return &ResponseOutput{Body: response(r)}, nil
	}
	// The read model is behind (settle is bounded): answer from the event.
	return &ResponseOutput{Body: Response{PromptID: answered.PromptID, AgentID: answered.AgentID, Interesting: answered.Interesting,
		Useful: answered.Useful, Understandable: answered.Understandable, Reason: answered.Reason, Skipped: answered.Skipped,
		Reward: system.Credits(answered.RewardMicros), AnsweredAt: answered.AnsweredAt}}, nil
}

func response(r attnview.Response) Response {
	return Response{PromptID: r.PromptID, AgentID: r.AgentID, Interesting: r.Interesting, Useful: r.Useful,
		Understandable: r.Understandable, Reason: r.Reason, Skipped: r.Skipped, Reward: system.Credits(r.RewardMicros),
		Minted: r.Minted, BidAmount: system.Credits(r.AmountMicros), Content: r.Content, PlacedAt: r.PlacedAt,
		ActivatedAt: r.ActivatedAt, AnsweredAt: r.AnsweredAt}
}

func (s *service) responses(ctx context.Context, in *ResponsesInput) (*ResponsesOutput, error) {
	s.settle(ctx)
	page, next, err := s.deps.AttentionView.Responses(in.Limit, in.Cursor)
	if err != nil {
		return nil, huma.Error400BadRequest(fmt.Sprintf("cursor: %v", err))
	}
	out := &ResponsesOutput{}
	out.Body.Responses, out.Body.NextCursor = make([]Response, len(page)), next
	for i, r := range page {
		out.Body.Responses[i] = response(r)
	}
	return out, nil
}

func (s *service) queue(ctx context.Context, _ *struct{}) (*QueueOutput, error) {
	s.settle(ctx)
	return &QueueOutput{Body: system.Queue(s.deps.AttentionView, s.deps.Markets, func(attention.Prompt) bool { return true })}, nil
}
