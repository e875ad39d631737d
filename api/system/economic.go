package system

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/projections/history"
)

// Routes of the caller's money: GET /economic/balance, POST
// /economic/transfer, GET /economic/history.

// BalanceOutput is GET /economic/balance.
type BalanceOutput struct{ Body Balance }

// Balance is the caller's account.
type Balance struct {
	AgentID   string  `json:"agent_id"`
	Status    string  `json:"status" enum:"alive,dead" doc:"The agent's life."`
	Balance   Credits `json:"balance"`
	Held      Credits `json:"held" doc:"Reserved by open bids and prompts."`
	Available Credits `json:"available" doc:"balance - held: what the agent may still commit."`
}

// TransferInput is POST /economic/transfer.
type TransferInput struct {
	Idempotency
	Body struct {
		ToAgentID string `json:"to_agent_id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The recipient, a living agent other than the caller."`
		Amount    Amount `json:"amount"`
		Memo      string `json:"memo,omitempty" maxLength:"1024" doc:"A note for both histories."`
	}
}

// TransferOutput is POST /economic/transfer.
type TransferOutput struct{ Body TransferReceipt }

// TransferReceipt is a transfer on its way.
type TransferReceipt struct {
	TransferID string  `json:"transfer_id"`
	Status     string  `json:"status" enum:"sent" doc:"Debited from the caller; the transfer manager credits the recipient, or returns the credits if it died meanwhile."`
	ToAgentID  string  `json:"to_agent_id"`
	Amount     Credits `json:"amount"`
}

// HistoryInput is GET /economic/history.
type HistoryInput struct {
	Limit int `query:"limit" minimum:"1" maximum:"1000" default:"20" doc:"How many transactions, newest first."`
}

// HistoryOutput is GET /economic/history.
type HistoryOutput struct{ Body History }

// History is the caller's recent transactions, newest first.
type History struct {
	AgentID      string               `json:"agent_id"`
	Transactions []HistoryTransaction `json:"transactions"`
}

// HistoryTransaction is one movement of the caller's balance.
type HistoryTransaction struct {
	Seq            uint64    `json:"seq" doc:"The stream sequence of the event."`
	Time           time.Time `json:"time"`
	Kind           string    `json:"kind" doc:"What moved the balance: grant, transfer_out, transfer_in, transfer_bounced, transfer_returned, transfer_burned, hold_posted (a bid or prompt paid), burn, death_burn, message_cost, message_returned, reward (the human's reward for a prompt)."`
	CounterpartyID string    `json:"counterparty_id,omitempty"`
	Amount         Credits   `json:"amount" doc:"The change to the balance: negative when credits leave it."`
	Reference      string    `json:"reference,omitempty" doc:"The transfer or hold (bid) id."`
	Memo           string    `json:"memo,omitempty"`
	BalanceAfter   Credits   `json:"balance_after"`
}

func (s *service) registerEconomic(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-balance", Method: http.MethodGet, Path: "/economic/balance", Tags: []string{"economic"},
		Summary:     "The caller's balance, held and available credits",
		Description: "Read from the caller's own account, so it reflects every command answered so far.",
	}, http.StatusNotFound), s.balance)
	huma.Register(api, operation(huma.Operation{
		OperationID: "transfer", Method: http.MethodPost, Path: "/economic/transfer", Tags: []string{"economic"},
		Summary: "Send credits to another living agent",
	}, http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable), s.transfer)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-history", Method: http.MethodGet, Path: "/economic/history", Tags: []string{"economic"},
		Summary: "The caller's own transactions, newest first",
	}), s.history)
}

func (s *service) balance(ctx context.Context, _ *struct{}) (*BalanceOutput, error) {
	b, err := serve[Balance](ctx, s, GetBalance{callerOf(ctx).call()})
	return &BalanceOutput{Body: b}, err
}

func (s *service) transfer(ctx context.Context, in *TransferInput) (*TransferOutput, error) {
	r, err := serve[TransferReceipt](ctx, s, Transfer{Caller: callerOf(ctx).call(), Key: in.Key,
		ToAgentID: in.Body.ToAgentID, AmountMicros: in.Body.Amount.Micros(), Memo: in.Body.Memo})
	return &TransferOutput{Body: r}, err
}

func (s *service) history(ctx context.Context, in *HistoryInput) (*HistoryOutput, error) {
	h, err := serve[History](ctx, s, GetHistory{Caller: callerOf(ctx).call(), Limit: in.Limit})
	return &HistoryOutput{Body: h}, err
}

func historyTransaction(t history.Transaction) HistoryTransaction {
	return HistoryTransaction{Seq: t.Seq, Time: t.Time, Kind: string(t.Kind), CounterpartyID: t.CounterpartyID,
		Amount: Credits(t.AmountMicros), Reference: t.Reference, Memo: t.Memo, BalanceAfter: Credits(t.BalanceAfterMicros)}
}
