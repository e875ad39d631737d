// Package history is the read model of money movements: each agent's recent
// transactions and the economy's, with the balance each one left. It is a
// fold of the agent events alone, so replaying the log gives it back exactly;
// each agent's balance is moved by agent.Evolve, the agent actor's own fold,
// so the balance a transaction left is the account's. Of the account it
// keeps the balance alone (docs/decisions.md).
package history

import (
	"time"

	"github.com/agora-econ/agora/events"
)

// Kind names what a transaction did to the agent's balance.
type Kind string

// The kinds of transaction. Holds placed, raised or voided are not among
// them: a hold reserves credits but moves none, and only HoldPosted turns a
// hold into a payment.
const (
	// KindGrant is credits minted to an agent: at its creation, or by the
	// operator's hand later (credits_granted).
	KindGrant Kind = "grant"
	// KindTransferOut is a transfer leaving the sender's balance.
	KindTransferOut Kind = "transfer_out"
	// KindTransferIn is a transfer reaching the recipient's balance.
	KindTransferIn Kind = "transfer_in"
	// KindTransferBounced is a transfer the recipient refused; it never
	// reached the recipient's balance, so the amount is zero.
	KindTransferBounced Kind = "transfer_bounced"
	// KindTransferReturned is a bounced transfer back in the sender's balance.
	KindTransferReturned Kind = "transfer_returned"
	// KindTransferBurned is a bounced transfer whose sender had died: it is
	// burned in flight and never re-enters a balance, so the amount is zero.
	KindTransferBurned Kind = "transfer_burned"
	// KindHoldPosted is a payment: a hold (bid or prompt) posted and burned.
	KindHoldPosted Kind = "hold_posted"
	// KindBurn is credits burned from the balance (spawn or message costs).
	KindBurn Kind = "burn"
	// KindDeathBurn is what was left of a balance, burned when the agent died.
	KindDeathBurn Kind = "death_burn"
	// KindMessageCost is the cost of a message leaving the sender's
	// balance (burned at delivery, or back as KindMessageReturned).
	KindMessageCost Kind = "message_cost"
	// KindMessageReturned is the cost of a bounced message back in the
	// sender's balance.
	KindMessageReturned Kind = "message_returned"
	// KindSpawn is a spawn at its parent: the cost (burned) and the
	// child's initial credits leave the balance; the counterparty is the
	// child.
	KindSpawn Kind = "spawn"
	// KindSpawned is a spawned child's initial credits reaching its
	// balance at its creation; the counterparty is its parent.
	KindSpawned Kind = "spawned"
	// KindReward is the human's reward for a prompt, minted to its agent
	// (human_rewarded); the reference is the prompt.
	KindReward Kind = "reward"
)

// kinds are every kind of transaction, so that a kind read back from a
// snapshot shares its constant's string (canonical).
var kinds = []Kind{KindGrant, KindTransferOut, KindTransferIn, KindTransferBounced, KindTransferReturned,
	KindTransferBurned, KindHoldPosted, KindBurn, KindDeathBurn, KindMessageCost, KindMessageReturned,
	KindSpawn, KindSpawned, KindReward}

// canonical is k as its constant: the same string, not a copy. A kind that
// is none of them is itself.
func (k Kind) canonical() Kind {
	for _, c := range kinds {
		if c == k {
			return c
		}
	}
	return k
}

// Transaction is one entry of an agent's history. AmountMicros is the change
// to the agent's balance (negative when credits leave it), so that
// BalanceAfterMicros is always the previous entry's plus AmountMicros.
type Transaction struct {
	Seq                uint64        `json:"seq"`
	Time               time.Time     `json:"time"`
	EventID            string        `json:"event_id"`
	Kind               Kind          `json:"kind"`
	AgentID            string        `json:"agent_id"`
	CounterpartyID     string        `json:"counterparty_id,omitempty"`
	AmountMicros       events.Micros `json:"amount_micros"`
	Reference          string        `json:"reference,omitempty"` // transfer or hold id
	Memo               string        `json:"memo,omitempty"`      // memo, purpose or reason
	BalanceAfterMicros events.Micros `json:"balance_after_micros"`
}
