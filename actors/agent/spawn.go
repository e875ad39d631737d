package agent

import (
	"fmt"
	"slices"

	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
)

// Spawning (SPEC.md 1.7) in three steps, each one event of one account,
// so that a crash between any two loses nothing and repeats nothing:
//
//  1. the parent decides Spawn: ChildSpawned burns the cost and puts the
//     child's initial credits in flight;
//  2. the spawn manager reacts with Create for the child, funded with
//     them: AgentCreated (funded_micros) takes them in; a child that
//     cannot be created bounces them (TransferBounced under
//     events.SpawnTransferID), and the transfer manager returns them;
//  3. the spawn manager reacts to that AgentCreated with the child's first
//     bid, a PlaceHold from the child's credits, which the clearing
//     manager lists (or rejects, should the price have risen past it).

// SpawnManagerName names the process manager that creates spawned
// children and places their first bids; it is the Manager of the triggers
// it sends.
const SpawnManagerName = "spawns"

// SpawnManager creates each spawned child from its parent's ChildSpawned
// and places the child's first bid once the child exists.
func SpawnManager() runtime.Manager {
	return runtime.Manager{
		Name: SpawnManagerName,
		// The whole stream, as the transfer manager: see TransferManager.
		Filter: events.SubjectRoot + ".>",
		Types:  []string{events.ChildSpawned{}.EventType(), events.AgentCreated{}.EventType()},
		React:  reactSpawns,
	}
}

func reactSpawns(r events.Record, e events.Event) []runtime.Reaction {
	_, id, _, err := events.ParseSubject(r.Envelope.Subject)
	if err != nil {
		return nil
	}
	t := events.Trigger{Manager: SpawnManagerName, Seq: r.Seq}
	switch e := e.(type) {
	case events.ChildSpawned:
		return []runtime.Reaction{{Kind: events.KindAgent, ID: e.ChildID, Command: Create{ParentID: id,
			Lineage: slices.Clone(e.Lineage), Reason: ReasonSpawn, Command: slices.Clone(e.Command),
			FundedMicros: e.InitialCreditsMicros, InitialBid: e.InitialBid, Trigger: t}}}
	case events.AgentCreated:
		// Only a child the spawn manager created has its first bid placed
		// by it.
		b := e.InitialBid
		if b == nil || e.Trigger.Manager != SpawnManagerName {
			return nil
		}
		terms := b.Terms
		return []runtime.Reaction{{Kind: events.KindAgent, ID: id, Command: PlaceHold{HoldID: b.BidID,
			AmountMicros: b.AmountMicros, Purpose: events.PurposeBid, Bid: &terms, Trigger: t}}}
	}
	return nil
}

// decideSpawn records a spawn: the parent can pay the cost and the
// initial credits from what it has available, and the child's first bid
// can be paid from its initial credits.
func decideSpawn(a Account, c Spawn) (events.Event, error) {
	if err := events.ValidateID(c.ChildID); err != nil {
		return nil, fmt.Errorf("child id: %w", err)
	}
	if c.ChildID == a.ID {
		return nil, fmt.Errorf("%w: an agent cannot be its own child", ErrInvalidSpawn)
	}
	if c.CostMicros < 0 || c.CostMicros > events.AmountMax {
		return nil, fmt.Errorf("%w: spawn cost %s", ErrInvalidAmount, c.CostMicros)
	}
	if err := events.ValidatePositive(c.InitialMicros); err != nil {
		return nil, fmt.Errorf("initial credits: %w", err)
	}
	if err := ValidateCommand(c.Command); err != nil {
		return nil, err
	}
	if err := validateInitialBid(c.InitialBid, c.InitialMicros); err != nil {
		return nil, err
	}
	if err := spend(a, c.CostMicros+c.InitialMicros); err != nil {
		return nil, err
	}
	return events.ChildSpawned{ChildID: c.ChildID, CostMicros: c.CostMicros, InitialCreditsMicros: c.InitialMicros,
		Command: slices.Clone(c.Command), Lineage: childLineage(a), InitialBid: cloneInitialBid(c.InitialBid),
		ProgramSHA256: c.ProgramSHA256}, nil
}

// childLineage is the lineage of a's child: a, then a's own lineage, at
// most LineageLengthMax ancestors.
func childLineage(a Account) []string {
	l := append([]string{a.ID}, a.Lineage...)
	if len(l) > LineageLengthMax {
		l = l[:LineageLengthMax]
	}
	return l
}

// validateInitialBid checks what a child's first bid must be to be placed
// from its credits: a bid id, a pool, a bundle of valid resources with
// positive units, and an amount within the child's credits. What the book
// checks (known resources, supply, reserve price) is the caller's to check
// before the spawn.
func validateInitialBid(b *events.InitialBid, creditsMicros events.Micros) error {
	if b == nil {
		return nil
	}
	if err := events.ValidateID(b.BidID); err != nil {
		return fmt.Errorf("%w: bid id: %w", ErrInvalidSpawn, err)
	}
	if err := events.ValidateID(b.Terms.Pool); err != nil {
		return fmt.Errorf("%w: pool: %w", ErrInvalidSpawn, err)
	}
	if len(b.Terms.Resources) == 0 {
		return fmt.Errorf("%w: the first bid names no resource", ErrInvalidSpawn)
	}
	for r, u := range b.Terms.Resources {
		if events.ValidateID(r) != nil || u <= 0 {
			return fmt.Errorf("%w: the first bid asks %s of %q", ErrInvalidSpawn, u, r)
		}
	}
	if b.Terms.BeneficiaryID != "" {
		return fmt.Errorf("%w: the first bid is the child's own, for no beneficiary", ErrInvalidSpawn)
	}
	if err := events.ValidatePositive(b.AmountMicros); err != nil {
		return fmt.Errorf("first bid: %w", err)
	}
	if b.AmountMicros > creditsMicros {
		return fmt.Errorf("%w: the first bid of %s is above the initial credits of %s", ErrInvalidSpawn, b.AmountMicros, creditsMicros)
	}
	return nil
}

func cloneInitialBid(b *events.InitialBid) *events.InitialBid {
	if b == nil {
		return nil
	}
	c := *b
	c.Terms.Resources = make(map[string]events.Units, len(b.Terms.Resources))
	for r, u := range b.Terms.Resources {
		c.Terms.Resources[r] = u
	}
	return &c
}

// decideSpawnedCreate creates a child the spawn manager was obliged to
// create by its parent's ChildSpawned. Its credits are in flight, so it is
// never rejected: a child that cannot be created (its id taken, or a
// record that is not what the parent's decider writes) bounces them to the
// parent under events.SpawnTransferID, and the transfer manager returns
// them, exactly once.
func decideSpawnedCreate(a Account, c Create) (events.Event, error) {
	if c.Trigger.Seq == 0 || c.Trigger.Manager == "" {
		return nil, fmt.Errorf("%w: a funded Create of %s", ErrMissingTrigger, a.ID)
	}
	if err := events.ValidatePositive(c.FundedMicros); err != nil {
		return nil, fmt.Errorf("funded credits: %w", err) // nothing a bounce could return
	}
	if err := events.ValidateID(c.ParentID); err != nil {
		return nil, fmt.Errorf("parent: %w", err) // nobody a bounce could return to
	}
	bounce := func(reason string) (events.Event, error) {
		return events.TransferBounced{TransferID: events.SpawnTransferID(a.ID), FromAgentID: c.ParentID,
			AmountMicros: c.FundedMicros, Reason: "spawn refused: " + reason, Trigger: c.Trigger}, nil
	}
	if a.Exists() {
		return bounce("the child's id " + a.ID + " is taken")
	}
	if err := checkSpawnedCreate(a, c); err != nil {
		return bounce(err.Error())
	}
	return events.AgentCreated{AgentID: a.ID, ParentID: c.ParentID, Lineage: slices.Clone(c.Lineage),
		Reason: c.Reason, Command: slices.Clone(c.Command), FundedMicros: c.FundedMicros,
		InitialBid: cloneInitialBid(c.InitialBid), Trigger: c.Trigger}, nil
}

// checkSpawnedCreate checks what a spawned child's creation records: no
// grant (nothing is minted), a lineage that starts with its parent, a
// valid command and a first bid its credits pay for.
func checkSpawnedCreate(a Account, c Create) error {
	if c.GrantMicros != 0 {
		return fmt.Errorf("%w: a spawned child is granted nothing", ErrInvalidSpawn)
	}
	if c.ParentID == a.ID {
		return fmt.Errorf("%w: an agent cannot be its own child", ErrInvalidSpawn)
	}
	if len(c.Lineage) == 0 || c.Lineage[0] != c.ParentID || len(c.Lineage) > LineageLengthMax {
		return fmt.Errorf("%w: lineage %v does not start with the parent %s", ErrInvalidSpawn, c.Lineage, c.ParentID)
	}
	for _, id := range c.Lineage {
		if err := events.ValidateID(id); err != nil {
			return fmt.Errorf("lineage: %w", err)
		}
	}
	if err := ValidateCommand(c.Command); err != nil {
		return err
	}
	return validateInitialBid(c.InitialBid, c.FundedMicros)
}
