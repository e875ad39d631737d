package system

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/events"
)

// Routes of the human's attention (SPEC.md 1.5): POST /attention/prompt,
// PATCH and DELETE /attention/prompt/{id}, GET /attention/queue, and their
// calls for the actor door (PlacePrompt, RaisePrompt, WithdrawPrompt,
// GetAttentionQueue). Reads come from the slot's read model
// (projections/attention), never from the slot itself.

// AttentionService is the slot's front door. *attention.Service satisfies
// it.
type AttentionService interface {
	Place(ctx context.Context, agentID, key, content string, amount events.Micros) (string, string, int, error)
	Raise(ctx context.Context, agentID, key, promptID string, amount events.Micros) (string, int, error)
	Withdraw(ctx context.Context, agentID, key, promptID string) error
}

// AttentionView is the slot's read model. *attention.View (projections)
// satisfies it.
type AttentionView interface {
	// Queue returns the active prompt (nil: none) and the waiting ones in
	// queue order.
	Queue() (*attention.Prompt, []attention.Prompt)
}

// PromptInput is POST /attention/prompt.
type PromptInput struct {
	Idempotency
	Body struct {
		Content   string `json:"content" minLength:"1" doc:"UTF-8 text, 1 to 16384 bytes: what the human reads."`
		BidAmount Amount `json:"bid_amount" doc:"What the caller offers to be read: at least the attention market's posted price, at most its available credits. Held while the prompt waits, paid (burned) when it is shown."`
	}
}

// PromptOutput is the answer of POST, PATCH and DELETE /attention/prompt.
type PromptOutput struct{ Body PromptStatus }

// PromptStatus is a prompt's id, status and place in the queue.
type PromptStatus struct {
	PromptID string `json:"prompt_id"`
	Status   string `json:"status" enum:"waiting,active,gone,withdrawn" doc:"waiting: in the queue. active: in front of the human (paid). gone: it left the slot already (answered, or dropped). withdrawn: taken out, the hold released."`
	Position int    `json:"position" doc:"1 is the next prompt shown; 0 the active prompt; -1 none (gone or withdrawn)."`
}

// PromptIDInput names one of the caller's prompts.
type PromptIDInput struct {
	ID string `path:"id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The prompt id POST /attention/prompt answered."`
}

// RaisePromptInput is PATCH /attention/prompt/{id}.
type RaisePromptInput struct {
	PromptIDInput
	Idempotency
	Body struct {
		BidAmount Amount `json:"bid_amount" doc:"The new total, above the current amount; the hold grows by the difference."`
	}
}

// WithdrawPromptInput is DELETE /attention/prompt/{id}.
type WithdrawPromptInput struct {
	PromptIDInput
	Idempotency
}

// AttentionQueueOutput is GET /attention/queue.
type AttentionQueueOutput struct{ Body AttentionQueue }

// AttentionQueue is the slot: the active prompt and the waiting ones.
type AttentionQueue struct {
	Active *QueuedPrompt  `json:"active" doc:"The prompt in front of the human; null when the slot is free."`
	Queue  []QueuedPrompt `json:"queue" doc:"The waiting prompts, the next shown first."`
	Length int            `json:"length"`
	Price  Credits        `json:"price" doc:"The attention market's posted price: the least a new prompt may bid."`
}

// QueuedPrompt is one prompt of the slot.
type QueuedPrompt struct {
	Position    int        `json:"position" doc:"1 is the next shown; 0 the active prompt."`
	PromptID    string     `json:"prompt_id"`
	AgentID     string     `json:"agent_id"`
	BidAmount   Credits    `json:"bid_amount"`
	PlacedAt    time.Time  `json:"placed_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	Content     string     `json:"content,omitempty" doc:"Only of the caller's own prompts (the operator sees every one)."`
}

// PlacePrompt asks for the human's attention. Value: PromptStatus.
type PlacePrompt struct {
	Caller
	Key          string
	Content      string
	AmountMicros events.Micros
}

// RaisePrompt raises one of the caller's waiting prompts to AmountMicros.
// Value: PromptStatus.
type RaisePrompt struct {
	Caller
	Key          string
	PromptID     string
	AmountMicros events.Micros
}

// WithdrawPrompt takes one of the caller's waiting prompts out of the
// queue; its hold is released. Value: PromptStatus.
type WithdrawPrompt struct {
	Caller
	Key      string
	PromptID string
}

// GetAttentionQueue asks for the slot. Value: AttentionQueue.
type GetAttentionQueue struct{ Caller }

func (s *service) registerAttention(api huma.API) {
	conflicts := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable}
	op := operation(huma.Operation{
		OperationID: "place-prompt", Method: http.MethodPost, Path: "/attention/prompt", Tags: []string{"attention"},
		Summary: "Bid for the human's attention with a prompt",
	}, append(conflicts, http.StatusRequestEntityTooLarge)...)
	op.MaxBodyBytes = PromptBodyBytesMax
	huma.Register(api, op, s.placePromptRoute)
	huma.Register(api, operation(huma.Operation{
		OperationID: "raise-prompt", Method: http.MethodPatch, Path: "/attention/prompt/{id}", Tags: []string{"attention"},
		Summary: "Raise one of the caller's waiting prompts",
	}, conflicts...), s.raisePromptRoute)
	huma.Register(api, operation(huma.Operation{
		OperationID: "withdraw-prompt", Method: http.MethodDelete, Path: "/attention/prompt/{id}", Tags: []string{"attention"},
		Summary: "Withdraw one of the caller's waiting prompts; its hold is released",
	}, conflicts...), s.withdrawPromptRoute)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-attention-queue", Method: http.MethodGet, Path: "/attention/queue", Tags: []string{"attention"},
		Summary: "The active prompt and the waiting ones: positions and amounts, content only of the caller's own",
	}), s.attentionQueueRoute)
}

// PromptBodyBytesMax bounds POST /attention/prompt's body: the content
// at its limit, escaped, and the amount.
const PromptBodyBytesMax = 8*attention.PromptBytesMax + 1024

func (s *service) placePromptRoute(ctx context.Context, in *PromptInput) (*PromptOutput, error) {
	p, err := serve[PromptStatus](ctx, s, PlacePrompt{Caller: callerOf(ctx).call(), Key: in.Key, Content: in.Body.Content,
		AmountMicros: in.Body.BidAmount.Micros()})
	return &PromptOutput{Body: p}, err
}

func (s *service) raisePromptRoute(ctx context.Context, in *RaisePromptInput) (*PromptOutput, error) {
	p, err := serve[PromptStatus](ctx, s, RaisePrompt{Caller: callerOf(ctx).call(), Key: in.Key, PromptID: in.ID,
		AmountMicros: in.Body.BidAmount.Micros()})
	return &PromptOutput{Body: p}, err
}

func (s *service) withdrawPromptRoute(ctx context.Context, in *WithdrawPromptInput) (*PromptOutput, error) {
	p, err := serve[PromptStatus](ctx, s, WithdrawPrompt{Caller: callerOf(ctx).call(), Key: in.Key, PromptID: in.ID})
	return &PromptOutput{Body: p}, err
}

func (s *service) attentionQueueRoute(ctx context.Context, _ *struct{}) (*AttentionQueueOutput, error) {
	q, err := serve[AttentionQueue](ctx, s, GetAttentionQueue{callerOf(ctx).call()})
	return &AttentionQueueOutput{Body: q}, err
}

// runAttention answers the attention calls; ok is false for any other.
func (s *service) runAttention(ctx context.Context, c caller, call Call) (v any, err error, ok bool) {
	agentID := c.ticket.AgentID
	switch m := call.(type) {
	case PlacePrompt:
		key, err := commandKey(m.Key, "prompt", agentID)
		if err != nil {
			return nil, err, true
		}
		id, status, pos, err := s.deps.Attention.Place(ctx, agentID, key, m.Content, m.AmountMicros)
		if err != nil {
			return nil, err, true
		}
		s.settle(ctx)
		return promptStatus(id, status, pos), nil, true
	case RaisePrompt:
		key, err := commandKey(m.Key, "raise-prompt", agentID, m.PromptID)
		if err != nil {
			return nil, err, true
		}
		status, pos, err := s.deps.Attention.Raise(ctx, agentID, key, m.PromptID, m.AmountMicros)
		if err != nil {
			return nil, err, true
		}
		s.settle(ctx)
		return promptStatus(m.PromptID, status, pos), nil, true
	case WithdrawPrompt:
		key, err := commandKey(m.Key, "withdraw-prompt", agentID, m.PromptID)
		if err != nil {
			return nil, err, true
		}
		if err := s.deps.Attention.Withdraw(ctx, agentID, key, m.PromptID); err != nil {
			return nil, err, true
		}
		s.settle(ctx)
		return PromptStatus{PromptID: m.PromptID, Status: statusWithdrawn, Position: -1}, nil, true
	case GetAttentionQueue:
		s.settle(ctx)
		return Queue(s.deps.AttentionView, s.deps.Markets, func(p attention.Prompt) bool { return p.AgentID == agentID }), nil, true
	}
	return nil, nil, false
}

func promptStatus(id, status string, pos int) PromptStatus {
	if status == attention.StatusGone {
		pos = -1
	}
	return PromptStatus{PromptID: id, Status: status, Position: pos}
}

// Queue is the slot as GET /attention/queue shows it, with the content of
// the prompts shown says (the caller's own; the operator's every one).
func Queue(view AttentionView, markets Markets, shown func(attention.Prompt) bool) AttentionQueue {
	active, waiting := view.Queue()
	out := AttentionQueue{Queue: make([]QueuedPrompt, len(waiting)), Length: len(waiting)}
	prompt := func(p attention.Prompt, pos int) QueuedPrompt {
		q := QueuedPrompt{Position: pos, PromptID: p.ID, AgentID: p.AgentID, BidAmount: Credits(p.AmountMicros), PlacedAt: p.PlacedAt}
		if !p.ActivatedAt.IsZero() {
			at := p.ActivatedAt
			q.ActivatedAt = &at
		}
		if shown(p) {
			q.Content = p.Content
		}
		return q
	}
	if active != nil {
		a := prompt(*active, 0)
		out.Active = &a
	}
	for i, p := range waiting {
		out.Queue[i] = prompt(p, i+1)
	}
	out.Price = AttentionPrice(markets)
	return out
}

// AttentionPrice is the attention market's posted price, as the markets
// read model shows it (0 before the market is configured).
func AttentionPrice(markets Markets) Credits {
	for _, m := range markets.State().Markets {
		if m.Resource == attention.Resource {
			return Credits(m.PriceMicros)
		}
	}
	return 0
}

// validateAttention checks the attention calls as the HTTP schema does
// (and the content's size and text, which the schema leaves to it).
func validateAttention(call Call) (error, bool) {
	switch m := call.(type) {
	case PlacePrompt:
		return firstError(field("content", attention.ValidateContent(m.Content)),
			field("bid_amount", events.ValidatePositive(m.AmountMicros)), keyOf(m.Key)), true
	case RaisePrompt:
		return firstError(field("prompt_id", events.ValidateID(m.PromptID)),
			field("bid_amount", events.ValidatePositive(m.AmountMicros)), keyOf(m.Key)), true
	case WithdrawPrompt:
		return firstError(field("prompt_id", events.ValidateID(m.PromptID)), keyOf(m.Key)), true
	case GetAttentionQueue:
		return nil, true
	}
	return nil, false
}

// doAttention makes an attention call over HTTP (the client door).
func (c *client) doAttention(ctx context.Context, call Call) (v any, err error, ok bool) {
	switch m := call.(type) {
	case PlacePrompt:
		v, err = fetch[PromptStatus](ctx, c, m, route{method: http.MethodPost, path: "/attention/prompt", key: m.Key,
			body: map[string]any{"content": m.Content, "bid_amount": events.CreditsJSON(m.AmountMicros)}})
	case RaisePrompt:
		v, err = fetch[PromptStatus](ctx, c, m, route{method: http.MethodPatch, path: "/attention/prompt/" + url.PathEscape(m.PromptID),
			key: m.Key, body: map[string]any{"bid_amount": events.CreditsJSON(m.AmountMicros)}})
	case WithdrawPrompt:
		v, err = fetch[PromptStatus](ctx, c, m, route{method: http.MethodDelete, path: "/attention/prompt/" + url.PathEscape(m.PromptID),
			key: m.Key})
	case GetAttentionQueue:
		v, err = fetch[AttentionQueue](ctx, c, m, route{method: http.MethodGet, path: "/attention/queue"})
	default:
		return nil, nil, false
	}
	return v, err, true
}
