package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/agora-econ/agora/events"
)

// A client helper: the bid of the command line (`agora agent add --bid`,
// `agora agent bid ID`) as one string, read exactly.

// BidSpec is a bid as the command line gives it: resource units and the
// amount offered, exact.
type BidSpec struct {
	Resources    map[string]events.Units
	AmountMicros events.Micros
	Payload      string
}

// BidSpecAmount is the key of a bid spec that holds the amount offered;
// every other key is a resource.
const BidSpecAmount = "amount"

// ErrInvalidBidSpec is returned by ParseBidSpec for a spec it cannot read.
var ErrInvalidBidSpec = errors.New("invalid bid")

// ParseBidSpec reads "cpu_seconds=1,memory_mb=64,tokens=500,amount=20":
// comma-separated name=number pairs, where amount is the credits offered
// and every other name a resource's units, each a decimal number with at
// most 6 decimals. Each name appears once; amount is required; the
// bundle's own rules (cpu_seconds and memory_mb named, no attention, the
// reserve price) are the book's to check.
func ParseBidSpec(spec string) (BidSpec, error) {
	b := BidSpec{Resources: map[string]events.Units{}}
	amount := false
	if strings.TrimSpace(spec) == "" {
		return b, fmt.Errorf("%w: empty; e.g. cpu_seconds=1,memory_mb=64,amount=20", ErrInvalidBidSpec)
	}
	for _, pair := range strings.Split(spec, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || value == "" {
			return b, fmt.Errorf("%w: %q is not name=number (e.g. cpu_seconds=1,memory_mb=64,amount=20)", ErrInvalidBidSpec, pair)
		}
		n, err := events.ParseCredits(value)
		if err != nil {
			return b, fmt.Errorf("%w: %s: %w", ErrInvalidBidSpec, name, err)
		}
		if n <= 0 {
			return b, fmt.Errorf("%w: %s=%s: must be positive", ErrInvalidBidSpec, name, value)
		}
		if name == BidSpecAmount {
			if amount {
				return b, fmt.Errorf("%w: amount given twice", ErrInvalidBidSpec)
			}
			b.AmountMicros, amount = n, true
			continue
		}
		if err := events.ValidateID(name); err != nil {
			return b, fmt.Errorf("%w: %q is not a resource name (a-z, 0-9, '_' and '-')", ErrInvalidBidSpec, name)
		}
		if _, dup := b.Resources[name]; dup {
			return b, fmt.Errorf("%w: %s given twice", ErrInvalidBidSpec, name)
		}
		b.Resources[name] = events.Units(n)
	}
	if !amount {
		return b, fmt.Errorf("%w: no amount; add amount=<credits offered>", ErrInvalidBidSpec)
	}
	if len(b.Resources) == 0 {
		return b, fmt.Errorf("%w: no resource; e.g. cpu_seconds=1,memory_mb=64", ErrInvalidBidSpec)
	}
	return b, nil
}

// Body is the bid as the API takes it (POST /admin/agents/{id}/bids, or
// initial_bid of POST /admin/agents): numbers written exactly.
func (b BidSpec) Body() map[string]any {
	res := make(map[string]any, len(b.Resources))
	for _, name := range slices.Sorted(maps.Keys(b.Resources)) {
		res[name] = json.Number(b.Resources[name].String())
	}
	body := map[string]any{"resources": res, "amount": json.Number(b.AmountMicros.String())}
	if b.Payload != "" {
		body["payload"] = b.Payload
	}
	return body
}

// jsonStrings decodes a JSON array of strings, refusing anything else.
func jsonStrings(s string, out *[]string) error {
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return err
	}
	args := make([]string, len(raw))
	for i, r := range raw {
		if len(r) == 0 || r[0] != '"' {
			return fmt.Errorf("element %d is %s, not a string", i, r)
		}
		if err := json.Unmarshal(r, &args[i]); err != nil {
			return err
		}
	}
	*out = args
	return nil
}
