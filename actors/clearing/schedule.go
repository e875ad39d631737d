package clearing

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/events"
)

// Broke lists the agents that the end-of-cycle rule (SPEC.md 1.3 step 5)
// kills: alive, nothing available, no open hold (bid or prompt), and no
// running execution, as bidder or as beneficiary. The agent's own decider
// checks the first three again when it receives Die{IfBroke}; executions
// begin only in cycles, which the scheduler runs one at a time.
func Broke(accounts []agent.Account, b Book) []string {
	busy := map[string]bool{}
	for _, x := range b.Executions {
		busy[x.AgentID], busy[x.BeneficiaryID] = true, true
	}
	for _, bid := range b.Bids {
		busy[bid.Runner()] = true // a bid placed on its behalf is a future
	}
	var out []string
	for _, a := range accounts {
		if a.Status == agent.StatusAlive && a.Available() <= 0 && len(a.Holds) == 0 && !busy[a.ID] {
			out = append(out, a.ID)
		}
	}
	slices.Sort(out)
	return out
}

// Scheduler runs the allocation cycle every Interval, then applies the
// end-of-cycle rule. Cycles never overlap: the next starts after the
// previous one's payments and leases are applied.
type Scheduler struct {
	Service  *Service
	Accounts *agent.Accounts
	Interval time.Duration
	// Directory lists the accounts as the read model knows them; the
	// candidates it yields are checked again by each account.
	Directory func() []agent.Account
	Clock     func() time.Time
	Logger    *slog.Logger
	// OnCycle, when set, is told of every cycle (metrics, logs).
	OnCycle func(events.CycleCleared)
	// Then, when set, runs after every cycle at the cycle's time: the
	// attention slot's beat (expiry, the attention market's price), which
	// an idle cycle, writing nothing, must not skip.
	Then func(ctx context.Context, at time.Time) error
}

// Run clears until ctx is done.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.Clock == nil {
		s.Clock = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.Cycle(ctx); err != nil && ctx.Err() == nil {
			// A failed cycle is retried at the next tick with the same
			// number: Clear is idempotent per cycle.
			s.Logger.Error("clearing cycle failed", "err", err)
		}
	}
}

// Cycle runs one cycle now and applies the end-of-cycle rule.
func (s *Scheduler) Cycle(ctx context.Context) error {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	at := now()
	cc, _, err := s.Service.Clear(ctx, at)
	if err != nil {
		return err
	}
	if cc != nil && s.OnCycle != nil {
		s.OnCycle(*cc)
	}
	if s.Then != nil {
		// A failed beat is tried again at the next tick; the end-of-cycle
		// rule does not wait for it.
		if err := s.Then(ctx, at); err != nil && ctx.Err() == nil {
			logger := s.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Warn("after the clearing cycle", "err", err)
		}
	}
	if s.Directory == nil || s.Accounts == nil {
		return nil
	}
	book, err := Inspect(ctx, s.Service, func(b Book) Book {
		bids := make(map[string]Bid, len(b.Bids))
		for id, bid := range b.Bids {
			bids[id] = Bid{ID: id, AgentID: bid.AgentID, BeneficiaryID: bid.BeneficiaryID}
		}
		return Book{Executions: cloneExecutions(b.Executions), Bids: bids}
	})
	if err != nil {
		return err
	}
	for _, id := range Broke(s.Directory(), book) {
		_, err := s.Accounts.Do(ctx, id, "", agent.Die{Reason: "broke: no credits, no bid, no execution", IfBroke: true})
		if err != nil {
			s.Logger.Warn("end-of-cycle death", "agent", id, "err", err)
		}
	}
	return nil
}

func cloneExecutions(m map[string]Execution) map[string]Execution {
	out := make(map[string]Execution, len(m))
	for k, v := range m {
		out[k] = Execution{ID: v.ID, AgentID: v.AgentID, BeneficiaryID: v.BeneficiaryID}
	}
	return out
}
