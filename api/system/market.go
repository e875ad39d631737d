package system

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/markets"
)

// Routes of the markets: GET /market/state, GET /market/bids, POST
// /market/bid, PATCH and DELETE /market/bid/{id}.

// MarketStateOutput is GET /market/state.
type MarketStateOutput struct{ Body MarketState }

// MarketState is every market and the clearing's cycle.
type MarketState struct {
	Cycle   uint64   `json:"cycle" doc:"The last cycle that changed anything (an idle cycle records nothing)."`
	Markets []Market `json:"markets"`
}

// Market is one market.
type Market struct {
	Resource           string              `json:"resource"`
	Supply             Units               `json:"supply"`
	Leased             Units               `json:"leased"`
	Utilization        Units               `json:"utilization" doc:"leased / supply, a fraction with at most 6 decimals."`
	Price              Credits             `json:"price" doc:"The posted price per unit."`
	ActiveBids         int                 `json:"active_bids" doc:"Open bids whose bundle names the resource."`
	RecentTransactions []MarketTransaction `json:"recent_transactions"`
}

// MarketTransaction is an allocation or a release of a market's units.
type MarketTransaction struct {
	Seq           uint64    `json:"seq"`
	Time          time.Time `json:"time"`
	Kind          string    `json:"kind" enum:"allocation,release"`
	Cycle         uint64    `json:"cycle,omitempty"`
	BidID         string    `json:"bid_id,omitempty"`
	ExecutionID   string    `json:"execution_id"`
	AgentID       string    `json:"agent_id,omitempty"`
	BeneficiaryID string    `json:"beneficiary_id,omitempty"`
	Units         Units     `json:"units"`
	Amount        Credits   `json:"amount,omitempty" doc:"What the winning bid paid for its whole bundle."`
	Price         Credits   `json:"price,omitempty" doc:"The posted price per unit when the cycle cleared."`
	Reason        string    `json:"reason,omitempty"`
	Used          *Units    `json:"used,omitempty" doc:"On a release: what the execution used of the resource, as its end recorded it (tokens metered, CPU time, memory peak); absent when the units were released before the end."`
}

// BidsInput is GET /market/bids.
type BidsInput struct {
	Resource string `query:"resource" pattern:"^[a-z0-9_-]{1,64}$" doc:"Only bids whose bundle names this resource."`
	Limit    int    `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Cursor   string `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page."`
}

// BidsOutput is GET /market/bids.
type BidsOutput struct{ Body BidPage }

// BidPage is a page of the public bid book, in the clearing's order
// (amount, highest first, then time placed, then id).
type BidPage struct {
	Bids       []Bid  `json:"bids"`
	NextCursor string `json:"next_cursor,omitempty" doc:"Absent on the last page."`
	Total      int    `json:"total" doc:"The open bids the filter selects, on every page."`
}

// Bid is one open bid of the public book (its payload is private).
type Bid struct {
	BidID         string           `json:"bid_id"`
	AgentID       string           `json:"agent_id"`
	BeneficiaryID string           `json:"beneficiary_id,omitempty"`
	Resources     map[string]Units `json:"resources"`
	Amount        Credits          `json:"amount"`
	PlacedAt      time.Time        `json:"placed_at"`
	Status        string           `json:"status" enum:"open"`
}

// PlaceBidInput is POST /market/bid.
type PlaceBidInput struct {
	Idempotency
	Body struct {
		Resources     map[string]Quantity `json:"resources" minProperties:"1" doc:"The bundle: units per resource. It names cpu_seconds and memory_mb, may name tokens, never attention."`
		Amount        Amount              `json:"amount" doc:"The total offered for the bundle: at least its reserve price (units x posted prices), at most the caller's available credits. Held until the bid wins (paid) or leaves the book (released)."`
		Payload       string              `json:"payload,omitempty" maxLength:"16384" doc:"Handed to the execution the bid wins (AGORA_PAYLOAD)."`
		BeneficiaryID string              `json:"beneficiary_id,omitempty" pattern:"^[a-z0-9_-]{1,64}$" doc:"Another living agent that runs when the bid wins, paid by the caller."`
	}
}

// BidOutput is the answer of POST, PATCH and DELETE /market/bid.
type BidOutput struct{ Body BidStatus }

// BidStatus is a bid's id and status.
type BidStatus struct {
	BidID  string `json:"bid_id"`
	Status string `json:"status" enum:"open,won,rejected,withdrawn" doc:"open: in the book. won: it already won a cycle. rejected: the book refused it after the hold (a price rose meanwhile); the hold is released. withdrawn: taken out, the hold released."`
}

// BidIDInput names one of the caller's bids.
type BidIDInput struct {
	ID string `path:"id" pattern:"^[a-z0-9_-]{1,64}$" doc:"The bid id POST /market/bid answered."`
}

// RaiseBidInput is PATCH /market/bid/{id}.
type RaiseBidInput struct {
	BidIDInput
	Idempotency
	Body struct {
		Amount Amount `json:"amount" doc:"The new total, above the current amount; the hold grows by the difference."`
	}
}

// WithdrawBidInput is DELETE /market/bid/{id}.
type WithdrawBidInput struct {
	BidIDInput
	Idempotency
}

func (s *service) registerMarket(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-market-state", Method: http.MethodGet, Path: "/market/state", Tags: []string{"market"},
		Summary: "Every market: supply, leased, utilization, price, active bids, recent transactions",
	}), s.marketState)
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-bids", Method: http.MethodGet, Path: "/market/bids", Tags: []string{"market"},
		Summary: "The public bid book, paged in clearing order",
	}, http.StatusBadRequest), s.bids)
	conflicts := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable}
	huma.Register(api, operation(huma.Operation{
		OperationID: "place-bid", Method: http.MethodPost, Path: "/market/bid", Tags: []string{"market"},
		Summary: "Bid for a bundle of resources (the caller's next execution)",
	}, conflicts...), s.placeBidRoute)
	huma.Register(api, operation(huma.Operation{
		OperationID: "raise-bid", Method: http.MethodPatch, Path: "/market/bid/{id}", Tags: []string{"market"},
		Summary: "Raise one of the caller's open bids",
	}, append(conflicts, http.StatusForbidden)...), s.raiseBidRoute)
	huma.Register(api, operation(huma.Operation{
		OperationID: "withdraw-bid", Method: http.MethodDelete, Path: "/market/bid/{id}", Tags: []string{"market"},
		Summary: "Withdraw one of the caller's open bids; its hold is released",
	}, append(conflicts, http.StatusForbidden)...), s.withdrawBidRoute)
}

func (s *service) marketState(ctx context.Context, _ *struct{}) (*MarketStateOutput, error) {
	st, err := serve[MarketState](ctx, s, GetMarketState{callerOf(ctx).call()})
	return &MarketStateOutput{Body: st}, err
}

func market(m markets.MarketState) Market {
	txs := make([]MarketTransaction, len(m.RecentTransactions))
	for i, t := range m.RecentTransactions {
		txs[i] = MarketTransaction{Seq: t.Seq, Time: t.Time, Kind: string(t.Kind), Cycle: t.Cycle, BidID: t.BidID,
			ExecutionID: t.ExecutionID, AgentID: t.AgentID, BeneficiaryID: t.BeneficiaryID, Units: Units(t.Units),
			Amount: Credits(t.AmountMicros), Price: Credits(t.PriceMicros), Reason: t.Reason}
		if t.Measured {
			used := Units(t.UsedUnits)
			txs[i].Used = &used
		}
	}
	return Market{Resource: m.Resource, Supply: Units(m.SupplyUnits), Leased: Units(m.LeasedUnits),
		Utilization: Units(m.UtilizationPPM), Price: Credits(m.PriceMicros), ActiveBids: m.ActiveBids,
		RecentTransactions: txs}
}

func (s *service) bids(ctx context.Context, in *BidsInput) (*BidsOutput, error) {
	page, err := serve[BidPage](ctx, s, ListBids{Caller: callerOf(ctx).call(), Resource: in.Resource, Limit: in.Limit, Cursor: in.Cursor})
	return &BidsOutput{Body: page}, err
}

func publicBid(b bidbook.Bid) Bid {
	res := make(map[string]Units, len(b.Resources))
	for r, u := range b.Resources {
		res[r] = Units(u)
	}
	return Bid{BidID: b.ID, AgentID: b.AgentID, BeneficiaryID: b.BeneficiaryID, Resources: res,
		Amount: Credits(b.AmountMicros), PlacedAt: b.PlacedAt, Status: bidbook.StatusOpen}
}

func (s *service) placeBidRoute(ctx context.Context, in *PlaceBidInput) (*BidOutput, error) {
	terms := events.BidTerms{Resources: make(map[string]events.Units, len(in.Body.Resources)),
		BeneficiaryID: in.Body.BeneficiaryID, Payload: in.Body.Payload}
	for name, q := range in.Body.Resources {
		terms.Resources[name] = q.Units()
	}
	return bidOutput(serve[BidStatus](ctx, s, PlaceBid{Caller: callerOf(ctx).call(), Key: in.Key,
		Terms: terms, AmountMicros: in.Body.Amount.Micros()}))
}

func (s *service) raiseBidRoute(ctx context.Context, in *RaiseBidInput) (*BidOutput, error) {
	return bidOutput(serve[BidStatus](ctx, s, RaiseBid{Caller: callerOf(ctx).call(), Key: in.Key,
		BidID: in.ID, AmountMicros: in.Body.Amount.Micros()}))
}

func (s *service) withdrawBidRoute(ctx context.Context, in *WithdrawBidInput) (*BidOutput, error) {
	return bidOutput(serve[BidStatus](ctx, s, WithdrawBid{Caller: callerOf(ctx).call(), Key: in.Key, BidID: in.ID}))
}

func bidOutput(b BidStatus, err error) (*BidOutput, error) {
	return &BidOutput{Body: b}, err
}
