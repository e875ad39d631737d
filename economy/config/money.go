package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agora-econ/agora/events"
	"gopkg.in/yaml.v3"
)

// Credits is an amount of money in the configuration, held as exact
// micro-credits (the same scale as events.Micros). In YAML it is a plain
// number of credits with at most six decimals: 1000, 0.1, 1e3. It is never
// negative and never above 1e12 credits.
type Credits events.Micros

// Micros is the amount as events.Micros.
func (c Credits) Micros() events.Micros { return events.Micros(c) }

// String formats the amount as a number of credits: 1000, 0.1.
func (c Credits) String() string { return events.Micros(c).String() }

// UnmarshalYAML reads a YAML number of credits exactly from its literal text,
// never through float64. Strings, NaN, infinities, negatives, more than six
// decimals and values above 1e12 are rejected.
func (c *Credits) UnmarshalYAML(n *yaml.Node) error { return decodeNumber(n, "credits", c) }

// MarshalYAML writes the amount as a plain YAML number of credits.
func (c Credits) MarshalYAML() (any, error) { return numberNode(events.Micros(c)), nil }

// MicroUnitsPerUnit is the scale of Units: a quantity of a resource is exact
// to six decimals, like money.
const MicroUnitsPerUnit = events.MicrosPerCredit

// Units is a quantity of a resource (cpu seconds, megabytes, tokens,
// prompts), held as exact micro-units. In YAML it is a plain number with at
// most six decimals: 100, 0.5. It is never negative and never above 1e12.
type Units int64

// WholeUnits converts a whole number of units to Units.
func WholeUnits(n int64) Units { return Units(n * MicroUnitsPerUnit) }

// String formats the quantity as a decimal number: 100, 0.5.
func (u Units) String() string { return events.Micros(u).String() }

// UnmarshalYAML reads a YAML number of units exactly from its literal text.
func (u *Units) UnmarshalYAML(n *yaml.Node) error { return decodeNumber(n, "units", u) }

// MarshalYAML writes the quantity as a plain YAML number.
func (u Units) MarshalYAML() (any, error) { return numberNode(events.Micros(u)), nil }

// decodeNumber sets *v, credits or units (both exact to six decimals), to
// the number parseNumber reads from n; on error *v is unchanged.
func decodeNumber[T Credits | Units](n *yaml.Node, what string, v *T) error {
	m, err := parseNumber(n, what)
	if err != nil {
		return err
	}
	*v = T(m)
	return nil
}

// parseNumber reads a non-negative decimal with at most six decimals from a
// YAML scalar's literal text. what names the unit in error messages.
func parseNumber(n *yaml.Node, what string) (events.Micros, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Errorf("expected a number of %s, found %s", what, kindName(n))
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
	case "!!null":
		return 0, fmt.Errorf("expected a number of %s, found no value", what)
	default:
		return 0, fmt.Errorf("%q is not a number of %s", n.Value, what)
	}
	s := strings.ReplaceAll(n.Value, "_", "") // YAML allows 1_000
	low := strings.ToLower(s)
	if strings.Contains(low, "inf") || strings.Contains(low, "nan") {
		return 0, fmt.Errorf("%q is not a finite number of %s", n.Value, what)
	}
	m, err := events.ParseCredits(s)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), events.ErrInvalidAmount.Error()+": ")
		switch {
		case strings.Contains(msg, "more than 6 decimals"):
			return 0, fmt.Errorf("%q has more than 6 decimals", n.Value)
		case strings.Contains(msg, "above the maximum"):
			return 0, fmt.Errorf("%q is above the maximum of %d %s", n.Value, int64(events.AmountMaxCredits), what)
		case errors.Is(err, events.ErrInvalidAmount):
			return 0, fmt.Errorf("%q is not a number of %s", n.Value, what)
		}
		return 0, err
	}
	if m < 0 {
		return 0, fmt.Errorf("%q is negative", n.Value)
	}
	return m, nil
}

// numberNode is a plain YAML scalar for an exact six-decimal number.
func numberNode(m events.Micros) *yaml.Node {
	s := m.String()
	tag := "!!int"
	if strings.Contains(s, ".") {
		tag = "!!float"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "no value"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func credits(whole, micros int64) Credits {
	return Credits(whole*events.MicrosPerCredit + micros)
}

func units(whole int64) Units { return WholeUnits(whole) }
