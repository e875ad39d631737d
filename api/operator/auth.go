package operator

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// bearerScheme names the security scheme in the OpenAPI document.
const bearerScheme = "operatorToken"

// authenticate is the middleware in front of every operation: the bearer
// token must be the operator token. Any other token is refused, the
// agents' execution tokens first among them (SPEC.md 3.3): this API mints
// credits. It runs before the body is read, so an unauthenticated call
// costs nothing.
//
// The comparison is of SHA-256 digests in constant time, so that neither
// the token's content nor its length shows in the time an answer takes.
func authenticate(api huma.API, token string) func(huma.Context, func(huma.Context)) {
	want := sha256.Sum256([]byte(token))
	return func(ctx huma.Context, next func(huma.Context)) {
		got, err := bearer(ctx.Header("Authorization"))
		if err == nil {
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				err = errNotOperator
			}
		}
		if err != nil {
			ctx.SetHeader("WWW-Authenticate", `Bearer realm="agora-operator"`)
			_ = huma.WriteErr(api, ctx, http.StatusUnauthorized, err.Error())
			return
		}
		next(ctx)
	}
}

var (
	errNoBearer    = errors.New("no bearer token: send Authorization: Bearer <operator token> (the data directory's operator.token, or the configured one)")
	errNotOperator = errors.New("the bearer token is not the operator token")
)

func bearer(header string) (string, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", errNoBearer
	}
	return strings.TrimSpace(token), nil
}
