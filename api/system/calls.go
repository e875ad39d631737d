package system

import (
	"context"
	"fmt"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// The operations of the service, in the terms of the messages of
// messages.go. Both doors reach them through answer: the HTTP handlers
// call it directly (serve), the actor in a goroutine per call (actor.go).
// A call that comes over HTTP has already passed huma's validation of its
// JSON; a call sent as a message has not, so validate checks every call.

// answer is the one function that answers a call, whichever door it came
// in by: it authenticates the call, checks it, admits it within
// CallsInFlightMax (admission.go) and runs it within CallTimeoutDefault.
// A call refused before admission (a bad token, a bad field) takes no
// room, so it is told what is wrong with it even when the service is busy.
func (s *service) answer(ctx context.Context, call Call) Reply {
	token := call.bearer()
	if token == "" {
		return Reply{Err: fmt.Errorf("%w: %w", ticket.ErrUnknownToken, errNoBearer)}
	}
	t, err := s.deps.Tickets.Lookup(token, s.opts.Now())
	if err != nil {
		return Reply{Err: err}
	}
	if err := validate(call); err != nil {
		return Reply{Err: err}
	}
	if err := s.admission.enter(ctx); err != nil {
		return Reply{Err: err}
	}
	defer s.admission.leave()
	ctx, cancel := context.WithTimeout(ctx, CallTimeoutDefault)
	defer cancel()
	v, err := s.run(ctx, caller{token: token, ticket: t}, call)
	if err != nil {
		return Reply{Err: err}
	}
	return Reply{Value: v}
}

func (s *service) run(ctx context.Context, c caller, call Call) (any, error) {
	if v, err, ok := s.runAttention(ctx, c, call); ok {
		return v, err
	}
	switch m := call.(type) {
	case GetBalance:
		return s.getBalance(ctx, c)
	case Transfer:
		return s.sendTransfer(ctx, c, m)
	case GetHistory:
		return s.getHistory(c, m)
	case GetMarketState:
		return s.markets(), nil
	case ListBids:
		return s.listBids(m)
	case PlaceBid:
		return s.placeBid(ctx, c, m)
	case RaiseBid:
		return s.raiseBid(ctx, c, m)
	case WithdrawBid:
		return s.withdrawBid(ctx, c, m)
	case ListAgents:
		return s.listAgents(m), nil
	case GetExecution:
		return execution(c.ticket), nil
	case GetConfig:
		return s.opts.Config, nil
	case GetTime:
		now := s.opts.Now()
		return Time{Time: now.UTC(), UnixMillis: now.UnixMilli(), Cycle: s.deps.Markets.State().Cycle}, nil
	case Infer:
		return s.infer(ctx, c, m.Request)
	case SendMessage:
		return s.sendMessage(ctx, c, m)
	case ReadInbox:
		return s.readInbox(ctx, c, m)
	case Spawn:
		return s.spawn(ctx, c, m)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCall, call)
}

func (s *service) getBalance(ctx context.Context, c caller) (Balance, error) {
	a, err := s.deps.Ledger.Get(ctx, c.ticket.AgentID)
	if err != nil {
		return Balance{}, err
	}
	if !a.Exists() {
		return Balance{}, agent.ErrUnknownAgent
	}
	return Balance{AgentID: c.ticket.AgentID, Status: string(a.Status), Balance: Credits(a.BalanceMicros),
		Held: Credits(a.HeldMicros), Available: Credits(a.Available())}, nil
}

func (s *service) sendTransfer(ctx context.Context, c caller, m Transfer) (TransferReceipt, error) {
	sent, err := sendOnce[events.TransferSent](ctx, s, c.ticket.AgentID, m.Key, "transfer", errNotATransfer,
		func(from, key string) (runtime.Result, error) {
			if err := s.knownAgent(ctx, m.ToAgentID); err != nil {
				return runtime.Result{}, err
			}
			return s.deps.Ledger.Transfer(ctx, from, key, agent.Transfer{TransferID: "t-" + events.NewID(),
				To: m.ToAgentID, AmountMicros: m.AmountMicros, Memo: m.Memo})
		})
	if err != nil {
		return TransferReceipt{}, err
	}
	return TransferReceipt{TransferID: sent.TransferID, Status: "sent", ToAgentID: sent.ToAgentID, Amount: Credits(sent.AmountMicros)}, nil
}

// sendOnce makes a command of the caller's account (from) under its
// idempotency key (raw, of the given kind), once, and answers the event E
// it recorded. The key is looked up first, so that a retry gets the first
// answer even if the recipient has died since (first checks the recipient
// before the debit); first runs only for a new key, and then the caller
// waits, boundedly, for the read models to show the event. notE is the bug
// of a key whose event is not an E.
func sendOnce[E events.Event](ctx context.Context, s *service, from, raw, kind string, notE error,
	first func(from, key string) (runtime.Result, error),
) (E, error) {
	var zero E
	key, err := commandKey(raw, kind, from)
	if err != nil {
		return zero, err
	}
	res, found, err := s.deps.Ledger.Recall(ctx, from, key)
	if err == nil && !found {
		res, err = first(from, key)
	}
	if err != nil {
		return zero, err
	}
	sent, ok := res.Event.(E)
	if !ok {
		return zero, notE
	}
	if !found {
		s.settle(ctx)
	}
	return sent, nil
}

func (s *service) getHistory(c caller, m GetHistory) (History, error) {
	txs := s.deps.History.ForAgent(c.ticket.AgentID, orDefault(m.Limit, HistoryLimitDefault))
	h := History{AgentID: c.ticket.AgentID, Transactions: make([]HistoryTransaction, len(txs))}
	for i, t := range txs {
		h.Transactions[i] = historyTransaction(t)
	}
	return h, nil
}

func (s *service) markets() MarketState {
	st := s.deps.Markets.State()
	out := MarketState{Cycle: st.Cycle, Markets: make([]Market, len(st.Markets))}
	for i, m := range st.Markets {
		out.Markets[i] = market(m)
	}
	return out
}

// execution is the caller's execution as its ticket says.
func execution(t ticket.Ticket) Execution {
	x := Execution{AgentID: t.AgentID, ExecutionID: t.ExecutionID, Deadline: t.Deadline,
		Allocated: make(map[string]Units, len(t.Allocation))}
	for r, u := range t.Allocation {
		x.Allocated[r] = Units(u)
	}
	x.Used = map[string]Units{tokensResource: wholeUnits(t.TokensUsed)}
	x.Remaining = map[string]Units{tokensResource: wholeUnits(t.TokensRemaining())}
	return x
}

func (s *service) listBids(m ListBids) (BidPage, error) {
	page, next, err := s.deps.Bids.Page(m.Resource, orDefault(m.Limit, BidsLimitDefault), m.Cursor)
	if err != nil {
		return BidPage{}, fmt.Errorf("cursor: %w", err)
	}
	total := s.deps.Bids.Count()
	if m.Resource != "" {
		total = s.deps.Bids.CountFor(m.Resource)
	}
	out := BidPage{Bids: make([]Bid, len(page)), NextCursor: next, Total: total}
	for i, b := range page {
		out.Bids[i] = publicBid(b)
	}
	return out, nil
}

func (s *service) placeBid(ctx context.Context, c caller, m PlaceBid) (BidStatus, error) {
	key, err := commandKey(m.Key, "bid", c.ticket.AgentID)
	if err != nil {
		return BidStatus{}, err
	}
	if err := s.knownAgent(ctx, m.Terms.BeneficiaryID); err != nil {
		return BidStatus{}, err
	}
	id, status, err := s.deps.Book.Place(ctx, c.ticket.AgentID, key, m.Terms, m.AmountMicros)
	if err != nil {
		return BidStatus{}, err
	}
	s.settle(ctx)
	return BidStatus{BidID: id, Status: status}, nil
}

func (s *service) raiseBid(ctx context.Context, c caller, m RaiseBid) (BidStatus, error) {
	key, err := commandKey(m.Key, "raise", c.ticket.AgentID, m.BidID)
	if err != nil {
		return BidStatus{}, err
	}
	status, err := s.deps.Book.Raise(ctx, c.ticket.AgentID, key, m.BidID, m.AmountMicros)
	if err != nil {
		return BidStatus{}, err
	}
	s.settle(ctx)
	return BidStatus{BidID: m.BidID, Status: status}, nil
}

func (s *service) withdrawBid(ctx context.Context, c caller, m WithdrawBid) (BidStatus, error) {
	key, err := commandKey(m.Key, "withdraw", c.ticket.AgentID, m.BidID)
	if err != nil {
		return BidStatus{}, err
	}
	if err := s.deps.Book.Withdraw(ctx, c.ticket.AgentID, key, m.BidID); err != nil {
		return BidStatus{}, err
	}
	s.settle(ctx)
	return BidStatus{BidID: m.BidID, Status: statusWithdrawn}, nil
}

// statusWithdrawn is the status of a bid taken out of the book by its
// agent.
const statusWithdrawn = "withdrawn"

func (s *service) listAgents(m ListAgents) AgentPage {
	limit := orDefault(m.Limit, AgentsLimitDefault)
	// One more than a page tells whether another page follows.
	ids := s.deps.Directory.LivingAgents(m.After, limit+1)
	var page AgentPage
	if len(ids) > limit {
		ids = ids[:limit]
		page.NextAfter = ids[len(ids)-1]
	}
	page.Agents = append([]string{}, ids...)
	return page
}

func orDefault(limit, def int) int {
	if limit == 0 {
		return def
	}
	return limit
}
