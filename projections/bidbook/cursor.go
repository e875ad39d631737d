package bidbook

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/agora-econ/agora/events"
)

// A cursor is the clearing-order key of the last bid of a page: its amount,
// the time it was placed, its id and its pool, base64url-encoded. The next page
// starts strictly after that key, so it neither repeats nor skips a bid
// that stays in the book, whatever bids are placed or leave meanwhile; a
// bid that is raised past the cursor meanwhile is not seen again, as in any
// keyset pagination. The bid itself need not be in the book any more. A
// cursor without a pool (given before the book kept one book per pool) is
// past its key in every pool.
const cursorVersion = "1"

// Cursor returns the cursor that starts the page after b.
func Cursor(b Bid) string {
	raw := strings.Join([]string{cursorVersion, strconv.FormatInt(int64(b.AmountMicros), 10),
		b.PlacedAt.UTC().Format(time.RFC3339Nano), b.ID, b.Pool}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseCursor reads a cursor back into the key of its bid.
func parseCursor(c string) (Bid, error) {
	bad := func(why string) (Bid, error) {
		return Bid{}, fmt.Errorf("%w: %s", ErrInvalidCursor, why)
	}
	if len(c) > cursorLengthMax {
		return bad(fmt.Sprintf("longer than %d characters", cursorLengthMax))
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return bad("not a cursor this book gave")
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 4 && len(parts) != 5 || parts[0] != cursorVersion {
		return bad("not a cursor this book gave")
	}
	amount, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return bad("its amount is not a number")
	}
	at, err := time.Parse(time.RFC3339Nano, parts[2])
	if err != nil {
		return bad("its time is not a time")
	}
	if err := events.ValidateID(parts[3]); err != nil {
		return bad("its bid id is not an id")
	}
	// Pool names are ids, which sort before this byte.
	pool := "\xff"
	if len(parts) == 5 {
		if err := events.ValidateID(parts[4]); err != nil {
			return bad("its pool is not an id")
		}
		pool = parts[4]
	}
	return Bid{ID: parts[3], Pool: pool, AmountMicros: events.Micros(amount), PlacedAt: at}, nil
}
