// Package operator is the operator API of SPEC.md 3.3: the HTTP/JSON API
// of the person who runs the economy (the human's terminal, the one-shot
// commands of cmd/agora, a Prometheus server). Every call is authenticated
// by the operator token (LoadOrCreateToken), compared in constant time;
// the agents' execution tokens never pass.
//
// It serves the agent directory (GET /admin/agents, GET
// /admin/agents/{id}) from the directory read model, introduces new agents
// into a running economy (POST /admin/agents) through the Creator port,
// funds, bids for and kills existing ones (POST /admin/agents/{id}/fund,
// /bids, /kill) through the Accounts and Book ports, and exposes the economy's figures to Prometheus (GET /metrics). Like
// the System Service it is built with huma: OpenAPI 3.1 at
// /admin/openapi.json, input validation from the types below, and RFC 9457
// problem+json errors whose detail names the bad field. docs/api.md is
// the reference.
//
// New returns a plain http.Handler. Its paths (/admin/..., /metrics) do
// not meet the System Service's, so package economy serves both on one
// listener; the executor never binds this one into a sandbox.
package operator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/agora-econ/agora/api/problem"
)

// Version is the version of the API in its OpenAPI document.
const Version = "1.0.0"

// OpenAPIPath is where the OpenAPI document is served (with ".json" or
// ".yaml"); /openapi.json is the System Service's.
const OpenAPIPath = "/admin/openapi"

// Options tune the API.
type Options struct {
	// Token is the operator token (LoadOrCreateToken); required.
	Token string
	// Logger receives the errors callers are not shown; default
	// slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Token == "" {
		return o, fmt.Errorf("%w: no operator token", ErrInvalidOptions)
	}
	if err := ValidateToken(o.Token); err != nil {
		return o, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// service holds what the handlers share.
type service struct {
	deps Deps
	opts Options
	problem.Mapper
}

// New builds the operator API. It refuses a missing dependency
// (ErrNilDependency) and a missing or malformed token
// (ErrInvalidOptions). The handler serves every route and the OpenAPI
// document; the huma.API is returned for documentation tools and tests.
func New(deps Deps, opts Options) (http.Handler, huma.API, error) {
	if err := deps.check(); err != nil {
		return nil, nil, err
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	s := &service{deps: deps, opts: opts, Mapper: newMapper(opts.Logger)}
	mux := http.NewServeMux()
	api := humago.New(mux, apiConfig())
	api.UseMiddleware(authenticate(api, opts.Token))
	s.registerAgents(api)
	s.registerPowers(api)
	s.registerStatus(api)
	s.registerSkipped(api)
	s.registerAttention(api)
	s.registerHistory(api)
	s.registerViews(api)
	s.registerSeries(api)
	if err := s.registerMetrics(api); err != nil {
		return nil, nil, err
	}
	return problem.Bodies(problem.Unrouted(mux, OpenAPIPath+".json")), api, nil
}

// Beside serves the operator API (admin, from New) and another handler
// (the System Service) on one listener: the operator's paths (/admin,
// /admin/..., /metrics) to admin, every other path to rest. It routes by
// prefix rather than through an http.ServeMux, which would redirect a path
// that is not clean ("/admin/agents/.") to its clean form, and so to
// another route, before either API could refuse it.
func Beside(admin, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/admin" || strings.HasPrefix(p, "/admin/") || p == "/metrics" || humanPath(p) {
			admin.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// humanPath reports whether p is one of the human's routes that SPEC.md
// 3.3 puts outside /admin: GET /attention/active, POST
// /attention/prompt/{id}/response (and /skip), GET /attention/responses.
// The System Service's own /attention/* routes are every other path;
// the operator's view of the queue is /admin/attention/queue.
func humanPath(p string) bool {
	if p == "/attention/active" || p == "/attention/responses" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/attention/prompt/")
	return ok && (strings.HasSuffix(rest, "/response") || strings.HasSuffix(rest, "/skip"))
}

func apiConfig() huma.Config {
	c := huma.DefaultConfig("Agora operator API", Version)
	c.Info.Description = "The API of the economy's operator: the agent directory, new agents, metrics. " +
		"Every call carries Authorization: Bearer <operator token>. Money is a JSON number of credits with at most 6 decimals."
	c.OpenAPIPath = OpenAPIPath
	c.DocsPath = ""    // the docs page loads scripts from the web
	c.SchemasPath = "" // the schemas are in the OpenAPI document
	c.CreateHooks = nil
	c.Transformers = []huma.Transformer{problem.Detailed}
	c.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", Description: "The operator token: <data>/operator.token, or the configured one."},
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

// settle waits, boundedly, until the read models include the caller's
// write, so that a read right after it sees it. The write is durable
// whatever happens here, so a slow read model only delays the answer.
func (s *service) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, ReadYourWritesTimeout)
	defer cancel()
	if err := s.deps.Freshness.Sync(ctx); err != nil {
		s.opts.Logger.Warn("operator API: read models behind a write", "err", err)
	}
}
