package clearing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Status of a bid as the System Service reports it.
const (
	StatusOpen     = "open"
	StatusWon      = "won"
	StatusRejected = "rejected"
)

// Service is the front door to one pool's book for the rest of the system:
// placing, raising and withdrawing bids, running cycles, releasing
// executions.
type Service struct {
	host     *runtime.Host
	accounts *agent.Accounts
	manager  *runtime.ManagerRunner
	pool     string
}

// NewService registers the book and market actors on host. manager is the
// runner of Manager(pool); the service waits on it so that a call returns
// once its effects in other actors are applied.
func NewService(host *runtime.Host, accounts *agent.Accounts, manager *runtime.ManagerRunner, pool string) (*Service, error) {
	if host == nil || accounts == nil || manager == nil {
		return nil, errors.New("clearing: nil host, accounts or manager")
	}
	if err := events.ValidateID(pool); err != nil {
		return nil, err
	}
	runtime.Register(host, Aggregate(pool))
	runtime.Register(host, market.Aggregate())
	return &Service{host: host, accounts: accounts, manager: manager, pool: pool}, nil
}

// Aggregate is the book as an event-sourced actor kind.
func Aggregate(pool string) runtime.Aggregate[Book, Command] {
	return runtime.Aggregate[Book, Command]{Kind: events.KindClearing, New: New, Decide: Decide, Evolve: Evolve, Admit: Admit,
		SnapshotBytesMin: snapshotBytesMin}
}

// bidBytesMin is less than any open bid takes in the book's snapshot (its
// id twice, its agent, bundle, amount and time placed).
const bidBytesMin = 100

// snapshotBytesMin bounds the book's snapshot from below by its open bids,
// so that a book of many thousand bids is not encoded at every interval
// only to be found too large for a snapshot.
func snapshotBytesMin(b Book) int { return len(b.Bids) * bidBytesMin }

// Pool is the pool this service clears.
func (s *Service) Pool() string { return s.pool }

// Inspect returns what f extracts from the book, read inside the actor.
func Inspect[T any](ctx context.Context, s *Service, f func(Book) T) (T, error) {
	return runtime.Inspect(ctx, s.host, events.KindClearing, s.pool, f)
}

// Market returns a copy of the market actor's state.
func (s *Service) Market(ctx context.Context, resource string) (market.Market, error) {
	return runtime.Inspect(ctx, s.host, events.KindMarket, resource, func(m market.Market) market.Market {
		c := m
		c.Leases = nil
		return c
	})
}

// Configure sets the markets (their supply, initial price and bounds) and
// the rules of the book. It is idempotent: unchanged terms write nothing.
// markets also lists markets the clearing does not allocate (attention),
// which are configured as markets only.
func (s *Service) Configure(ctx context.Context, markets map[string]events.MarketTerms, cleared []string,
	rules events.PriceRules, leaseTimeout time.Duration, allocationsMax int) error {
	for name, terms := range markets {
		if _, err := s.host.Ask(ctx, events.KindMarket, name, runtime.Request{Command: market.Configure{Terms: terms}}); err != nil {
			return fmt.Errorf("configure market %s: %w", name, err)
		}
	}
	book := map[string]events.MarketTerms{}
	for _, name := range cleared {
		m, err := s.Market(ctx, name)
		if err != nil {
			return err
		}
		terms := markets[name]
		terms.PriceMicros = m.PriceMicros // the market's posted price is its own
		book[name] = terms
	}
	_, err := s.host.Ask(ctx, events.KindClearing, s.pool, runtime.Request{Command: Configure{
		Markets: book, Rules: rules, LeaseTimeoutSeconds: int64(math.Ceil(leaseTimeout.Seconds())), AllocationsMax: allocationsMax}})
	return err
}

// Place places a bid for agentID: the bundle and amount are checked
// against the book first (a bad bid changes nothing), then the agent's
// hold is placed, carrying the bid's terms, and the bid is listed from it.
// It returns once the book has decided: status open, or rejected.
func (s *Service) Place(ctx context.Context, agentID, key string, terms events.BidTerms, amount events.Micros) (string, string, error) {
	terms.Pool = s.pool
	invalid, err := s.admissible(ctx, terms, amount)
	if err != nil {
		return "", "", err
	}
	if invalid != nil {
		// A retry is answered with the first bid, even if the book has
		// moved on (a price rose) or the beneficiary died since. (A retry
		// of a bid still admissible is answered by the account itself,
		// which remembers the key.)
		if res, ok, err := s.accounts.Recall(ctx, agentID, key); err != nil {
			return "", "", err
		} else if placed, isHold := res.Event.(events.HoldPlaced); ok && isHold {
			status, err := s.settled(ctx, res.Seq, placed.HoldID)
			return placed.HoldID, status, err
		}
		return "", "", invalid
	}
	bidID := BidIDPrefix + events.NewID()
	res, err := s.accounts.Do(ctx, agentID, key, agent.PlaceHold{HoldID: bidID, AmountMicros: amount, Purpose: events.PurposeBid, Bid: &terms})
	if err != nil {
		return "", "", err
	}
	if placed, ok := res.Event.(events.HoldPlaced); ok {
		bidID = placed.HoldID // a retry answers with the first bid
	}
	status, err := s.settled(ctx, res.Seq, bidID)
	return bidID, status, err
}

// admissible checks a bid against the book (Validate) and its beneficiary:
// invalid says why it is refused; err that the check could not be made.
func (s *Service) admissible(ctx context.Context, terms events.BidTerms, amount events.Micros) (invalid, err error) {
	invalid, err = runtime.InspectUnaffected(ctx, s.host, events.KindClearing, s.pool, bidEventTypes,
		func(b Book) error { return Validate(b, terms, amount) })
	if err != nil || invalid != nil || terms.BeneficiaryID == "" {
		return invalid, err
	}
	ben, err := s.accounts.Get(ctx, terms.BeneficiaryID)
	if err != nil {
		return nil, err
	}
	if ben.Status != agent.StatusAlive {
		return fmt.Errorf("beneficiary %s: %w", terms.BeneficiaryID, agent.ErrUnknownAgent), nil
	}
	return nil, nil
}

// bidEventTypes are the book's events that change its bids and nothing
// else: what Validate reads (the markets, their supply and posted prices)
// they leave as it was.
var bidEventTypes = []string{
	events.BidListed{}.EventType(), events.BidRejected{}.EventType(), events.BidRaised{}.EventType(),
	events.BidWithdrawn{}.EventType(), events.BidsCancelled{}.EventType(),
}

// listingEventTypes are the book's events that never change whether a bid
// already listed (or rejected) is open, won or gone: listings, rejections
// and raises concern a bid whose listing is not yet decided, or its amount.
var listingEventTypes = []string{
	events.BidListed{}.EventType(), events.BidRejected{}.EventType(), events.BidRaised{}.EventType(),
}

// settled waits until the manager has reacted to seq, then reports the
// bid's status.
func (s *Service) settled(ctx context.Context, seq uint64, bidID string) (string, error) {
	var unaffected []string
	if seq > 0 {
		if err := s.manager.WaitFloor(ctx, seq); err != nil {
			return "", err
		}
		// The book's decision on this bid is durable now. Listings of
		// other bids do not move it, so the status need not wait for the
		// book's next batch of them.
		unaffected = listingEventTypes
	}
	return runtime.InspectUnaffected(ctx, s.host, events.KindClearing, s.pool, unaffected, func(b Book) string {
		if _, ok := b.Bids[bidID]; ok {
			return StatusOpen
		}
		if _, ok := b.Executions[ExecutionID(bidID)]; ok {
			return StatusWon
		}
		return StatusRejected
	})
}

// Raise raises agentID's open bid to amount (the hold grows first).
func (s *Service) Raise(ctx context.Context, agentID, key, bidID string, amount events.Micros) (string, error) {
	if res, ok, err := s.accounts.Recall(ctx, agentID, key); err != nil {
		return "", err
	} else if raised, isRaise := res.Event.(events.HoldIncreased); ok && isRaise {
		return s.settled(ctx, res.Seq, raised.HoldID)
	}
	invalid, err := Inspect(ctx, s, func(b Book) error {
		bid, ok := b.Bids[bidID]
		switch {
		case !ok:
			return fmt.Errorf("%w: %s", ErrBidNotOpen, bidID)
		case bid.AgentID != agentID:
			return fmt.Errorf("%w: %s", ErrNotYourBid, bidID)
		case amount <= bid.AmountMicros:
			return fmt.Errorf("%w: %s", agent.ErrAmountNotRaised, bid.AmountMicros)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if invalid != nil {
		return "", invalid
	}
	res, err := s.accounts.Do(ctx, agentID, key, agent.IncreaseHold{HoldID: bidID, AmountMicros: amount})
	if err != nil {
		return "", err
	}
	return s.settled(ctx, res.Seq, bidID)
}

// Withdraw takes agentID's open bid out of the book; its hold is voided.
func (s *Service) Withdraw(ctx context.Context, agentID, key, bidID string) error {
	res, err := s.host.Ask(ctx, events.KindClearing, s.pool, runtime.Request{Key: key,
		Command: WithdrawBid{BidID: bidID, AgentID: agentID, Reason: "withdrawn"}})
	if err != nil {
		return err
	}
	if res.Seq > 0 {
		return s.manager.WaitFloor(ctx, res.Seq)
	}
	return nil
}

// Release ends an execution's leases (the execution ended), exactly once.
func (s *Service) Release(ctx context.Context, executionID, reason string) error {
	res, err := s.host.Ask(ctx, events.KindClearing, s.pool, runtime.Request{Command: ReleaseExecution{ExecutionID: executionID, Reason: reason}})
	if err != nil {
		return err
	}
	if res.Seq > 0 {
		return s.manager.WaitFloor(ctx, res.Seq)
	}
	return nil
}

// Renew makes a running execution's lease count again from at (see
// RenewLease); ErrExecutionNotRunning if its lease is gone.
func (s *Service) Renew(ctx context.Context, executionID string, at time.Time) error {
	_, err := s.host.Ask(ctx, events.KindClearing, s.pool, runtime.Request{Command: RenewLease{ExecutionID: executionID, At: at}})
	return err
}

// Clear runs the next cycle at time at and waits until its payments and
// leases are applied. It returns the cycle's event (nil when nothing
// happened: no winner, no expiry, no price move — an idle cycle writes
// nothing — or another caller ran this cycle first).
func (s *Service) Clear(ctx context.Context, at time.Time) (*events.CycleCleared, uint64, error) {
	cycle, err := Inspect(ctx, s, func(b Book) uint64 { return b.Cycle })
	if err != nil {
		return nil, 0, err
	}
	res, err := s.host.Ask(ctx, events.KindClearing, s.pool, runtime.Request{Command: Clear{Cycle: cycle + 1, At: at}})
	if err != nil {
		return nil, 0, err
	}
	cc, ok := res.Event.(events.CycleCleared)
	if !ok {
		return nil, 0, nil
	}
	if err := s.manager.WaitFloor(ctx, res.Seq); err != nil {
		return nil, 0, err
	}
	return &cc, res.Seq, nil
}
