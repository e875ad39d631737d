package system

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/agora-econ/agora/events"
)

// Money and quantities travel as JSON numbers with at most six decimals
// (SPEC.md 1.1) and are held as exact integers: decoding reads the number's
// text with events.ParseCredits, never through float64.

// Credits is an amount of credits in an answer: a JSON number, exact.
type Credits events.Micros

// MarshalJSON writes the amount as a decimal JSON number.
func (c Credits) MarshalJSON() ([]byte, error) { return events.CreditsJSON(c).MarshalJSON() }

// UnmarshalJSON reads an answer's amount back exactly (Go clients, the
// command line).
func (c *Credits) UnmarshalJSON(b []byte) error {
	m, err := events.ParseCredits(string(b))
	if err != nil {
		return err
	}
	*c = Credits(m)
	return nil
}

// String writes the amount as a decimal number of credits.
func (c Credits) String() string { return events.Micros(c).String() }

// Schema documents Credits in the OpenAPI document.
func (Credits) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeNumber, Description: "Credits: a decimal number with at most 6 decimals."}
}

// Units is a quantity of a resource in an answer: a JSON number, exact.
type Units events.Units

// MarshalJSON writes the quantity as a decimal JSON number.
func (u Units) MarshalJSON() ([]byte, error) { return events.CreditsJSON(u).MarshalJSON() }

// UnmarshalJSON reads an answer's quantity back exactly.
func (u *Units) UnmarshalJSON(b []byte) error {
	n, err := events.ParseUnits(string(b))
	if err != nil {
		return err
	}
	*u = Units(n)
	return nil
}

// String writes the quantity as a decimal number of units.
func (u Units) String() string { return events.Units(u).String() }

// Schema documents Units in the OpenAPI document.
func (Units) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeNumber, Description: "Units of a resource: a decimal number with at most 6 decimals."}
}

// decimal is a positive number in a request, read exactly. Its JSON text is
// kept until Resolve, which knows the field's path: the problem then says
// which field is wrong ("body.resources.cpu_seconds: ...") instead of
// "body: ...". Signs and bounds the schema states are checked by huma
// before; what a float64 cannot see (a seventh decimal, 1e12 plus a
// micro-credit) is checked here.
type decimal struct {
	micros  events.Micros
	text    string
	numeric bool // text is a JSON number (ParseCredits read its digits)
	err     error
}

// UnmarshalJSON keeps the number's text and parses it exactly. A value that
// is not a number was already refused by the schema; it is recorded too, so
// that nothing but a valid number ever reaches a handler.
func (d *decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	d.text = string(b)
	m, err := events.ParseCredits(d.text)
	d.numeric = err == nil || !strings.Contains(err.Error(), "is not a number")
	switch {
	case err == nil && m <= 0:
		d.err = errors.New("must be greater than 0")
	case err == nil:
		d.micros = m
	case strings.Contains(err.Error(), "more than 6 decimals"):
		d.err = errors.New("has more than 6 decimals")
	case strings.Contains(err.Error(), "above the maximum"):
		d.err = fmt.Errorf("is above the maximum of %d", int64(events.AmountMaxCredits))
	default:
		d.err = errors.New("is not a number")
	}
	return nil
}

// problem is the path-located rejection of d, if any.
func (d *decimal) problem(prefix *huma.PathBuffer) []error {
	if d.err == nil {
		return nil
	}
	// A number is echoed as the number it was, not as a string.
	var value any = d.text
	if d.numeric {
		value = json.Number(d.text)
	}
	return []error{&huma.ErrorDetail{Location: prefix.String(), Message: d.err.Error(), Value: value}}
}

// Amount is a positive amount of credits in a request.
type Amount struct{ decimal }

// Micros is the amount in micro-credits.
func (a Amount) Micros() events.Micros { return a.micros }

// Resolve reports an amount that is not exact to the micro-credit.
func (a *Amount) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return a.problem(prefix)
}

// Schema documents Amount in the OpenAPI document.
func (Amount) Schema(huma.Registry) *huma.Schema { return positiveSchema("Credits") }

// Quantity is a positive quantity of a resource in a request.
type Quantity struct{ decimal }

// Units is the quantity in micro-units.
func (q Quantity) Units() events.Units { return events.Units(q.micros) }

// Resolve reports a quantity that is not exact to the micro-unit.
func (q *Quantity) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return q.problem(prefix)
}

// Schema documents Quantity in the OpenAPI document.
func (Quantity) Schema(huma.Registry) *huma.Schema { return positiveSchema("Units of a resource") }

func positiveSchema(what string) *huma.Schema {
	zero, maxCredits := 0.0, float64(events.AmountMaxCredits)
	return &huma.Schema{Type: huma.TypeNumber, ExclusiveMinimum: &zero, Maximum: &maxCredits,
		Description: what + ": a positive decimal number with at most 6 decimals, at most 1e12."}
}
