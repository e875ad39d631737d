package clearing

import (
	"maps"
	"slices"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// ManagerName names the process manager of the markets; it is the Manager
// of the triggers it sends.
const ManagerName = "clearing"

// BidIDPrefix starts every bid id (and so its hold id), which tells the
// manager which holds are bids.
const BidIDPrefix = "b-"

// Manager carries the clearing's work between actors:
//   - a bid's hold placed -> the bid listed (or rejected) in the book;
//     a bid's hold raised -> the bid raised;
//   - a bid rejected or withdrawn -> its hold voided;
//   - an agent died -> its bids cancelled;
//   - a cycle cleared -> each winner's hold posted for exactly its amount,
//     each market told its expired and granted leases and its new price;
//   - a payment refused -> the allocation revoked (its leases released);
//   - an execution ended (in the runner's account) -> the execution
//     released in the book, once (a late end, after its lease timed out,
//     releases nothing);
//   - an execution released -> its leases released in each market.
func Manager(pool string) runtime.Manager {
	return runtime.Manager{Name: ManagerName, Filter: events.SubjectRoot + ".>", Types: managerTypes,
		React: func(r events.Record, e events.Event) []runtime.Reaction {
			return react(pool, r, e)
		}}
}

// managerTypes are the event types react acts on: the follower hands the
// manager the others unread (their sequence alone), which spares it the
// reading of most of the log. A type react learns must be named here.
var managerTypes = []string{
	events.HoldPlaced{}.EventType(), events.HoldIncreased{}.EventType(), events.AgentDied{}.EventType(),
	events.PaymentRefused{}.EventType(), events.ExecutionEnded{}.EventType(),
	events.BidRejected{}.EventType(), events.BidWithdrawn{}.EventType(), events.BidsCancelled{}.EventType(),
	events.CycleCleared{}.EventType(), events.ExecutionReleased{}.EventType(),
}

func react(pool string, r events.Record, e events.Event) []runtime.Reaction {
	kind, id, _, err := events.ParseSubject(r.Envelope.Subject)
	if err != nil {
		return nil
	}
	t := events.Trigger{Manager: ManagerName, Seq: r.Seq}
	book := func(cmd events.Triggered) []runtime.Reaction {
		return []runtime.Reaction{{Kind: events.KindClearing, ID: pool, Command: cmd}}
	}
	toAgent := func(agentID string, cmd events.Triggered) runtime.Reaction {
		return runtime.Reaction{Kind: events.KindAgent, ID: agentID, Command: cmd}
	}
	switch kind {
	case events.KindAgent:
		switch e := e.(type) {
		case events.HoldPlaced:
			if e.Purpose != events.PurposeBid || e.Bid == nil || e.Bid.Pool != pool {
				return nil
			}
			return book(ListBid{BidID: e.HoldID, AgentID: id, Terms: *e.Bid, AmountMicros: e.AmountMicros,
				PlacedAt: r.Envelope.Time, Trigger: t})
		case events.HoldIncreased:
			if !strings.HasPrefix(e.HoldID, BidIDPrefix) {
				return nil
			}
			return book(RaiseBid{BidID: e.HoldID, AmountMicros: e.AmountMicros, Trigger: t})
		case events.AgentDied:
			return book(CancelAgentBids{AgentID: id, Trigger: t})
		case events.PaymentRefused:
			if e.ExecutionID == "" {
				return nil
			}
			return book(ReleaseExecution{ExecutionID: e.ExecutionID, Reason: "unpaid: " + e.Reason, Trigger: t})
		case events.ExecutionEnded:
			if e.Pool != pool {
				return nil
			}
			return book(ReleaseExecution{ExecutionID: e.ExecutionID, Reason: e.Cause, Trigger: t})
		}
	case events.KindClearing:
		if id != pool {
			return nil
		}
		switch e := e.(type) {
		case events.BidRejected:
			return []runtime.Reaction{toAgent(e.AgentID, agent.VoidHold{HoldID: e.BidID, Reason: "bid rejected: " + e.Reason, Trigger: t})}
		case events.BidWithdrawn:
			return []runtime.Reaction{toAgent(e.AgentID, agent.VoidHold{HoldID: e.BidID, Reason: "bid withdrawn", Trigger: t})}
		case events.BidsCancelled:
			var out []runtime.Reaction
			for i, ref := range e.Sponsored {
				vt := t
				vt.Index = uint32(i + 1)
				out = append(out, toAgent(ref.AgentID, agent.VoidHold{HoldID: ref.BidID, Reason: "beneficiary died", Trigger: vt}))
			}
			return out
		case events.CycleCleared:
			return reactCycle(e, t)
		case events.ExecutionReleased:
			var out []runtime.Reaction
			for _, res := range slices.Sorted(maps.Keys(e.Resources)) {
				out = append(out, runtime.Reaction{Kind: events.KindMarket, ID: res,
					Command: market.ReleaseLease{ExecutionID: e.ExecutionID, Reason: e.Reason, Trigger: t}})
			}
			return out
		}
	}
	return nil
}

// reactCycle pays every winner and tells every market. Several winners may
// belong to one agent, so each payment carries its own trigger index.
func reactCycle(e events.CycleCleared, t events.Trigger) []runtime.Reaction {
	var out []runtime.Reaction
	granted := map[string][]events.Lease{}
	for i, a := range e.Allocations {
		pt := t
		pt.Index = uint32(i + 1)
		out = append(out, runtime.Reaction{Kind: events.KindAgent, ID: a.AgentID, Command: agent.PostHold{
			HoldID: a.BidID, AmountMicros: a.AmountMicros, ExecutionID: a.ExecutionID, Trigger: pt}})
		for r, u := range a.Resources {
			granted[r] = append(granted[r], events.Lease{ExecutionID: a.ExecutionID, Units: u})
		}
	}
	for _, r := range slices.Sorted(maps.Keys(e.Markets)) {
		o := e.Markets[r]
		if len(granted[r]) == 0 && len(e.Expired) == 0 && o.NewPriceMicros == o.PriceMicros {
			continue // nothing changed in this market
		}
		out = append(out, runtime.Reaction{Kind: events.KindMarket, ID: r, Command: market.ApplyCycle{
			Cycle: e.Cycle, Expired: e.Expired, Granted: granted[r], Outcome: e.Markets[r], Trigger: t}})
	}
	return out
}
