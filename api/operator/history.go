package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/projections/history"
)

// GET /admin/history is the recent activity of the whole economy, the
// money movements of every agent newest first, or of one agent with
// ?agent=: what the human's terminal shows as it happens and what `agora
// history` prints from the log when no economy runs.

// History is the read model of money movements. *history.View satisfies
// it.
type History interface {
	Recent(limit int) []history.Transaction
	ForAgent(agentID string, limit int) []history.Transaction
}

// HistoryInput is GET /admin/history.
type HistoryInput struct {
	Limit int    `query:"limit" minimum:"1" maximum:"1000" default:"20" doc:"How many transactions, newest first."`
	Agent string `query:"agent" pattern:"^[a-z0-9_-]{1,64}$" doc:"Only this agent's transactions."`
}

// HistoryOutput is GET /admin/history.
type HistoryOutput struct {
	Body struct {
		Transactions []HistoryTransaction `json:"transactions" doc:"Newest first."`
	}
}

// HistoryTransaction is one movement of one agent's balance: the System
// Service's history line with the agent it belongs to.
type HistoryTransaction struct {
	AgentID        string         `json:"agent_id"`
	Seq            uint64         `json:"seq" doc:"The stream sequence of the event."`
	EventID        string         `json:"event_id" doc:"The id of the event that moved the balance."`
	Time           time.Time      `json:"time"`
	Kind           string         `json:"kind" doc:"What moved the balance, as in the System Service's GET /economic/history."`
	CounterpartyID string         `json:"counterparty_id,omitempty"`
	Amount         system.Credits `json:"amount" doc:"The change to the balance: negative when credits leave it."`
	Reference      string         `json:"reference,omitempty"`
	Memo           string         `json:"memo,omitempty"`
	BalanceAfter   system.Credits `json:"balance_after"`
}

func (s *service) registerHistory(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-history", Method: http.MethodGet, Path: "/admin/history", Tags: []string{"history"},
		Summary: "Recent money movements of every agent (or of one), newest first",
	}, http.StatusNotFound), s.history)
}

func (s *service) history(ctx context.Context, in *HistoryInput) (*HistoryOutput, error) {
	s.settle(ctx)
	txs := s.deps.History.Recent(in.Limit)
	if in.Agent != "" {
		// The directory tells an agent without transactions from one
		// that never existed.
		if _, ok := s.deps.Directory.Get(in.Agent); !ok {
			return nil, s.Problem(fmt.Errorf("%w: %s", agent.ErrUnknownAgent, in.Agent))
		}
		txs = s.deps.History.ForAgent(in.Agent, in.Limit)
	}
	out := &HistoryOutput{}
	out.Body.Transactions = make([]HistoryTransaction, len(txs))
	for i, t := range txs {
		out.Body.Transactions[i] = HistoryTransaction{AgentID: t.AgentID, Seq: t.Seq, EventID: t.EventID, Time: t.Time, Kind: string(t.Kind),
			CounterpartyID: t.CounterpartyID, Amount: system.Credits(t.AmountMicros), Reference: t.Reference,
			Memo: t.Memo, BalanceAfter: system.Credits(t.BalanceAfterMicros)}
	}
	return out, nil
}
