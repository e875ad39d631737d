package events_test

import (
	"os"
	"strings"
	"testing"

	"github.com/agora-econ/agora/events"
)

// TestEveryEventIsDocumented keeps docs/events.md complete: a new event type
// must be described there with an example payload.
func TestEveryEventIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range events.Types() {
		if !strings.Contains(string(doc), "| `"+typ+"` |") {
			t.Errorf("docs/events.md does not describe event type %q", typ)
		}
	}
}
