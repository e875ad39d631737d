package system

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/actors/executor/ticket"
)

// caller is who makes a call: the ticket its token names, and the token
// itself (to meter inference against).
type caller struct {
	token  string
	ticket ticket.Ticket
}

// call is the Caller part of the calls the handlers make.
func (c caller) call() Caller { return Caller{Token: c.token} }

type callerKey struct{}

// callerOf returns the caller the authentication middleware put in ctx.
// Every operation runs behind that middleware, so it is always there.
func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// bearerScheme names the security scheme in the OpenAPI document.
const bearerScheme = "agoraToken"

// authenticate is the middleware in front of every operation: the bearer
// token must name a live execution (SPEC.md 1.4). It runs before the body
// is read, so an unauthenticated call costs nothing.
func authenticate(api huma.API, tickets Tickets, now func() time.Time) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		token, err := bearer(ctx.Header("Authorization"))
		var t ticket.Ticket
		if err == nil {
			t, err = tickets.Lookup(token, now())
		}
		if err != nil {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="agora"`)
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, unauthorized(err))
			return
		}
		next(huma.WithValue(ctx, callerKey{}, caller{token: token, ticket: t}))
	}
}

var errNoBearer = errors.New("no bearer token: send Authorization: Bearer <AGORA_TOKEN>")

func bearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errNoBearer
	}
	return strings.TrimSpace(token), nil
}

// unauthorized words the detail of a 401. The token is never echoed.
func unauthorized(err error) string {
	switch {
	case errors.Is(err, errNoBearer):
		return err.Error()
	case errors.Is(err, ticket.ErrExpired):
		return "the token's execution is past its deadline: " + err.Error()
	case errors.Is(err, ticket.ErrRevoked):
		return "the token's execution has ended: " + err.Error()
	default:
		return "the bearer token is not the token of a running execution"
	}
}
