package events

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"maps"
	"slices"
)

// Trigger names the event that obliged an actor to act: the process manager
// that reacted to it and the event's stream sequence. An actor remembers, per
// manager, the highest trigger it has applied; a manager delivers to each
// actor in stream order, so a trigger at or below that mark is a redelivery
// and applies nothing.
//
// Index orders several commands one event obliges of the same actor (two
// winning bids of one agent in a cycle): the mark is the pair (Seq, Index).
type Trigger struct {
	Manager string `json:"manager,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Index   uint32 `json:"index,omitempty"`
}

// After reports whether t comes after the mark (seq, index).
func (t Trigger) After(seq uint64, index uint32) bool {
	return t.Seq > seq || t.Seq == seq && t.Index > index
}

// AgentCreated opens an account. Grant is minted: with HumanRewarded it is
// the only way credits come into existence. Command is the agent's program
// (run from its workspace at every execution); it is part of the record so
// that the log says what each agent is, and no program can rewrite it.
// Absent (an agent created before commands were recorded), the executor's
// default command runs.
type AgentCreated struct {
	AgentID     string   `json:"agent_id"`
	ParentID    string   `json:"parent_id,omitempty"`
	Lineage     []string `json:"lineage,omitempty"`
	GrantMicros Micros   `json:"grant_micros"`
	Reason      string   `json:"reason,omitempty"`
	Command     []string `json:"command,omitempty"`
	// FundedMicros are a spawned child's initial credits: they come from
	// its parent's ChildSpawned, where they left the parent's balance and
	// went in flight, and are not minted.
	FundedMicros Micros `json:"funded_micros,omitempty"`
	// InitialBid is a spawned child's first bid, which the spawn manager
	// places from the child's credits once the child exists.
	InitialBid *InitialBid `json:"initial_bid,omitempty"`
	// Trigger is the spawn manager's, for a spawned child.
	Trigger Trigger `json:"trigger,omitzero"`
}

// TransferSent debits the sender. The amount is then in flight until the
// recipient's TransferReceived, or the sender's TransferReturned after a
// TransferBounced.
type TransferSent struct {
	TransferID   string `json:"transfer_id"`
	ToAgentID    string `json:"to_agent_id"`
	AmountMicros Micros `json:"amount_micros"`
	Memo         string `json:"memo,omitempty"`
}

// TransferReceived credits the recipient; the transfer is settled.
type TransferReceived struct {
	TransferID   string  `json:"transfer_id"`
	FromAgentID  string  `json:"from_agent_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Trigger      Trigger `json:"trigger"`
}

// TransferBounced is written by a recipient that can no longer receive (it
// died after the transfer was sent). The amount stays in flight until the
// sender's TransferReturned.
type TransferBounced struct {
	TransferID   string  `json:"transfer_id"`
	FromAgentID  string  `json:"from_agent_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Reason       string  `json:"reason"`
	Trigger      Trigger `json:"trigger"`
}

// TransferReturned gives a bounced transfer back to its sender. A sender that
// has died meanwhile cannot receive credits: the amount is burned instead
// (Burned is true), which keeps conservation exact.
type TransferReturned struct {
	TransferID   string  `json:"transfer_id"`
	ToAgentID    string  `json:"to_agent_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Burned       bool    `json:"burned,omitempty"`
	Trigger      Trigger `json:"trigger"`
}

// HoldPlaced reserves credits (a bid or a prompt): held grows, balance stays.
// A bid's hold carries the bid's terms, so that the clearing lists exactly
// the bid whose credits are reserved, even after a crash between the two.
type HoldPlaced struct {
	HoldID       string    `json:"hold_id"`
	AmountMicros Micros    `json:"amount_micros"`
	Purpose      string    `json:"purpose,omitempty"`
	Bid          *BidTerms `json:"bid,omitempty"`
	// Prompt is set for a prompt's hold; the slot queues it from it.
	Prompt  *PromptTerms `json:"prompt,omitempty"`
	Trigger Trigger      `json:"trigger,omitzero"`
}

// PurposeBid marks the hold of a resource bid (its id is the bid id).
const PurposeBid = "bid"

// BidTerms are what a bid asks for: an all-or-nothing bundle of resource
// units, who runs when it wins, and the payload handed to the execution.
type BidTerms struct {
	Pool          string           `json:"pool"`
	Resources     map[string]Units `json:"resources"`
	BeneficiaryID string           `json:"beneficiary_id,omitempty"`
	Payload       string           `json:"payload,omitempty"`
}

// HoldIncreased raises an open hold (a raised bid).
type HoldIncreased struct {
	HoldID       string  `json:"hold_id"`
	AmountMicros Micros  `json:"amount_micros"` // the new total
	DeltaMicros  Micros  `json:"delta_micros"`
	Trigger      Trigger `json:"trigger,omitzero"`
}

// HoldPosted turns an open hold into a payment: the amount leaves the balance
// and is burned; what was held beyond it (a bid raised after it won) is
// released.
type HoldPosted struct {
	HoldID         string  `json:"hold_id"`
	AmountMicros   Micros  `json:"amount_micros"`
	ReleasedMicros Micros  `json:"released_micros,omitempty"`
	ExecutionID    string  `json:"execution_id,omitempty"`
	Trigger        Trigger `json:"trigger,omitzero"`
}

// PaymentRefused records that a won bid could not be paid: its hold was no
// longer open (the agent died after the bid won). Nothing moves; the
// clearing revokes the allocation.
type PaymentRefused struct {
	HoldID       string  `json:"hold_id"`
	AmountMicros Micros  `json:"amount_micros"`
	ExecutionID  string  `json:"execution_id"`
	Reason       string  `json:"reason"`
	Trigger      Trigger `json:"trigger"`
}

// HoldVoided releases an open hold; nothing is paid.
type HoldVoided struct {
	HoldID       string  `json:"hold_id"`
	AmountMicros Micros  `json:"amount_micros"`
	Reason       string  `json:"reason,omitempty"`
	Trigger      Trigger `json:"trigger,omitzero"`
}

// CreditsBurned removes available credits from circulation (spawn and
// message costs).
type CreditsBurned struct {
	AmountMicros Micros  `json:"amount_micros"`
	Reason       string  `json:"reason"`
	Trigger      Trigger `json:"trigger,omitzero"`
}

// CreditsGranted mints credits to a living agent by the operator's hand
// (`agora agent fund`). Like AgentCreated's grant it creates credits: an
// operator's grant is the system granting to an agent it already runs, as
// it grants to an agent it creates (SPEC.md 1.1, docs/decisions.md).
type CreditsGranted struct {
	AmountMicros Micros `json:"amount_micros"`
	Reason       string `json:"reason,omitempty"`
}

// AgentDied ends an agent. Its open holds are voided and what is left of its
// balance is burned, in this one event, so that a death is atomic.
type AgentDied struct {
	Reason       string   `json:"reason"`
	VoidedHolds  []string `json:"voided_holds,omitempty"`
	BurnedMicros Micros   `json:"burned_micros"`
	Trigger      Trigger  `json:"trigger,omitzero"`
}

func (AgentCreated) EventType() string     { return "agent_created" }
func (TransferSent) EventType() string     { return "transfer_sent" }
func (TransferReceived) EventType() string { return "transfer_received" }
func (TransferBounced) EventType() string  { return "transfer_bounced" }
func (TransferReturned) EventType() string { return "transfer_returned" }
func (HoldPlaced) EventType() string       { return "hold_placed" }
func (HoldIncreased) EventType() string    { return "hold_increased" }
func (HoldPosted) EventType() string       { return "hold_posted" }
func (HoldVoided) EventType() string       { return "hold_voided" }
func (CreditsBurned) EventType() string    { return "credits_burned" }
func (AgentDied) EventType() string        { return "agent_died" }
func (PaymentRefused) EventType() string   { return "payment_refused" }
func (CreditsGranted) EventType() string   { return "credits_granted" }

func (AgentCreated) EventSchema() int     { return 1 }
func (TransferSent) EventSchema() int     { return 1 }
func (TransferReceived) EventSchema() int { return 1 }
func (TransferBounced) EventSchema() int  { return 1 }
func (TransferReturned) EventSchema() int { return 1 }
func (HoldPlaced) EventSchema() int       { return 1 }
func (HoldIncreased) EventSchema() int    { return 1 }
func (HoldPosted) EventSchema() int       { return 1 }
func (HoldVoided) EventSchema() int       { return 1 }
func (CreditsBurned) EventSchema() int    { return 1 }
func (AgentDied) EventSchema() int        { return 1 }
func (PaymentRefused) EventSchema() int   { return 1 }
func (CreditsGranted) EventSchema() int   { return 1 }

func init() {
	register(ChildSpawned{})
	register(AgentCreated{}, TransferSent{}, TransferReceived{}, TransferBounced{},
		TransferReturned{}, HoldPlaced{}, HoldIncreased{}, HoldPosted{}, HoldVoided{},
		CreditsBurned{}, AgentDied{}, PaymentRefused{}, CreditsGranted{})
}

// ChildSpawned records that an agent spawned a child (SPEC.md 1.7): the
// spawn cost is burned and the child's initial credits leave the parent's
// balance and are in flight until the child's AgentCreated (funded_micros)
// takes them in, or, should the child's creation be refused, until a
// TransferBounced and TransferReturned under SpawnTransferID give them
// back. The spawn manager creates the child from this record, so a crash
// after it loses nothing. Lineage is the child's: the parent first, then
// the parent's own lineage.
type ChildSpawned struct {
	ChildID              string      `json:"child_id"`
	CostMicros           Micros      `json:"cost_micros"`
	InitialCreditsMicros Micros      `json:"initial_credits_micros"`
	Command              []string    `json:"command"`
	Lineage              []string    `json:"lineage"`
	InitialBid           *InitialBid `json:"initial_bid,omitempty"`
	// ProgramSHA256 is the hash of the child's workspace as written
	// (ProgramHash): the log says which program the child runs without
	// carrying its files.
	ProgramSHA256 string `json:"program_sha256,omitempty"`
}

// InitialBid is a spawned child's first bid: its id (the hold's), its
// terms and the amount, placed from the child's credits.
type InitialBid struct {
	BidID        string   `json:"bid_id"`
	AmountMicros Micros   `json:"amount_micros"`
	Terms        BidTerms `json:"terms"`
}

func (ChildSpawned) EventType() string { return "child_spawned" }
func (ChildSpawned) EventSchema() int  { return 1 }

// SpawnTransferID names the in-flight initial credits of the spawn of
// childID, as a transfer id: a refused creation bounces them under it and
// the transfer manager returns them to the parent. Transfers the service
// sends have ids of another form (t-...), so the two never meet.
func SpawnTransferID(childID string) string { return "spawn-" + childID }

// ProgramHash is the SHA-256, in hex, of a workspace's files: each path
// and content, in order of path, each preceded by its length, so that no
// two different sets of files hash alike.
func ProgramHash(files map[string][]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range slices.Sorted(maps.Keys(files)) {
		for _, b := range [][]byte{[]byte(p), files[p]} {
			binary.BigEndian.PutUint64(n[:], uint64(len(b)))
			h.Write(n[:])
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
