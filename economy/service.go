package economy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agora-econ/agora/actors/executor/ticket"
	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/economy/config"
	"github.com/agora-econ/agora/events"
	"github.com/agora-econ/agora/events/natslog"
	"github.com/agora-econ/agora/projections"
	"github.com/agora-econ/agora/projections/markets"
)

// httpReadHeaderTimeout bounds how long a client may take to send its
// request headers (slowloris); httpShutdownTimeout how long a stop waits
// for the requests in progress.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpShutdownTimeout   = 5 * time.Second
)

// systemService builds the System Service of the economy over its actors
// and read models, with tickets as the registry of execution tokens. Its
// actor lives in the economy's actor system, which stops with the host.
func (e *Economy) systemService(tickets *ticket.Registry, spawner system.Spawner, logger *slog.Logger) (*system.Service, error) {
	cfg := e.node.cfg
	return system.New(system.Deps{
		Tickets:   tickets,
		Ledger:    e.accounts,
		Book:      e.clearing,
		History:   e.history,
		Markets:   e.marketView,
		Bids:      e.bids,
		Directory: e.directory,
		Freshness: e.freshness(),
		Inbox:     e.inbox,
		Spawner:   spawner,
		// The attention slot and its read model.
		Attention:     e.attention.service,
		AttentionView: e.attention.view,
	}, system.Options{
		Config: publicConfig(cfg),
		Inference: system.Inference{URL: cfg.Inference.URL, APIKey: cfg.Inference.Key(os.Getenv),
			Model: cfg.Inference.Model, Timeout: cfg.Inference.Timeout()},
		Logger: logger,
		Actors: e.host.ActorSystem(),
	})
}

// serveHTTP serves h on ln until the economy stops; a failure to serve
// stops the economy.
func (e *Economy) serveHTTP(name string, ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: httpReadHeaderTimeout}
	e.background(e.ctx, name, func(ctx context.Context) error {
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		err := srv.Serve(ln)
		<-stopped
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("%s: %w", name, err)
	})
}

// freshness is every read model the APIs read from.
func (e *Economy) freshness() freshness {
	return freshness{log: e.node.log, runners: []*projections.Runner{e.histRun, e.bidsRun, e.marketRun, e.liveRun, e.dirRun, e.inboxRun, e.attention.run, e.series.run}}
}

// operatorAPI builds the operator API, creating agents through creator,
// behind the operator token.
func (e *Economy) operatorAPI(creator operator.Creator, token string, logger *slog.Logger) (http.Handler, error) {
	h, _, err := operator.New(operator.Deps{
		Directory: e.directory,
		Markets:   e.marketView,
		Creator:   creator,
		Freshness: e.freshness(),
		Economy:   e.live,
		Accounts:  e.accounts,
		Book:      e.clearing,
		Records:   e.records,
		// The attention slot and its read model.
		Attention:     e.attention.service,
		AttentionView: e.attention.view,
		History:       e.history,
		// The read views of agora bids and agora config.
		Bids:   e.bids,
		Config: e.node.given,
		// The history read model.
		Series: e.series.view,
	}, operator.Options{Token: token, Logger: logger})
	return h, err
}

// apis serves both APIs on one listener: the operator's under /admin/ and
// /metrics (its document at /admin/openapi.json), the System Service
// everywhere else. Each checks its own tokens: an execution token never
// passes the operator API.
func apis(svc, op http.Handler) http.Handler { return operator.Beside(op, svc) }

// freshness lets the service read its own writes: every read model has
// applied what the log held when Sync was called.
type freshness struct {
	log     events.Log
	runners []*projections.Runner
}

func (f freshness) Sync(ctx context.Context) error {
	seq, err := f.log.LastSeq(ctx)
	if err != nil {
		return err
	}
	for _, r := range f.runners {
		if err := r.WaitFor(ctx, seq); err != nil {
			return err
		}
	}
	return nil
}

// publicConfig is what GET /system/config shows agents: the economy's
// rules, no secrets, no paths.
func publicConfig(cfg config.Config) system.PublicConfig {
	a := cfg.Allocation
	c := system.PublicConfig{
		Economy: system.PublicEconomy{
			InitialCreditBudget: system.Credits(cfg.Economy.InitialCreditBudget.Micros()),
			AttentionConversionRates: map[string]system.Credits{
				"interesting":    system.Credits(cfg.Economy.AttentionConversionRates.Interesting.Micros()),
				"useful":         system.Credits(cfg.Economy.AttentionConversionRates.Useful.Micros()),
				"understandable": system.Credits(cfg.Economy.AttentionConversionRates.Understandable.Micros()),
			},
			SpawnCost:   system.Credits(cfg.Economy.SpawnCost.Micros()),
			MessageCost: system.Credits(cfg.Economy.MessageCost.Micros()),
			InboxLimit:  cfg.Economy.InboxLimit,
			MaxAgents:   cfg.Economy.MaxAgents,
		},
		Resources: map[string]system.PublicResource{},
		Allocation: system.PublicAllocation{ScheduleSeconds: a.ScheduleSeconds, TransactionHistoryLength: a.TransactionHistoryLength,
			HighMark: a.HighMark, LowMark: a.LowMark, PriceStepUp: a.PriceStepUp, PriceStepDown: a.PriceStepDown,
			LeaseTimeoutSeconds: a.LeaseTimeoutSeconds},
		Execution: system.PublicExecution{TimeoutSeconds: cfg.Execution.TimeoutSeconds, DefaultMemoryMB: cfg.Execution.DefaultMemoryMB,
			WorkspaceMB: cfg.Execution.WorkspaceMB},
		Attention: system.PublicAttention{PromptExpirySeconds: cfg.Attention.PromptExpirySeconds},
	}
	for _, name := range cfg.ResourceNames() {
		r := cfg.Resources[name]
		c.Resources[name] = system.PublicResource{Supply: system.Units(r.Supply), InitialPrice: system.Credits(r.InitialPrice.Micros()),
			MinPrice: system.Credits(r.MinPrice.Micros()), MaxPrice: system.Credits(r.MaxPrice.Micros())}
	}
	return c
}

// openMarketMirror opens (creating it if need be) the key-value bucket
// market_state on the node's server and returns the mirror of view into
// it. Only a running economy calls it: read-only commands create nothing.
func openMarketMirror(n *Node, view *markets.View) (*markets.Mirror, error) {
	if n.nc == nil {
		return nil, errors.New("market_state mirror: no NATS connection")
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket, err := natslog.NewStore(ctx, js, natslog.StoreOptions{Bucket: markets.BucketName, Replicas: n.cfg.Nats.Replicas})
	if err != nil {
		return nil, fmt.Errorf("open the bucket %s: %w", markets.BucketName, err)
	}
	return markets.NewMirror(view, bucket, n.logger)
}
