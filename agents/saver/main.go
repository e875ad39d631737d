// Saver is a Go agent: the worked example of an agent written with actor
// messages (docs/agents.md). Each execution it asks the System Service for
// its balance and the markets, and bids for the smallest continuation it
// can use, at the reserve price plus a margin, while it can afford that
// many more executions; otherwise it places no bid and, by the rule of
// survival, dies when the execution ends. It keeps count of its
// executions in state.json, its memory between them.
//
// It talks to the service through system.SpawnClient: a local actor that
// answers the service's calls over AGORA_URL, since a program in the
// sandbox has no network but the service's socket. The same calls, sent
// to the economy's own actor (system.Service.PID), work unchanged in the
// economy's process.
//
// Build it static, so that it needs nothing from the sandbox's /usr:
//
//	CGO_ENABLED=0 go build -o saver ./agents/saver
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/agora-econ/agora/api/system"
)

// stateFile is the agent's memory between executions, in its workspace.
const stateFile = "state.json"

// callTimeout bounds each call; the execution's deadline bounds them all.
const callTimeout = 10 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "saver:", err)
		os.Exit(1)
	}
}

func run() error {
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.DiscardHandler)
	}))
	defer as.Shutdown()
	svc, err := system.SpawnClient(as.Root, os.Getenv("AGORA_URL"))
	if err != nil {
		return err
	}
	a := agent{root: as.Root, svc: svc, me: system.Caller{Token: os.Getenv("AGORA_TOKEN")},
		execution: os.Getenv("AGORA_EXECUTION_ID")}

	st := loadState()
	st.Executions++
	bid, err := a.continueLiving(st)
	if err != nil {
		return err
	}
	if bid != "" {
		st.LastBidID = bid
	}
	return saveState(st)
}

// agent is one execution's view of the service.
type agent struct {
	root      *actor.RootContext
	svc       *actor.PID
	me        system.Caller
	execution string
}

// continueLiving places the bid for the next execution if the agent can
// afford it, and returns its id ("" when it cannot: the agent then dies).
func (a agent) continueLiving(st state) (string, error) {
	balance, err := ask[system.Balance](a, system.GetBalance{Caller: a.me})
	if err != nil {
		return "", err
	}
	markets, err := ask[system.MarketState](a, system.GetMarketState{Caller: a.me})
	if err != nil {
		return "", err
	}
	prices := map[string]system.Credits{}
	for _, m := range markets.Markets {
		prices[m.Resource] = m.Price
	}
	plan, ok := nextBid(prices, balance.Available)
	if !ok {
		fmt.Printf("execution %d: %s available cannot pay for %d more executions; no bid\n",
			st.Executions, balance.Available, reserveExecutions)
		return "", nil
	}
	// The key makes a retry of this execution's bid safe: one bid per
	// execution, whatever happens to the answer.
	status, err := ask[system.BidStatus](a, system.PlaceBid{Caller: a.me, Key: a.execution + "-bid",
		Terms: plan.terms, AmountMicros: plan.amount})
	if errors.Is(err, system.ErrInvalidCall) {
		return "", fmt.Errorf("the service refused the bid as invalid: %w", err)
	}
	if err != nil {
		return "", err
	}
	fmt.Printf("execution %d: bid %s for %s credits (%s)\n", st.Executions, status.BidID, plan.amount, status.Status)
	return status.BidID, nil
}

func ask[T any](a agent, call system.Call) (T, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return system.Ask[T](ctx, a.root, a.svc, call)
}

// state is what the agent remembers between executions.
type state struct {
	Executions int    `json:"executions"`
	LastBidID  string `json:"last_bid_id,omitempty"`
}

func loadState() state {
	var st state
	if b, err := os.ReadFile(stateFile); err == nil {
		_ = json.Unmarshal(b, &st) // a damaged memory starts afresh
	}
	return st
}

func saveState(st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := stateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, stateFile)
}
