package economy

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/agora-econ/agora/api/operator"
	"github.com/agora-econ/agora/api/system"
	"github.com/agora-econ/agora/front/web"
)

// ErrStopped is Serve's answer when the economy was stopped (its context
// ended) while it was starting: nothing failed.
var ErrStopped = errors.New("stopped while starting")

// Serving is what Serve started.
type Serving struct {
	// Addr is where the HTTP APIs listen (server.listen).
	Addr net.Addr
	// TokenPath is the file that holds the operator token; "" when the
	// configuration gives the token (server.operator_token).
	TokenPath string
}

// Serve starts what `agora run` adds to an economy whose actors have
// recovered: the workspaces and the sandbox; on a fresh log genesis (unless
// economy.genesis is false) and the markets, then genesis's first bid; the
// System Service on the socket the sandboxes see; the executor, which first
// runs again what a stop or a crash cut short; the clearing schedule; and
// both HTTP APIs on server.listen, the operator's behind its token. All of
// it stops with Stop.
func (e *Economy) Serve(ctx context.Context) (Serving, error) {
	cfg, logger := e.node.cfg, e.node.logger
	x, err := openExecutions(cfg.Data.Dir, logger)
	if err != nil {
		return Serving{}, err
	}
	e.executions = x
	// Left to workers, the executions' workspaces go to the store as they
	// are created, genesis's first among them.
	var svc *system.Service
	if cfg.Execution.Workers {
		svc, err = e.systemService(x.tickets, newSpawner(e, x.workspaces), logger)
		if err != nil {
			return Serving{}, err
		}
		if x.runner, err = x.leaveToWorkers(ctx, e, svc.Handler()); err != nil {
			return Serving{}, err
		}
	}
	// Genesis first: on a fresh log it is event 1, the economy's origin.
	// Without it (economy.genesis: false) the economy starts with no
	// agent, and the operator adds them (agora agent add).
	genesis := cfg.Economy.Genesis
	if genesis {
		if err := x.createGenesis(ctx, e, logger); err != nil {
			return Serving{}, err
		}
	} else {
		logger.Info("economy.genesis is false: no genesis agent is created; add agents with agora agent add")
	}
	if err := e.ConfigureMarkets(ctx); err != nil {
		return Serving{}, fmt.Errorf("configure markets: %w", err)
	}
	if genesis {
		if err := x.placeGenesisFirstBid(ctx, e, logger); err != nil {
			return Serving{}, err
		}
	}
	if svc == nil {
		if svc, err = e.systemService(x.tickets, newSpawner(e, x.workspaces), logger); err != nil {
			return Serving{}, err
		}
	}
	if err := x.serveSocket(e, svc.Handler()); err != nil {
		return Serving{}, err
	}
	e.system = svc.Handler()
	ex, err := x.executor(e, logger)
	if err != nil {
		return Serving{}, err
	}
	// What a stop or a crash left running runs again: its lease is renewed
	// before the schedule's first cycle could find it timed out over the
	// time the economy was down. Then the executor runs those again first,
	// and what the cycles allocate.
	if err := ex.Recover(ctx); err != nil {
		if ctx.Err() != nil {
			return Serving{}, ErrStopped
		}
		return Serving{}, err
	}
	// The schedule has a context of its own: a clean stop ends it first,
	// then lets the managers finish what the log obliges them to (Stop).
	schedule, stopSchedule := context.WithCancel(e.ctx)
	e.stopSchedule = stopSchedule
	e.background(schedule, "clearing schedule", e.Scheduler().Run)
	e.executor = ex
	e.follower.Add(ex)
	token, tokenPath, err := operator.LoadOrCreateToken(cfg.Data.Dir, cfg.Server.OperatorToken)
	if err != nil {
		return Serving{}, err
	}
	op, err := e.operatorAPI(creator{eco: e, workspaces: x.workspaces}, token, logger)
	if err != nil {
		return Serving{}, err
	}
	// The web dashboard, at / and /ui/, beside both APIs.
	dash, err := e.dashboard(op, token, x.workspaces, logger)
	if err != nil {
		return Serving{}, err
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return Serving{}, fmt.Errorf("server.listen: %w", err)
	}
	e.serveHTTP("http server", ln, web.Beside(dash, apis(svc.Handler(), op)))
	return Serving{Addr: ln.Addr(), TokenPath: tokenPath}, nil
}
