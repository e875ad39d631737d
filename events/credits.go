package events

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Micros is an amount of credits in micro-credits (1 credit = 1,000,000
// micros). Money is never a float inside Agora: floats cannot represent 0.1
// exactly, and conservation is checked to the micro-credit.
type Micros int64

// MicrosPerCredit is the scale of Micros: six decimal places.
const MicrosPerCredit = 1_000_000

// AmountMaxCredits is the largest amount any single command may carry,
// 1e12 credits (SPEC.md 1.1), and the largest balance an account may hold:
// a transfer that would take a balance past it bounces. int64 micros hold
// about 9.2e12 credits, so the economy as a whole must stay below that.
const AmountMaxCredits = 1_000_000_000_000

// AmountMax is AmountMaxCredits in micros.
const AmountMax Micros = AmountMaxCredits * MicrosPerCredit

// ValidatePositive checks a command amount: strictly positive, at most
// AmountMax.
func ValidatePositive(m Micros) error {
	if m <= 0 {
		return fmt.Errorf("%w: %s is not positive", ErrInvalidAmount, m)
	}
	if m > AmountMax {
		return fmt.Errorf("%w: %s is above the maximum of %d credits", ErrInvalidAmount, m, AmountMaxCredits)
	}
	return nil
}

// ParseCredits reads a decimal number of credits ("12", "0.000001", "1e3")
// exactly. It refuses more than six decimals, NaN, infinities and anything
// above AmountMax in magnitude; it accepts zero and negatives, which the
// caller rejects where a positive amount is required.
func ParseCredits(s string) (Micros, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrInvalidAmount)
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 30 || e < -30 {
			return 0, fmt.Errorf("%w: %q is not a number of credits", ErrInvalidAmount, s)
		}
		mant, exp = s[:i], e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !digits(intPart) || !digits(frac) {
		return 0, fmt.Errorf("%w: %q is not a number of credits", ErrInvalidAmount, s)
	}
	// The value is the digit string times 10^-decimals.
	all := strings.TrimLeft(intPart+frac, "0")
	decimals := len(frac) - exp
	if all == "" {
		return 0, nil
	}
	for ; decimals < 0; decimals++ {
		all += "0"
	}
	// Trailing zeros after the point do not add precision.
	for decimals > 0 && strings.HasSuffix(all, "0") {
		all, decimals = all[:len(all)-1], decimals-1
	}
	if decimals > 6 {
		return 0, fmt.Errorf("%w: %q has more than 6 decimals", ErrInvalidAmount, s)
	}
	for decimals < 6 {
		all, decimals = all+"0", decimals+1
	}
	if len(all) > 19 {
		return 0, fmt.Errorf("%w: %q is above the maximum of %d credits", ErrInvalidAmount, s, AmountMaxCredits)
	}
	v, err := strconv.ParseInt(all, 10, 64)
	if err != nil || Micros(v) > AmountMax {
		return 0, fmt.Errorf("%w: %q is above the maximum of %d credits", ErrInvalidAmount, s, AmountMaxCredits)
	}
	if neg {
		v = -v
	}
	return Micros(v), nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Credits converts a whole number of credits to micros, for defaults and tests.
func Credits(c int64) Micros { return Micros(c * MicrosPerCredit) }

// String formats micros as a decimal number of credits without trailing
// zeros: 12, 0.5, 0.000001.
func (m Micros) String() string {
	if m == math.MinInt64 {
		return "-9223372036854.775808"
	}
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	whole, frac := int64(m)/MicrosPerCredit, int64(m)%MicrosPerCredit
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	return sign + strconv.FormatInt(whole, 10) + "." + f
}

// CreditsJSON is an amount that travels in the external API as a JSON number
// of credits (12.5) and is held as exact micros. Decoding never passes
// through float64.
type CreditsJSON Micros

// MarshalJSON writes the amount as a JSON number with at most six decimals.
func (c CreditsJSON) MarshalJSON() ([]byte, error) { return []byte(Micros(c).String()), nil }

// UnmarshalJSON reads a JSON number exactly; strings, NaN and more than six
// decimals are rejected.
func (c *CreditsJSON) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("%w: %s is not a JSON number", ErrInvalidAmount, b)
	}
	if len(b) > 0 && b[0] == '"' {
		return fmt.Errorf("%w: %s is a string, not a JSON number", ErrInvalidAmount, b)
	}
	m, err := ParseCredits(n.String())
	if err != nil {
		return err
	}
	*c = CreditsJSON(m)
	return nil
}

// Units is a quantity of a resource in micro-units (1 unit = 1,000,000):
// bundles may ask for 0.5 cpu_seconds, and supply is a hard limit checked
// exactly.
type Units int64

// MicroUnitsPerUnit is the scale of Units.
const MicroUnitsPerUnit = 1_000_000

// WholeUnits converts a whole number of units.
func WholeUnits(n int64) Units { return Units(n * MicroUnitsPerUnit) }

// ParseUnits reads a decimal quantity exactly, with the rules of
// ParseCredits.
func ParseUnits(s string) (Units, error) {
	m, err := ParseCredits(s)
	return Units(m), err
}

// String formats units as a decimal number.
func (u Units) String() string { return Micros(u).String() }

// Cost is the price of units at priceMicros per unit, rounded up to the
// micro-credit so that a reserve price is never undercut by rounding. ok is
// false when the cost exceeds AmountMax.
func Cost(u Units, priceMicros Micros) (Micros, bool) {
	if u < 0 || priceMicros < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(u), uint64(priceMicros))
	if hi >= MicroUnitsPerUnit {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, MicroUnitsPerUnit)
	if r != 0 {
		q++
	}
	if q > uint64(AmountMax) {
		return 0, false
	}
	return Micros(q), true
}
