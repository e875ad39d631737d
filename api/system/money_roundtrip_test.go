package system_test

import (
	"encoding/json"
	"testing"

	"github.com/agora-econ/agora/api/system"
)

// Answers read back exactly: what a Go client or the command line decodes
// is the amount the service wrote, to the micro-credit.
func TestCreditsAndUnitsRoundTrip(t *testing.T) {
	for _, m := range []int64{0, 1, 985_348_000, 1_000_000_000_000_000_000, 123_456_789} {
		b, err := json.Marshal(system.Credits(m))
		if err != nil {
			t.Fatal(err)
		}
		var c system.Credits
		if err := json.Unmarshal(b, &c); err != nil || int64(c) != m {
			t.Fatalf("credits %d -> %s -> %d, %v", m, b, c, err)
		}
		b, _ = json.Marshal(system.Units(m))
		var u system.Units
		if err := json.Unmarshal(b, &u); err != nil || int64(u) != m {
			t.Fatalf("units %d -> %s -> %d, %v", m, b, u, err)
		}
	}
	var c system.Credits
	for _, bad := range []string{`"12"`, `1.0000001`, `null`, `1e13`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s read as %d", bad, c)
		}
	}
}
