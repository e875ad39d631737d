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
// the time it was placed and its id, base64url-encoded. The next page
// starts strictly after that key, so it neither repeats nor skips a bid
// that stays in the book, whatever bids are placed or leave meanwhile; a
// bid that is raised past the cursor meanwhile is not seen again, as in any
// keyset pagination. The bid itself need not be in the book any more.
const cursorVersion = "1"

// Cursor returns the cursor that starts the page after b.
func Cursor(b Bid) string {
	raw := strings.Join([]string{cursorVersion, strconv.FormatInt(int64(b.AmountMicros), 10),
		b.PlacedAt.UTC().Format(time.RFC3339Nano), b.ID}, "|")
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
	if len(parts) != 4 || parts[0] != cursorVersion {
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
	return Bid{ID: parts[3], AmountMicros: events.Micros(amount), PlacedAt: at}, nil
}
