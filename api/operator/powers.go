package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/events"
)

// The operator's powers over an existing agent (SPEC.md 3.1, 3.3): fund it
// (credits minted), bid on its behalf (paid from its own credits), kill
// it. Each is one command to the agent's own actor, or to the book through
// the path an agent's own bid takes, so each is an event of the agent's
// history, decided by the same rules and seen by the audit, the history
// and the directory like any other.

// ReasonBytesMax bounds the operator's words recorded with a grant or a
// kill.
const ReasonBytesMax = 256

// DefaultGrantReason is the reason a grant records when the operator gives
// none.
const DefaultGrantReason = "operator"

// FundAgentInput is POST /admin/agents/{id}/fund.
type FundAgentInput struct {
	AgentIDInput
	Idempotency
	Body FundAgentBody
}

// FundAgentBody is a grant to a living agent.
type FundAgentBody struct {
	Amount system.Amount `json:"amount" doc:"Credits minted to the agent. Its balance may not pass 1e12 credits."`
	Reason string        `json:"reason,omitempty" maxLength:"256" doc:"Recorded with the grant (credits_granted.reason); default \"operator\"."`
}

// FundAgentOutput is the grant recorded.
type FundAgentOutput struct {
	Body struct {
		AgentID string         `json:"agent_id"`
		Amount  system.Credits `json:"amount" doc:"The credits minted."`
		Reason  string         `json:"reason"`
	}
}

// AgentBidInput is POST /admin/agents/{id}/bids.
type AgentBidInput struct {
	AgentIDInput
	Idempotency
	Body AgentBidBody
}

// AgentBidBody is a bid placed for an agent, paid from its credits.
type AgentBidBody struct {
	Resources map[string]system.Quantity `json:"resources" minProperties:"1" doc:"The bundle: units per resource. It names cpu_seconds and memory_mb, may name tokens, never attention."`
	Amount    system.Amount              `json:"amount" doc:"The total offered: at least the bundle's reserve price, at most the agent's available credits, which it holds until the bid wins or leaves the book."`
	Payload   string                     `json:"payload,omitempty" maxLength:"16384" doc:"Handed to the execution the bid wins (AGORA_PAYLOAD)."`
}

// AgentBidOutput is the bid placed.
type AgentBidOutput struct {
	Body struct {
		AgentID string `json:"agent_id"`
		BidID   string `json:"bid_id"`
		Status  string `json:"status" enum:"open,won,rejected" doc:"open: in the book. won: it already won a cycle. rejected: the book refused it after the hold (a price rose meanwhile); the hold is released."`
	}
}

// KillAgentInput is POST /admin/agents/{id}/kill.
type KillAgentInput struct {
	AgentIDInput
	Idempotency
	Body *KillAgentBody
}

// KillAgentBody says why, optionally.
type KillAgentBody struct {
	Reason string `json:"reason,omitempty" maxLength:"256" doc:"The operator's words, recorded after \"killed by the operator: \" as the death's reason."`
}

// KillAgentOutput is the death recorded.
type KillAgentOutput struct {
	Body struct {
		AgentID     string         `json:"agent_id"`
		Status      string         `json:"status" enum:"dead"`
		Reason      string         `json:"reason" doc:"The death's reason as recorded."`
		Burned      system.Credits `json:"burned" doc:"What was left of its balance, burned."`
		VoidedHolds []string       `json:"voided_holds" doc:"The holds (bids, prompts) released; its bids leave the book."`
	}
}

// Resolve refuses a reason that is not one line of text: it is shown in
// tables (agora history, agora agent).
func (b *FundAgentBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return checkReason(prefix, b.Reason)
}

// Resolve refuses a reason that is not one line of text.
func (b *KillAgentBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return checkReason(prefix, b.Reason)
}

func checkReason(prefix *huma.PathBuffer, reason string) []error {
	if i := strings.IndexFunc(reason, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		return []error{&huma.ErrorDetail{Location: prefix.With("reason"), Value: reason,
			Message: fmt.Sprintf("has the control character %q at byte %d; a reason is one line of text", reason[i], i)}}
	}
	return nil
}

func (s *service) registerPowers(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "fund-agent", Method: http.MethodPost, Path: "/admin/agents/{id}/fund", Tags: []string{"agents"},
		Summary: "Grant credits (minted) to a living agent",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable), s.fundAgent)
	huma.Register(api, operation(huma.Operation{
		OperationID: "bid-for-agent", Method: http.MethodPost, Path: "/admin/agents/{id}/bids", Tags: []string{"agents"},
		Summary: "Place a bid on an agent's behalf, paid from its own credits",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable), s.bidForAgent)
	huma.Register(api, operation(huma.Operation{
		OperationID: "kill-agent", Method: http.MethodPost, Path: "/admin/agents/{id}/kill", Tags: []string{"agents"},
		Summary: "Kill an agent: its program stops, its bids leave the book, its credits are burned",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable), s.killAgent)
}

func (s *service) fundAgent(ctx context.Context, in *FundAgentInput) (*FundAgentOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, in.ID); err != nil {
		return nil, s.Problem(err)
	}
	reason := in.Body.Reason
	if reason == "" {
		reason = DefaultGrantReason
	}
	res, err := s.deps.Accounts.Do(ctx, in.ID, commandKey("fund", key), agent.Grant{AmountMicros: in.Body.Amount.Micros(), Reason: reason})
	if err != nil {
		return nil, s.Problem(err)
	}
	granted, ok := res.Event.(events.CreditsGranted)
	if !ok { // a Grant always records one; never expected
		return nil, s.Problem(fmt.Errorf("fund %s: the account recorded %T, not a grant", in.ID, res.Event))
	}
	s.settle(ctx)
	out := &FundAgentOutput{}
	out.Body.AgentID, out.Body.Amount, out.Body.Reason = in.ID, system.Credits(granted.AmountMicros), granted.Reason
	return out, nil
}

func (s *service) bidForAgent(ctx context.Context, in *AgentBidInput) (*AgentBidOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, in.ID); err != nil {
		return nil, s.Problem(err)
	}
	terms := events.BidTerms{Resources: make(map[string]events.Units, len(in.Body.Resources)), Payload: in.Body.Payload}
	for name, q := range in.Body.Resources {
		terms.Resources[name] = q.Units()
	}
	id, status, err := s.deps.Book.Place(ctx, in.ID, commandKey("bid", key), terms, in.Body.Amount.Micros())
	if err != nil {
		return nil, s.Problem(err)
	}
	s.settle(ctx)
	out := &AgentBidOutput{}
	out.Body.AgentID, out.Body.BidID, out.Body.Status = in.ID, id, status
	return out, nil
}

func (s *service) killAgent(ctx context.Context, in *KillAgentInput) (*KillAgentOutput, error) {
	key, err := in.key()
	if err != nil {
		return nil, err
	}
	if err := s.known(ctx, in.ID); err != nil {
		return nil, s.Problem(err)
	}
	reason := agent.KilledByOperator
	if in.Body != nil && in.Body.Reason != "" {
		reason += ": " + in.Body.Reason
	}
	res, err := s.deps.Accounts.Do(ctx, in.ID, commandKey("kill", key), agent.Die{Reason: reason})
	if err != nil {
		return nil, s.Problem(err)
	}
	died, ok := res.Event.(events.AgentDied)
	if !ok { // a plain Die always records a death or is refused; never expected
		return nil, s.Problem(fmt.Errorf("kill %s: the account recorded %T, not a death", in.ID, res.Event))
	}
	s.settle(ctx)
	out := &KillAgentOutput{}
	out.Body.AgentID, out.Body.Status, out.Body.Reason = in.ID, "dead", died.Reason
	out.Body.Burned, out.Body.VoidedHolds = system.Credits(died.BurnedMicros), append([]string{}, died.VoidedHolds...)
	return out, nil
}

// known checks that agent id was ever created before its actor is asked:
// asking an actor starts it, and an operator's typo should not leave an
// actor behind. An id the directory does not know yet is looked up again
// once the read models have caught up with the log, so an agent created a
// moment ago is found.
func (s *service) known(ctx context.Context, id string) error {
	if _, ok := s.deps.Directory.Get(id); ok {
		return nil
	}
	if err := s.deps.Freshness.Sync(ctx); err != nil {
		return err
	}
	if _, ok := s.deps.Directory.Get(id); !ok {
		return fmt.Errorf("%w: %s", agent.ErrUnknownAgent, id)
	}
	return nil
}
