// Package system is the System Service of SPEC.md 3.2: the HTTP/JSON API
// that agent programs call from inside their executions. Every call is
// authenticated by the execution's bearer token (actors/executor/ticket),
// which names the agent: no call takes the caller's own id.
//
// Commands go to the actors through their front doors (agent.Accounts,
// clearing.Service) with the caller's Idempotency-Key; reads come from the
// read models (projections/...), except the caller's own balance, which its
// account answers exactly. The API is built with huma: OpenAPI 3.1 at
// /openapi.json, input validation from the types below, and RFC 9457
// problem+json errors whose detail names the bad field. docs/api.md is the
// reference for agent authors.
//
// Every operation is a message (messages.go), a Call, answered by one
// function (service.answer) whichever way it comes: the HTTP handlers call
// it directly, and the service's actor (actor.go), the door of Go agents
// (SPEC.md 3.2), calls it for the messages it receives. Both doors share
// its validation, its rejections and its bound on the calls in flight.
// Service.Handler is a plain http.Handler, so the executor can serve it on
// the Unix socket it binds into each sandbox as well as on TCP.
package system

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/agora-econ/agora/api/problem"

	"github.com/agora-econ/agora/actors/agent"
)

// Version is the version of the API in its OpenAPI document.
const Version = "1.0.0"

// Options tune the service; the zero value serves with no inference
// upstream, the wall clock and the default logger.
type Options struct {
	// Config is what GET /system/config shows: the public configuration of
	// the economy, no secrets.
	Config PublicConfig
	// Inference is the upstream of POST /intelligence/inference.
	Inference Inference
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Logger receives the errors the agents are not shown; default
	// slog.Default().
	Logger *slog.Logger
	// Actors is the actor system the service's actor lives in: the
	// economy's own (runtime.Host.ActorSystem), so that Go agents in it
	// reach the service like any other actor. Nil: an actor system of the
	// service's own, shut down by Close.
	Actors *actor.ActorSystem
}

// Inference is the OpenAI-compatible upstream of POST
// /intelligence/inference.
type Inference struct {
	// URL is the upstream's base URL, up to and including its version
	// (https://api.openai.com/v1); the service posts to URL +
	// "/chat/completions". Empty: no upstream, inference answers 503.
	URL string
	// APIKey is sent as "Authorization: Bearer <APIKey>" when set.
	APIKey string
	// Model is used when a request names none.
	Model string
	// Timeout bounds one upstream call; 0 means InferenceTimeoutDefault.
	Timeout time.Duration
	// Client makes the upstream calls; nil means a client of its own.
	Client *http.Client
}

func (o Options) withDefaults() (Options, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	in := &o.Inference
	if in.URL != "" {
		u, err := url.Parse(in.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return o, fmt.Errorf("%w: inference URL %q is not an http(s) URL", ErrInvalidOptions, in.URL)
		}
	}
	switch {
	case in.Timeout < 0:
		return o, fmt.Errorf("%w: inference timeout %s is negative", ErrInvalidOptions, in.Timeout)
	case in.Timeout == 0:
		in.Timeout = InferenceTimeoutDefault
	}
	if in.Client == nil {
		in.Client = &http.Client{}
	}
	// What agents are told of inference follows what is served.
	o.Config.Inference = PublicInference{Available: in.URL != "", Model: in.Model}
	return o, nil
}

// service holds what the operations and the handlers share.
type service struct {
	deps      Deps
	opts      Options
	root      *actor.RootContext
	pid       *actor.PID
	admission *admission
	problem.Mapper
}

// Service is the System Service: the HTTP API and the actor, both over
// the same operations.
type Service struct {
	s       *service
	handler http.Handler
	api     huma.API
	own     *actor.ActorSystem // the actor system New made, if it made one
	calls   sync.WaitGroup
}

// New builds the System Service and spawns its actor. It refuses a missing
// dependency (ErrNilDependency) and unusable options (ErrInvalidOptions).
func New(deps Deps, opts Options) (*Service, error) {
	return newService(deps, opts, newAdmission(CallsInFlightMax, CallAdmissionTimeout))
}

// newService is New with the bound on the calls in flight given (tests
// fill a small one).
func newService(deps Deps, opts Options, adm *admission) (*Service, error) {
	if err := deps.check(); err != nil {
		return nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	svc := &Service{}
	if opts.Actors == nil {
		svc.own = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.DiscardHandler)
		}))
		opts.Actors = svc.own
	}
	s := &service{deps: deps, opts: opts, root: opts.Actors.Root, admission: adm, Mapper: newMapper(opts.Logger)}
	s.pid = s.root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &serviceActor{s: s, calls: &svc.calls}
	}))
	mux := http.NewServeMux()
	api := humago.New(mux, apiConfig())
	api.UseMiddleware(authenticate(api, deps.Tickets, opts.Now))
	s.registerEconomic(api)
	s.registerMarket(api)
	s.registerSocial(api)
	s.registerAttention(api)
	s.registerMessages(api)
	s.registerSpawn(api)
	s.registerInference(api)
	s.registerSystem(api)
	svc.s, svc.handler, svc.api = s, problem.Bodies(problem.Unrouted(mux, "/openapi.json")), api
	return svc, nil
}

// Handler serves every route of the HTTP API and /openapi.json.
func (svc *Service) Handler() http.Handler { return svc.handler }

// API is the huma API, for documentation tools and tests.
func (svc *Service) API() huma.API { return svc.api }

// PID is the service's actor: send it the calls of messages.go (Ask).
func (svc *Service) PID() *actor.PID { return svc.s.pid }

// Root is a root context of the actor system the service lives in, to
// Ask it from outside any actor.
func (svc *Service) Root() *actor.RootContext { return svc.s.root }

// Close stops the actor after the calls it is answering, and the actor
// system New made, if it made one. The HTTP calls in progress are the
// http.Server's to finish (Shutdown).
func (svc *Service) Close() {
	_ = svc.s.root.PoisonFuture(svc.s.pid).Wait()
	svc.calls.Wait()
	if svc.own != nil {
		svc.own.Shutdown()
	}
}

func apiConfig() huma.Config {
	c := huma.DefaultConfig("Agora System Service", Version)
	c.Info.Description = "The API agent programs call from inside their executions. " +
		"Every call carries Authorization: Bearer <AGORA_TOKEN>. Money is a JSON number of credits with at most 6 decimals."
	c.OpenAPIPath = "/openapi"
	c.DocsPath = ""    // the docs page loads scripts from the web, which sandboxes cannot reach
	c.SchemasPath = "" // the schemas are in /openapi.json
	c.CreateHooks = nil
	c.Transformers = []huma.Transformer{problem.Detailed}
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", Description: "AGORA_TOKEN, the secret of the running execution."},
	}
	c.Security = []map[string][]string{{bearerScheme: {}}}
	return c
}

// operation fills what every operation shares: the body limits and the
// statuses it may answer besides its own.
func operation(op huma.Operation, statuses ...int) huma.Operation {
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = BodyBytesMax
	}
	op.BodyReadTimeout = BodyReadTimeout
	op.Errors = append([]int{http.StatusUnauthorized, http.StatusUnprocessableEntity}, statuses...)
	return op
}

// knownAgent checks that an agent a caller names (a recipient, a
// beneficiary) was ever created, in the directory, before any actor is
// asked: asking an agent's actor starts it, and a caller naming random ids
// would fill the host with actors of agents that never were. An id the
// directory does not know yet is looked up again once the read models
// have caught up with the log, so an agent created a moment ago is found.
func (s *service) knownAgent(ctx context.Context, id string) error {
	if id == "" || s.deps.Directory.Exists(id) {
		return nil
	}
	if err := s.deps.Freshness.Sync(ctx); err != nil {
		return err
	}
	if !s.deps.Directory.Exists(id) {
		return fmt.Errorf("%w: %s", agent.ErrUnknownAgent, id)
	}
	return nil
}

// settle waits, boundedly, until the read models include the caller's
// write, so that a read right after it sees it. The write is durable
// whatever happens here, so a slow read model only delays the answer.
func (s *service) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, ReadYourWritesTimeout)
	defer cancel()
	if err := s.deps.Freshness.Sync(ctx); err != nil {
		s.opts.Logger.Warn("system service: read models behind a write", "err", err)
	}
}
