package operator

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/markets"
)

// GET /admin/markets, GET /admin/bids and GET /admin/config are the read
// views of `agora markets`, `agora bids` and `agora config`: the command
// asks them of a running economy and folds the log (or reads the
// configuration) itself when none answers, and prints the same either
// way. So each answers exactly what the command prints with --json.

// Bids is the public bid book. *bidbook.View satisfies it.
type Bids interface {
	Page(resource string, limit int, cursor string) ([]bidbook.Bid, string, error)
	Count() int
	CountFor(resource string) int
}

// Config is the economy's effective configuration. config.Config
// satisfies it; the API only ever shows it redacted.
type Config interface {
	Redacted() config.Config
}

// MarketsInput is GET /admin/markets.
type MarketsInput struct {
	Resource string `query:"resource" pattern:"^[a-z0-9_-]{1,64}$" doc:"Only this market."`
}

// MarketsOutput is GET /admin/markets: the System Service's GET
// /market/state, for the operator.
type MarketsOutput struct{ Body system.MarketState }

// BidsInput is GET /admin/bids.
type BidsInput struct {
	Resource string `query:"resource" pattern:"^[a-z0-9_-]{1,64}$" doc:"Only bids whose bundle names this resource."`
	Limit    int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Bids per page (bidbook.BidsPageMax at most)."`
	Cursor   string `query:"cursor" maxLength:"512" doc:"The next_cursor of the previous page."`
}

// BidsOutput is GET /admin/bids.
type BidsOutput struct {
	Body struct {
		Bids       []BookBid `json:"bids" doc:"In the clearing's order: amount, highest first, then time placed, then id."`
		NextCursor string    `json:"next_cursor" doc:"Empty on the last page."`
		Total      int       `json:"total" doc:"The open bids (naming the resource, with ?resource=), on every page."`
	}
}

// BookBid is one open bid as the operator sees it: the public book's bid
// with the pool it waits in.
type BookBid struct {
	BidID         string                  `json:"bid_id"`
	Pool          string                  `json:"pool,omitempty"`
	AgentID       string                  `json:"agent_id"`
	BeneficiaryID string                  `json:"beneficiary_id,omitempty"`
	Resources     map[string]system.Units `json:"resources"`
	Amount        system.Credits          `json:"amount"`
	PlacedAt      time.Time               `json:"placed_at"`
	Status        string                  `json:"status" enum:"open"`
}

// ConfigOutput is GET /admin/config: the configuration as `agora config
// --json` prints it, secrets redacted.
type ConfigOutput struct {
	ContentType string `header:"Content-Type"`
	Body        []byte
}

func (s *service) registerViews(api huma.API) {
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-markets", Method: http.MethodGet, Path: "/admin/markets", Tags: []string{"markets"},
		Summary: "Every resource market (or one), with its recent transactions",
	}, http.StatusNotFound), s.markets)
	huma.Register(api, operation(huma.Operation{
		OperationID: "list-book", Method: http.MethodGet, Path: "/admin/bids", Tags: []string{"markets"},
		Summary: "The open bids in clearing order, a page at a time",
	}), s.bids)
	huma.Register(api, operation(huma.Operation{
		OperationID: "get-config", Method: http.MethodGet, Path: "/admin/config", Tags: []string{"config"},
		Summary: "The effective configuration, secrets redacted",
		Responses: map[string]*huma.Response{"200": {Description: "The configuration, as agora config --json prints it.",
			Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: huma.TypeObject}}}}},
	}), s.config)
}

func (s *service) markets(ctx context.Context, in *MarketsInput) (*MarketsOutput, error) {
	s.settle(ctx)
	st := s.deps.Markets.State()
	out := &MarketsOutput{Body: system.MarketState{Cycle: st.Cycle, Markets: []system.Market{}}}
	for _, m := range st.Markets {
		if in.Resource == "" || m.Resource == in.Resource {
			out.Body.Markets = append(out.Body.Markets, market(m))
		}
	}
	if in.Resource != "" && len(out.Body.Markets) == 0 {
		return nil, huma.Error404NotFound(fmt.Sprintf("no market %s", in.Resource))
	}
	return out, nil
}

// market is a market as the System Service shows it (the JSON of
// markets.MarketState).
func market(m markets.MarketState) system.Market {
	txs := make([]system.MarketTransaction, len(m.RecentTransactions))
	for i, t := range m.RecentTransactions {
		txs[i] = system.MarketTransaction{Seq: t.Seq, Time: t.Time, Kind: string(t.Kind), Cycle: t.Cycle, BidID: t.BidID,
			ExecutionID: t.ExecutionID, AgentID: t.AgentID, BeneficiaryID: t.BeneficiaryID, Units: system.Units(t.Units),
			Amount: system.Credits(t.AmountMicros), Price: system.Credits(t.PriceMicros), Reason: t.Reason}
		if t.Measured {
			used := system.Units(t.UsedUnits)
			txs[i].Used = &used
		}
	}
	return system.Market{Resource: m.Resource, Supply: system.Units(m.SupplyUnits), Leased: system.Units(m.LeasedUnits),
		Utilization: system.Units(m.UtilizationPPM), Price: system.Credits(m.PriceMicros), ActiveBids: m.ActiveBids,
		RecentTransactions: txs}
}

func (s *service) bids(ctx context.Context, in *BidsInput) (*BidsOutput, error) {
	s.settle(ctx)
	page, next, err := s.deps.Bids.Page(in.Resource, in.Limit, in.Cursor)
	if err != nil {
		// The limit and the resource are checked above; what is left is a
		// cursor the book did not give.
		return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("cursor: %v", err),
			&huma.ErrorDetail{Location: "query.cursor", Message: err.Error(), Value: in.Cursor})
	}
	out := &BidsOutput{}
	out.Body.Bids, out.Body.NextCursor, out.Body.Total = make([]BookBid, len(page)), next, s.deps.Bids.Count()
	if in.Resource != "" {
		out.Body.Total = s.deps.Bids.CountFor(in.Resource)
	}
	for i, b := range page {
		res := make(map[string]system.Units, len(b.Resources))
		for r, u := range b.Resources {
			res[r] = system.Units(u)
		}
		out.Body.Bids[i] = BookBid{BidID: b.ID, Pool: b.Pool, AgentID: b.AgentID, BeneficiaryID: b.BeneficiaryID,
			Resources: res, Amount: system.Credits(b.AmountMicros), PlacedAt: b.PlacedAt, Status: bidbook.StatusOpen}
	}
	return out, nil
}

func (s *service) config(_ context.Context, _ *struct{}) (*ConfigOutput, error) {
	b, err := s.deps.Config.Redacted().JSON()
	if err != nil {
		return nil, s.Problem(err)
	}
	return &ConfigOutput{ContentType: "application/json", Body: b}, nil
}
