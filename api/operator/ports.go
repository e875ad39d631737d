package operator

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/agora-econ/agora/actors/agent"
	"github.com/agora-econ/agora/actors/runtime"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/projections/directory"
	"github.com/agora-econ/agora/projections/economy"
	"github.com/agora-econ/agora/projections/markets"
)

// The ports of the operator API: what it needs from the rest of the
// system, each as small as the calls it makes. The composition root
// (package economy) passes the read models as they are and implements Creator
// and Freshness; see Deps.

// Directory is the read model of every agent. *directory.View satisfies
// it.
type Directory interface {
	Get(id string) (directory.Agent, bool)
	List(after string, limit int) []directory.Summary
	Count() int
	Totals() directory.Totals
}

// Markets is the read model of the markets. *markets.View satisfies it.
type Markets interface {
	State() markets.MarketsState
}

// Creator brings a new agent into the economy for the operator (POST
// /admin/agents). Package economy implements it over the executor's workspaces,
// the accounts and the clearing service.
//
// The request it gets is valid as far as the request alone can tell: the
// id, every path and size, the command (agent.ValidateCommand), the grant,
// and the first bid's shape (it names cpu_seconds and memory_mb, never
// attention; every quantity positive; its amount at most the grant). What
// depends on the economy's state is the Creator's to check before it
// changes anything: the first bid against the book (clearing.Validate:
// known resources, supply, reserve price) and that the id is free. Then it
// writes the workspace, creates the account with the grant and the command
// (agent.Create, key as the command's idempotency key), and places the
// first bid from the new account (clearing.Service.Place, with a key
// derived from key).
//
// key makes the creation safe to retry: a call with a key the Creator has
// applied (agent.Accounts.Recall on req.AgentID) returns req.AgentID and
// applies nothing more, and completes what the first call left undone
// (the bid, after a failed append). A workspace written by a call whose
// account append then failed is met again by its retry: accept one that
// holds exactly req.Files rather than refuse it. It returns the id of the
// agent, which is req.AgentID.
//
// Its errors are the domain's typed ones, which the API maps to statuses:
// agent.ErrAgentExists (an id taken, or a workspace left behind) 409;
// clearing.ErrBelowReserve, ErrUnknownResource, ErrExceedsSupply,
// ErrInvalidBundle, events.ErrInvalidID, agent.ErrInvalidCommand and
// ErrInvalidProgram 422; runtime.ErrUnavailable and the like 503.
type Creator interface {
	CreateAgent(ctx context.Context, req CreateAgent, key string) (string, error)
}

// CreateAgent is a new agent as the operator describes it.
type CreateAgent struct {
	// AgentID is the agent's id, chosen by the API: the operator's own, or
	// one derived from the Idempotency-Key (so that a retry names the
	// same agent), or a fresh one.
	AgentID string
	// Files are the workspace's files, path (relative, '/'-separated)
	// -> content.
	Files map[string]string
	// Command is the program, run from the workspace at every execution.
	Command []string
	// GrantMicros is minted to the new account.
	GrantMicros events.Micros
	// InitialBid, if any, is placed from the new account once it exists.
	InitialBid *InitialBid
}

// InitialBid is the first bid of a new agent, placed by the agent itself
// from its grant.
type InitialBid struct {
	Resources    map[string]events.Units
	AmountMicros events.Micros
	Payload      string
}

// Accounts is the agents' accounts, for the operator's grant and kill.
// *agent.Accounts satisfies it.
type Accounts interface {
	// Do sends one command to agent id; key is its idempotency key.
	Do(ctx context.Context, id, key string, cmd agent.Command) (runtime.Result, error)
}

// Book places bids, for a bid on an agent's behalf: the path of the
// System Service's POST /market/bid (the book's checks, then the agent's
// hold, then the listing). *clearing.Service satisfies it.
type Book interface {
	Place(ctx context.Context, agentID, key string, terms events.BidTerms, amount events.Micros) (string, string, error)
}

// Freshness lets a write be read back: Sync returns once every read model
// the API reads from has applied every event the log held when Sync was
// called. Package economy implements it with the log's LastSeq and each
// projection runner's WaitFor, as for the System Service.
type Freshness interface {
	Sync(ctx context.Context) error
}

// Economy is the fold of the whole log that checks every invariant as
// the events arrive; its summary is GET /admin/status, its skipped
// records GET /admin/skipped.
type Economy interface {
	Summary() economy.Summary
	Skipped() []economy.Skipped
	SkippedRecord(seq uint64) (economy.Skipped, bool)
}

// Records writes the operator's acknowledgement of a skipped record
// (records.Service: the record_acknowledged event, durable before it
// returns). key is the command's idempotency key.
type Records interface {
	Acknowledge(ctx context.Context, seq uint64, reason, key string) (uint64, error)
}

// Deps are the API's dependencies; every one is required.
type Deps struct {
	Directory Directory
	Markets   Markets
	Creator   Creator
	Freshness Freshness
	Economy   Economy
	Accounts  Accounts
	Book      Book
	Records   Records
	// Attention is the attention slot (*attention.Service);
	// AttentionView its read model (*attention.View of projections).
	Attention     Attention
	AttentionView AttentionView
	// History is the recent activity (GET /admin/history).
	History History
	// Bids is the public bid book (GET /admin/bids); Config the effective
	// configuration (GET /admin/config).
	Bids   Bids
	Config Config
	// Series is the history read model (GET /admin/history/markets,
	// /admin/history/economy, /admin/agents/{id}/history).
	Series Series
}

// check names every missing dependency. A typed nil (a nil
// *directory.View in the Directory field, say) counts as missing.
func (d Deps) check() error {
	var missing []string
	for _, dep := range []struct {
		name  string
		value any
	}{
		{"Directory", d.Directory}, {"Markets", d.Markets}, {"Creator", d.Creator}, {"Freshness", d.Freshness},
		{"Economy", d.Economy}, {"Accounts", d.Accounts}, {"Book", d.Book}, {"Records", d.Records},
		{"Attention", d.Attention}, {"AttentionView", d.AttentionView},
		{"History", d.History},
		{"Bids", d.Bids}, {"Config", d.Config},
		{"Series", d.Series},
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
