package system

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/bidbook"
	"github.com/agora-econ/agora/projections/history"
	"github.com/agora-econ/agora/projections/markets"
)

// The ports of the service: what it needs from the rest of the system, each
// as small as the calls it makes. The composition root (package economy)
// passes the real facades and read models, which satisfy them as they
// are; see Deps.

// Tickets authenticates calls: the bearer token names one execution of one
// agent. *ticket.Registry satisfies it.
type Tickets interface {
	Lookup(token string, now time.Time) (ticket.Ticket, error)
	Meter(token string, tokens int64) error
}

// Ledger is the agents' accounts. *agent.Accounts satisfies it.
type Ledger interface {
	// Get reads the caller's own account (GET /economic/balance).
	Get(ctx context.Context, id string) (agent.Account, error)
	// Recall finds the result of a command the account applied with key.
	Recall(ctx context.Context, id, key string) (runtime.Result, bool, error)
	// Transfer debits from and sends the credits on their way.
	Transfer(ctx context.Context, from, key string, t agent.Transfer) (runtime.Result, error)
	// SendMessage debits from for a message and sends it on its way.
	SendMessage(ctx context.Context, from, key string, m agent.SendMessage) (runtime.Result, error)
	// MarkRead records that agent id read the unread messages ids.
	MarkRead(ctx context.Context, id string, ids []string) error
}

// Book places, raises and withdraws bids. *clearing.Service satisfies it.
type Book interface {
	Place(ctx context.Context, agentID, key string, terms events.BidTerms, amount events.Micros) (string, string, error)
	Raise(ctx context.Context, agentID, key, bidID string, amount events.Micros) (string, error)
	Withdraw(ctx context.Context, agentID, key, bidID string) error
}

// HistoryView is the read model of money movements. *history.View
// satisfies it.
type HistoryView interface {
	ForAgent(agentID string, limit int) []history.Transaction
}

// Markets is the read model of the markets. *markets.View satisfies it.
type Markets interface {
	State() markets.MarketsState
}

// BidBook is the public bid book. *bidbook.View satisfies it.
type BidBook interface {
	Page(resource string, limit int, cursor string) ([]bidbook.Bid, string, error)
	Count() int
	CountFor(resource string) int
}

// Directory is the read model of the agents the economy created.
// *directory.View (projections/directory) satisfies it; the composition
// root passes the view its projection runner keeps.
type Directory interface {
	// LivingAgents lists the living agents: up to limit ids, in ascending
	// order, strictly after the id after ("" for the first page).
	LivingAgents(after string, limit int) []string
	// Exists reports whether agent id was ever created, dead or alive.
	Exists(id string) bool
}

// Freshness lets a write be read back: Sync returns once every read model
// the service reads from has applied every event the log held when Sync
// was called. The composition root implements it with the log's LastSeq
// and each projection runner's WaitFor.
type Freshness interface {
	Sync(ctx context.Context) error
}

// Spawner spawns children for agents (POST /social/spawn). Package
// economy implements it over the workspaces, the accounts, the clearing
// and the spawn manager.
//
// The request is valid as far as it alone can tell (SpawnRequest). The
// Spawner checks, before it changes anything, what depends on the
// economy: the first bid against the book (clearing.Validate), that the
// parent has economy.spawn_cost plus the initial credits available
// (agent.ErrInsufficientCredits), that the child's id is free
// (agent.ErrAgentExists) and that fewer than economy.max_agents agents
// live (ErrPopulationLimit). Then it writes the child's workspace (the
// files and the Python client helper), has the parent's account record
// the spawn (agent.Spawn, key as its idempotency key: the durable point
// of the answer), and waits, boundedly, for the spawn manager to create
// the child and place its first bid.
//
// key makes the spawn safe to retry: a key the parent's account has
// applied answers the first spawn's child and spawns nothing more.
type Spawner interface {
	Spawn(ctx context.Context, parentID, key string, req SpawnRequest) (SpawnReceipt, error)
}

// Deps are the service's dependencies; every one is required.
type Deps struct {
	Tickets   Tickets
	Ledger    Ledger
	Book      Book
	History   HistoryView
	Markets   Markets
	Bids      BidBook
	Directory Directory
	Freshness Freshness
	// Inbox is the read model of the inboxes (*inbox.View).
	Inbox InboxPort
	// Spawner spawns children (package economy's spawner).
	Spawner Spawner
	// Attention is the attention slot (*attention.Service); AttentionView
	// its read model (*attention.View of projections).
	Attention     AttentionService
	AttentionView AttentionView
}

// check names every missing dependency. A typed nil (a nil
// *agent.Accounts in the Ledger field, say) counts as missing.
func (d Deps) check() error {
	var missing []string
	for _, dep := range []struct {
		name  string
		value any
	}{
		{"Tickets", d.Tickets}, {"Ledger", d.Ledger}, {"Book", d.Book}, {"History", d.History},
		{"Markets", d.Markets}, {"Bids", d.Bids}, {"Directory", d.Directory}, {"Freshness", d.Freshness}, {"Inbox", d.Inbox},
		{"Spawner", d.Spawner}, {"Attention", d.Attention}, {"AttentionView", d.AttentionView},
	} {
		if isNil(dep.value) {
			missing = append(missing, dep.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrNilDependency, strings.Join(missing, ", "))
	}
	return nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	switch r.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Interface, reflect.Slice, reflect.Chan:
		return r.IsNil()
	}
	return false
}
