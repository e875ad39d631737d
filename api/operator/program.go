package operator

import (
	"fmt"
	"maps"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/api/program"
)

// The checks of a new agent that the schema cannot state: each file's
// path and size, the command's bytes, the first bid's bundle and its
// amount against the grant. They run with huma's own validation, so one
// answer lists every bad field, and before the handler: nothing is
// created from a request with any of them.

// Resolve reports what is wrong with the new agent, each problem at its
// field's location.
func (b *CreateAgentBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	var errs []error
	// Locations are joined by hand: a file's path may hold the '.' and
	// '[' that the PathBuffer would pop at.
	base := prefix.String()
	add := func(location string, value any, format string, args ...any) {
		errs = append(errs, &huma.ErrorDetail{Location: base + "." + location, Message: fmt.Sprintf(format, args...), Value: value})
	}
	// The program's rules are the System Service's for a spawn too
	// (api/program).
	for _, p := range program.Check(b.Files, b.Command) {
		add(p.Location, p.Value, "%s", p.Message)
	}
	b.checkBid(add)
	return errs
}

// reporter records a problem at a location under the body.
type reporter func(location string, value any, format string, args ...any)

// checkBid checks the first bid's bundle (the rules of clearing.Validate
// that do not depend on the book) and that the grant can pay for it: the
// bid is placed from the new account, whose only credits are its grant.
func (b *CreateAgentBody) checkBid(add reporter) {
	bid := b.InitialBid
	if bid == nil {
		return
	}
	for _, p := range program.CheckBundle("initial_bid", slices.Collect(maps.Keys(bid.Resources))) {
		add(p.Location, p.Value, "%s", p.Message)
	}
	grant, amount := b.Grant.Micros(), bid.Amount.Micros()
	if grant > 0 && amount > grant {
		add("initial_bid.amount", nil, "%s is above the grant of %s: the first bid is placed from the grant", amount, grant)
	}
}
