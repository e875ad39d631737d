package economy

import (
	"maps"
	"slices"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/attention"
	"github.com/agora-econ/agora/actors/clearing"
	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/books"
)

// snapshotFormat is the version of what Snapshot writes; a change to it
// (or to what the fold keeps) takes a new number, so that an older
// snapshot is refused rather than misread.
//
// Format 2 added the tokens used (tokens_used), beside the messages: a
// format 1 snapshot would restore neither.
//
// Format 3 added the attention slot and its prompts' money (attention).
//
// Format 4 added the prompts activated and not yet leased
// (attention.unleased): a format 3 snapshot taken between an activation
// and its lease would refuse the lease.
const snapshotFormat = 4

// snapshot is the whole fold as JSON. Besides each actor's state (every
// account ever created, every market and book, bounded as the actors' own
// snapshots are), it holds the ids of every transfer sent, every hold
// resolved and every allocation settled since the first record: the fold
// keeps them to catch a second settlement, so the snapshot grows with them
// (tens of bytes each), and with the records skipped. What is pending
// (listings, allocations, cycles, executions) is as many as the managers
// owe, which is none once they caught up.
type snapshot struct {
	Accounts map[string]agent.Account `json:"accounts"`
	Markets  map[string]market.Market `json:"markets"`
	Books    map[string]clearing.Book `json:"books"`
	Minted   events.Micros            `json:"minted"`
	Burned   events.Micros            `json:"burned"`
	InFlight events.Micros            `json:"in_flight"`
	Events   uint64                   `json:"events"`
	LastSeq  uint64                   `json:"last_seq"`
	LastTime time.Time                `json:"last_time"`
	Transfer map[string]transferJSON  `json:"transfers,omitempty"`
	// Open is the count of transfers not settled, kept as the fold keeps
	// it: a log with a transfer sent twice under one id makes it differ
	// from what the transfers' states add up to.
	Open     int                       `json:"open_transfers"`
	Resolved []string                  `json:"holds_resolved,omitempty"`
	BidHolds map[string]string         `json:"bid_holds,omitempty"`
	Listings map[string]listingJSON    `json:"listings,omitempty"`
	Allocs   map[string]allocationJSON `json:"allocations,omitempty"`
	Settled  []string                  `json:"settled,omitempty"`
	Refused  map[string]string         `json:"refused,omitempty"`
	Cycles   map[string][]cycleJSON    `json:"cycles,omitempty"`
	Paid     map[string]paidJSON       `json:"paid,omitempty"`
	Ended    map[string]string         `json:"ended_leased,omitempty"`
	Skipped  []Skipped                 `json:"skipped,omitempty"`
	// Messages are every message sent, as transfers are kept; OpenMsgs
	// the count of those not settled.
	Messages map[string]transferJSON `json:"messages,omitempty"`
	OpenMsgs int                     `json:"open_messages,omitempty"`
	Tokens   int64                   `json:"tokens_used,omitempty"`
	// Attention is the slot and its prompts' money.
	Attention *attentionLedger `json:"attention,omitempty"`
}

type transferJSON struct {
	From   string        `json:"from"`
	To     string        `json:"to"`
	Amount events.Micros `json:"amount"`
	State  uint8         `json:"state"`
}

type listingJSON struct {
	Agent  string          `json:"agent"`
	Amount events.Micros   `json:"amount"`
	Terms  events.BidTerms `json:"terms"`
}

type allocationJSON struct {
	Pool      string                  `json:"pool"`
	Agent     string                  `json:"agent"`
	Execution string                  `json:"execution"`
	Amount    events.Micros           `json:"amount"`
	Runner    string                  `json:"runner"`
	Resources map[string]events.Units `json:"resources"`
}

type cycleJSON struct {
	Seq     uint64                  `json:"seq"`
	Cycle   uint64                  `json:"cycle"`
	Grants  map[string]events.Units `json:"grants,omitempty"`
	Expired []string                `json:"expired,omitempty"`
}

type paidJSON struct {
	Pool      string                  `json:"pool"`
	Bid       string                  `json:"bid"`
	Payer     string                  `json:"payer"`
	Runner    string                  `json:"runner"`
	Resources map[string]events.Units `json:"resources"`
}

// Snapshot is the fold as of the last record applied, as JSON that Restore
// reads back. It must not run concurrently with Apply.
func (e *Economy) Snapshot() ([]byte, error) {
	s := snapshot{Accounts: e.Accounts, Markets: e.Markets, Books: e.Books,
		Minted: e.MintedMicros, Burned: e.BurnedMicros, InFlight: e.InFlightMicros,
		Events: e.Events, LastSeq: e.LastSeq, LastTime: e.LastTime,
		Transfer: e.transfers.toJSON(), Open: e.transfers.open, Resolved: slices.Sorted(maps.Keys(e.holdsResolved)),
		BidHolds: e.bids.holds, Listings: map[string]listingJSON{}, Allocs: map[string]allocationJSON{},
		Settled: slices.Sorted(maps.Keys(e.bids.settled)), Refused: e.bids.refused, Cycles: map[string][]cycleJSON{},
		Paid: map[string]paidJSON{}, Ended: e.execs.endedLeased, Skipped: e.Skipped, Tokens: e.TokensUsed}
	s.Messages, s.OpenMsgs = e.messages.toJSON(), e.messages.open
	s.Attention = e.attention
	for id, l := range e.bids.listings {
		s.Listings[id] = listingJSON{Agent: l.agent, Amount: l.amount, Terms: l.terms}
	}
	for id, a := range e.bids.allocations {
		s.Allocs[id] = allocationJSON{Pool: a.pool, Agent: a.agent, Execution: a.execution, Amount: a.amount,
			Runner: a.runner, Resources: a.resources}
	}
	for r, q := range e.bids.cycles {
		for _, c := range q {
			s.Cycles[r] = append(s.Cycles[r], cycleJSON{Seq: c.seq, Cycle: c.cycle, Grants: c.grants,
				Expired: slices.Sorted(maps.Keys(c.expired))})
		}
	}
	for id, p := range e.execs.paid {
		s.Paid[id] = paidJSON{Pool: p.pool, Bid: p.bid, Payer: p.payer, Runner: p.runner, Resources: p.resources}
	}
	return projections.MarshalSnapshot(snapshotFormat, s)
}

func (s *settlements) toJSON() map[string]transferJSON {
	out := make(map[string]transferJSON, len(s.byID))
	for id, t := range s.byID {
		out[id] = transferJSON{From: t.from, To: t.to, Amount: t.amount, State: uint8(t.state)}
	}
	return out
}

func (s *settlements) restore(saved map[string]transferJSON, open int) {
	for id, t := range saved {
		s.byID[id] = &transfer{from: t.From, to: t.To, amount: t.Amount, state: transferState(t.State)}
	}
	s.open = open
}

// Restore replaces the fold with the one a Snapshot holds. A snapshot of
// another format is refused with projections.ErrSnapshotFormat and e is
// unchanged.
func (e *Economy) Restore(data []byte) error {
	var s snapshot
	if err := projections.UnmarshalSnapshot(data, snapshotFormat, &s); err != nil {
		return err
	}
	n := New()
	// Sized once for every account, rather than grown to it: a map grown
	// one key at a time may be up to half empty.
	n.Accounts = make(map[string]agent.Account, len(s.Accounts))
	n.MintedMicros, n.BurnedMicros, n.InFlightMicros = s.Minted, s.Burned, s.InFlight
	n.Events, n.LastSeq, n.LastTime = s.Events, s.LastSeq, s.LastTime
	n.TokensUsed = s.Tokens
	for id, a := range s.Accounts {
		// The account's id and status share the key's string and the
		// status's constant rather than keep copies decoded of their own:
		// every agent ever created has an account here.
		a.ID, a.Status = id, a.Status.Canonical()
		n.Accounts[id] = a
		n.balancesMicros += a.BalanceMicros
	}
	maps.Copy(n.Markets, s.Markets)
	// A book read back lacks its empty maps, which Evolve fills on the
	// first event; the checks read them before. books.Set fills them.
	var bs books.Books
	bs.Set(s.Books)
	maps.Copy(n.Books, bs.All())
	n.transfers.restore(s.Transfer, s.Open)
	n.messages.restore(s.Messages, s.OpenMsgs)
	for _, h := range s.Resolved {
		n.holdsResolved[h] = struct{}{}
	}
	maps.Copy(n.bids.holds, s.BidHolds)
	for id, l := range s.Listings {
		n.bids.listings[id] = listing{agent: l.Agent, amount: l.Amount, terms: l.Terms}
	}
	for id, a := range s.Allocs {
		n.bids.allocations[id] = allocation{pool: a.Pool, agent: a.Agent, execution: a.Execution, amount: a.Amount,
			runner: a.Runner, resources: a.Resources}
	}
	for _, id := range s.Settled {
		n.bids.settled[id] = struct{}{}
	}
	maps.Copy(n.bids.refused, s.Refused)
	for r, q := range s.Cycles {
		for _, c := range q {
			expired := make(map[string]struct{}, len(c.Expired))
			for _, x := range c.Expired {
				expired[x] = struct{}{}
			}
			grants := c.Grants
			if grants == nil {
				grants = map[string]events.Units{}
			}
			n.bids.cycles[r] = append(n.bids.cycles[r], &pendingCycle{seq: c.Seq, cycle: c.Cycle, grants: grants, expired: expired})
		}
	}
	for id, p := range s.Paid {
		n.execs.paid[id] = paidExecution{pool: p.Pool, bid: p.Bid, payer: p.Payer, runner: p.Runner, resources: p.Resources}
	}
	maps.Copy(n.execs.endedLeased, s.Ended)
	for _, k := range s.Skipped {
		n.skippedAt[k.Seq] = len(n.Skipped)
		n.Skipped = append(n.Skipped, k)
	}
	if s.Attention != nil {
		s.Attention.init()
		if s.Attention.Slot.Waiting == nil {
			s.Attention.Slot.Waiting = map[string]attention.Prompt{}
		}
		n.attention = s.Attention
	}
	*e = *n
	return nil
}
