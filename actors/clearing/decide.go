package clearing

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/agora-econ/agora/actors/market"
	"github.com/agora-econ/agora/events"
)

// Decide answers a command with one event, nothing (already applied), or a
// typed rejection. A redelivered command of a process manager never
// reaches it: the shell answers that from its marks.
func Decide(b Book, cmd Command) (events.Event, error) {
	switch c := cmd.(type) {
	case Configure:
		return decideConfigure(b, c)
	case ListBid:
		return decideList(b, c)
	case RaiseBid:
		bid, ok := b.Bids[c.BidID]
		if !ok || c.AmountMicros <= bid.AmountMicros {
			// The bid won or left meanwhile; the raised hold's excess is
			// released when it is posted or voided.
			return nil, nil
		}
		return events.BidRaised{BidID: c.BidID, AmountMicros: c.AmountMicros, Trigger: c.Trigger}, nil
	case WithdrawBid:
		bid, ok := b.Bids[c.BidID]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrBidNotOpen, c.BidID)
		}
		if bid.AgentID != c.AgentID {
			return nil, fmt.Errorf("%w: %s", ErrNotYourBid, c.BidID)
		}
		return events.BidWithdrawn{BidID: c.BidID, AgentID: c.AgentID, AmountMicros: bid.AmountMicros, Reason: c.Reason}, nil
	case CancelAgentBids:
		// The dead agent's own bids go (its death voided their holds), and
		// so do bids others placed for it to run: a dead agent never runs.
		var ids []string
		var sponsored []events.BidRef
		for id, bid := range b.Bids {
			switch {
			case bid.AgentID == c.AgentID:
				ids = append(ids, id)
			case bid.BeneficiaryID == c.AgentID:
				sponsored = append(sponsored, events.BidRef{BidID: id, AgentID: bid.AgentID})
			}
		}
		if len(ids) == 0 && len(sponsored) == 0 {
			return nil, nil
		}
		slices.Sort(ids)
		slices.SortFunc(sponsored, func(x, y events.BidRef) int { return strings.Compare(x.BidID, y.BidID) })
		return events.BidsCancelled{AgentID: c.AgentID, BidIDs: ids, Sponsored: sponsored, Trigger: c.Trigger}, nil
	case Clear:
		return decideClear(b, c)
	case RenewLease:
		x, ok := b.Executions[c.ExecutionID]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrExecutionNotRunning, c.ExecutionID)
		}
		if !c.At.After(x.At) {
			return nil, nil // renewed already
		}
		return events.LeaseRenewed{ExecutionID: c.ExecutionID, At: c.At.UTC()}, nil
	case ReleaseExecution:
		x, ok := b.Executions[c.ExecutionID]
		if !ok {
			if c.Trigger.Seq != 0 {
				return nil, nil // released already (timed out, say)
			}
			return nil, fmt.Errorf("%w: %s", ErrExecutionNotRunning, c.ExecutionID)
		}
		return events.ExecutionReleased{ExecutionID: x.ID, BidID: x.BidID, Resources: x.Resources, Reason: c.Reason, Trigger: c.Trigger}, nil
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
}

func decideConfigure(b Book, c Configure) (events.Event, error) {
	if len(c.Markets) == 0 {
		return nil, fmt.Errorf("%w: no markets", ErrNotConfigured)
	}
	for name, m := range c.Markets {
		if err := events.ValidateID(name); err != nil {
			return nil, err
		}
		if m.SupplyUnits <= 0 || m.MinPriceMicros <= 0 || m.MinPriceMicros > m.PriceMicros || m.PriceMicros > m.MaxPriceMicros ||
			m.MaxPriceMicros > events.AmountMax {
			return nil, fmt.Errorf("market %s: supply must be positive and 0 < min <= price <= max <= %d credits", name, events.AmountMaxCredits)
		}
	}
	for name, m := range c.Markets {
		if old, ok := b.Markets[name]; ok && m.SupplyUnits < old.LeasedUnits {
			return nil, fmt.Errorf("%w: %s supply %s is below the %s units leased now; lower it once those executions end",
				ErrSupplyBelowLeases, name, m.SupplyUnits, old.LeasedUnits)
		}
	}
	allocs := c.AllocationsMax
	if allocs <= 0 {
		allocs = AllocationsMaxDefault
	}
	same := c.Rules == b.Rules && c.LeaseTimeoutSeconds == b.LeaseTimeoutSeconds && allocs == b.AllocationsMax
	for name, old := range b.Markets {
		if _, kept := c.Markets[name]; !kept && !old.Retired {
			same = false
		}
	}
	for name, m := range c.Markets {
		old, ok := b.open(name)
		// The posted price of a running market is its own; only supply and
		// bounds come from configuration.
		if !ok || old.SupplyUnits != m.SupplyUnits || old.MinPriceMicros != m.MinPriceMicros || old.MaxPriceMicros != m.MaxPriceMicros {
			same = false
		}
	}
	if same {
		return nil, nil
	}
	return events.BookConfigured{Markets: maps.Clone(c.Markets), Rules: c.Rules,
		LeaseTimeoutSeconds: c.LeaseTimeoutSeconds, AllocationsMax: allocs}, nil
}

// Validate checks a bid against the book as it stands: the bundle, the
// reserve price at the posted prices, the payload. The System Service asks
// it before placing the hold, so that a bad bid changes nothing.
func Validate(b Book, terms events.BidTerms, amount events.Micros) error {
	if !b.Configured() {
		return ErrNotConfigured
	}
	if err := events.ValidatePositive(amount); err != nil {
		return err
	}
	if terms.BeneficiaryID != "" {
		if err := events.ValidateID(terms.BeneficiaryID); err != nil {
			return fmt.Errorf("beneficiary: %w", err)
		}
	}
	if len(terms.Payload) > PayloadBytesMax {
		return fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrInvalidBundle, len(terms.Payload), PayloadBytesMax)
	}
	if _, ok := terms.Resources[ResourceCPU]; !ok {
		return fmt.Errorf("%w: every bundle names %s", ErrInvalidBundle, ResourceCPU)
	}
	if _, ok := terms.Resources[ResourceMemory]; !ok {
		return fmt.Errorf("%w: every bundle names %s", ErrInvalidBundle, ResourceMemory)
	}
	var reserve events.Micros
	for _, name := range slices.Sorted(maps.Keys(terms.Resources)) {
		units := terms.Resources[name]
		if name == ResourceAttention {
			return fmt.Errorf("%w: attention is bid for with a prompt, not in a bundle", ErrInvalidBundle)
		}
		m, ok := b.open(name)
		if !ok {
			return fmt.Errorf("%w: %q (known: %s)", ErrUnknownResource, name, strings.Join(b.openNames(), ", "))
		}
		if units <= 0 {
			return fmt.Errorf("%w: %s must be positive, got %s", ErrInvalidBundle, name, units)
		}
		if units > m.SupplyUnits {
			return fmt.Errorf("%w: %s %s > supply %s", ErrExceedsSupply, name, units, m.SupplyUnits)
		}
		cost, ok := events.Cost(units, m.PriceMicros)
		if !ok || reserve+cost > events.AmountMax {
			return fmt.Errorf("%w: the reserve price exceeds the maximum amount", ErrBelowReserve)
		}
		reserve += cost
	}
	if amount < reserve {
		return fmt.Errorf("%w: %s < reserve %s at posted prices", ErrBelowReserve, amount, reserve)
	}
	return nil
}

// decideList lists the bid, or records its rejection (its hold is then
// voided): the hold exists already, so a refusal must be a fact.
func decideList(b Book, c ListBid) (events.Event, error) {
	if _, ok := b.Bids[c.BidID]; ok {
		return nil, nil
	}
	if _, ok := b.Executions["x-"+c.BidID]; ok {
		return nil, nil
	}
	reject := func(err error) (events.Event, error) {
		return events.BidRejected{BidID: c.BidID, AgentID: c.AgentID, AmountMicros: c.AmountMicros, Reason: err.Error(), Trigger: c.Trigger}, nil
	}
	if c.Terms.Pool != b.Pool {
		return reject(fmt.Errorf("bid for pool %q listed in pool %q", c.Terms.Pool, b.Pool))
	}
	if len(b.Bids) >= BidsMax {
		return reject(ErrBookFull)
	}
	if err := Validate(b, c.Terms, c.AmountMicros); err != nil {
		return reject(err)
	}
	return events.BidListed{BidID: c.BidID, AgentID: c.AgentID, BeneficiaryID: c.Terms.BeneficiaryID,
		Resources: c.Terms.Resources, AmountMicros: c.AmountMicros, Payload: c.Terms.Payload,
		PlacedAt: c.PlacedAt.UTC(), Trigger: c.Trigger}, nil
}

// ExecutionID is the id of the execution a bid becomes when it wins: one
// bid, at most one execution.
func ExecutionID(bidID string) string { return "x-" + bidID }

// Order is the clearing order: amount (highest first), then time placed,
// then id, so that the same log always yields the same allocation.
func Order(x, y Bid) int {
	switch {
	case x.AmountMicros != y.AmountMicros:
		if x.AmountMicros > y.AmountMicros {
			return -1
		}
		return 1
	case !x.PlacedAt.Equal(y.PlacedAt):
		if x.PlacedAt.Before(y.PlacedAt) {
			return -1
		}
		return 1
	}
	return strings.Compare(x.ID, y.ID)
}

// orderKey is what Order compares of a bid, in a form quick to compare
// and to move: a cycle sorts every open bid, and sorting the bids
// themselves moved and compared far more. The id, compared only between
// bids of the same amount placed at the same instant, is the bid's index
// in the cycle's table (cycleBids).
type orderKey struct {
	amount events.Micros
	sec    int64 // placed at, exactly: seconds and nanoseconds
	nsec   int32
	bid    int32
}

// unasked is the units of a resource a bid does not ask for, in a
// cycle's table: no free amount is below it, so it always fits.
const unasked = events.Units(math.MinInt64)

// cycleBids is the open bids of a book laid out for one cycle: their ids,
// their keys in the clearing order, and the units each asks of each
// resource in a flat table (a row per bid, a column per resource that has
// a free amount), so that trying a bid compares a few integers rather
// than walking its bundle's map. Most bids of a cycle are tried and
// passed over, and walking the maps was most of the cycle's cost.
type cycleBids struct {
	ids   []string
	keys  []orderKey
	names []string // the table's columns
	units []events.Units
	// other marks the bids that ask for a resource outside the table
	// (a market retired, or unknown): they are tried on their bundle.
	other []bool
}

// newCycleBids lays out bids over the resources of free, the keys sorted
// in the clearing order (Order).
func newCycleBids(bids map[string]Bid, free map[string]events.Units) cycleBids {
	c := cycleBids{ids: make([]string, 0, len(bids)), keys: make([]orderKey, 0, len(bids)),
		names: slices.Sorted(maps.Keys(free)), other: make([]bool, 0, len(bids))}
	c.units = make([]events.Units, 0, len(bids)*len(c.names))
	for id, bid := range bids {
		c.keys = append(c.keys, orderKey{amount: bid.AmountMicros, sec: bid.PlacedAt.Unix(),
			nsec: int32(bid.PlacedAt.Nanosecond()), bid: int32(len(c.ids))})
		c.ids = append(c.ids, id)
		c.other = append(c.other, !c.addRow(bid))
	}
	slices.SortFunc(c.keys, func(x, y orderKey) int {
		switch {
		case x.amount != y.amount:
			if x.amount > y.amount {
				return -1
			}
			return 1
		case x.sec != y.sec:
			if x.sec < y.sec {
				return -1
			}
			return 1
		case x.nsec != y.nsec:
			if x.nsec < y.nsec {
				return -1
			}
			return 1
		}
		return strings.Compare(c.ids[x.bid], c.ids[y.bid])
	})
	return c
}

// addRow appends bid's row to the table, and reports false when the bid
// asks for a resource outside it.
func (c *cycleBids) addRow(bid Bid) bool {
	row := len(c.units)
	for range c.names {
		c.units = append(c.units, unasked)
	}
	if bid.units == nil || len(bid.units) != len(bid.Resources) {
		// Not listed by this book (a snapshot's): read from its map.
		asked := 0
		for j, r := range c.names {
			if u, ok := bid.Resources[r]; ok {
				c.units[row+j] = u
				asked++
			}
		}
		return asked == len(bid.Resources)
	}
	for _, ru := range bid.units {
		j := slices.Index(c.names, ru.name)
		if j < 0 {
			return false
		}
		c.units[row+j] = ru.units
	}
	return true
}

// fits reports whether bid i fits in what is free (fits): freeCols is the
// table's columns of free.
func (c cycleBids) fits(i int32, bids map[string]Bid, freeCols []events.Units, free map[string]events.Units) bool {
	if c.other[i] {
		return fits(bids[c.ids[i]].Resources, free)
	}
	n := len(c.names)
	for j, u := range c.units[int(i)*n : int(i+1)*n] {
		if u > freeCols[j] {
			return false
		}
	}
	return true
}

func decideClear(b Book, c Clear) (events.Event, error) {
	if !b.Configured() {
		return nil, ErrNotConfigured
	}
	if c.Cycle <= b.Cycle {
		return nil, nil
	}
	if c.Cycle != b.Cycle+1 {
		return nil, fmt.Errorf("%w: cycle %d after %d", ErrCycleOutOfOrder, c.Cycle, b.Cycle)
	}
	free := make(map[string]events.Units, len(b.Markets))
	for name, m := range b.Markets {
		if !m.Retired { // a retired market leases nothing more
			free[name] = m.SupplyUnits - m.LeasedUnits
		}
	}
	// Leases of executions that never reported are released first.
	var expired []string
	if b.LeaseTimeoutSeconds > 0 {
		timeout := time.Duration(b.LeaseTimeoutSeconds) * time.Second
		for id, x := range b.Executions {
			if !c.At.Before(x.At.Add(timeout)) {
				expired = append(expired, id)
				for r, u := range x.Resources {
					free[r] += u
				}
			}
		}
		slices.Sort(expired)
	}
	var allocs []events.Allocation
	table := newCycleBids(b.Bids, free)
	freeCols := make([]events.Units, len(table.names))
	for j, r := range table.names {
		freeCols[j] = free[r]
	}
	for _, k := range table.keys {
		if len(allocs) >= b.AllocationsMax {
			break
		}
		if !table.fits(k.bid, b.Bids, freeCols, free) {
			continue
		}
		bid := b.Bids[table.ids[k.bid]]
		for r, u := range bid.Resources {
			free[r] -= u
		}
		for j, r := range table.names {
			freeCols[j] = free[r]
		}
		allocs = append(allocs, events.Allocation{BidID: bid.ID, ExecutionID: ExecutionID(bid.ID), AgentID: bid.AgentID,
			BeneficiaryID: bid.Runner(), Resources: bid.Resources, AmountMicros: bid.AmountMicros, Payload: bid.Payload})
	}
	outcomes := make(map[string]events.MarketOutcome, len(b.Markets))
	for name, m := range b.Markets {
		if m.Retired {
			continue
		}
		leased := m.SupplyUnits - free[name]
		util := utilizationPPM(leased, m.SupplyUnits)
		outcomes[name] = events.MarketOutcome{LeasedUnits: leased, UtilizationPPM: util,
			PriceMicros: m.PriceMicros, NewPriceMicros: NextPrice(m.MarketTerms, b.Rules, util)}
	}
	if len(expired) == 0 && len(allocs) == 0 && !pricesMove(outcomes) {
		// Nothing happened: an idle economy does not grow its log.
		return nil, nil
	}
	return events.CycleCleared{Cycle: c.Cycle, At: c.At.UTC(), Expired: expired, Allocations: allocs,
		Markets: outcomes, OpenBids: len(b.Bids) - len(allocs)}, nil
}

// fits reports whether every resource of the bundle fits in what is free.
// Consumption is the units the bundle asks for.
func fits(bundle map[string]events.Units, free map[string]events.Units) bool {
	for r, u := range bundle {
		if u > free[r] {
			return false
		}
	}
	return true
}

func utilizationPPM(leased, supply events.Units) int64 { return market.UtilizationPPM(leased, supply) }

// NextPrice moves a price with its market's utilization (market.NextPrice:
// the attention market moves its own by the same rule).
func NextPrice(m events.MarketTerms, r events.PriceRules, utilPPM int64) events.Micros {
	return market.NextPrice(m, r, utilPPM)
}

func pricesMove(outcomes map[string]events.MarketOutcome) bool {
	for _, o := range outcomes {
		if o.NewPriceMicros != o.PriceMicros {
			return true
		}
	}
	return false
}

func (b Book) openNames() []string {
	var out []string
	for name, m := range b.Markets {
		if !m.Retired {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
